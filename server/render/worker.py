"""The render worker: turns the latent trajectory into cues, ahead of time.

Every beat is a *slot*. The worker looks at the slots starting within
:meth:`RenderWorker.lead` seconds of the playhead, asks the trajectory where the
latent will be at each, renders the slots whose point or tempo differ from
the slot before in one batch, and publishes them to the :class:`Player` as
cues. A point that does not move costs nothing after its first render.

An external clock (MIDI, Link) that only moves the bar lines costs no
render: a queued loop that still sounds right is cued again where the new
grid puts its bar.

A change invalidates what is queued from the beat where it lands. A change
that lands between beats (quantise 0, or a time-tagged OSC bundle) gets a
cue of its own at that exact beat, rendered before anything else and with
only :data:`DRAFT_ITERATIONS` Griffin-Lim iterations: immediate changes jump
the queue, and the next beat's slot renders the same point at full quality.

The worker is the only thread that touches torch while the server runs.
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from vamen.server.core.chops import Chop, ChopPlan
from vamen.server.core.hits import HitBar
from vamen.server.core.tempo import BEATS_PER_BAR, TempoMap
from vamen.server.core.motion import Trajectory
from vamen.server.audio.player import Cue, Player

SAME_POINT = 1e-4  # latent units: closer than this renders the same loop
RENDER_THREADS = 1
RENDER_NICE = 10
MIN_LEAD = 0.15  # seconds: the least a slot is rendered ahead of its start
# seconds a change needs before it can sound: one render, at least and at most
CHANGE_LEAD = (0.05, 0.3)
DRAFT_ITERATIONS = 8  # an immediate change is heard after this many; the next beat refines it
RAW_BARS = 8  # bars kept uncut for re-cutting
HEADROOM = 0.89  # -1 dBFS: loud loops are turned down to this peak, quiet ones left alone


@dataclass(frozen=True)
class Slot:
    beat: float
    point: np.ndarray
    tempo: float
    cue: Cue
    draft: bool = False  # rendered fast for an immediate change; the next slot refines it
    chop: Chop | HitBar | None = None  # how the bar was cut (vamen.server.core.chops, .hits)


def _on_grid(cue: Cue, tempo_map: TempoMap) -> bool:
    """Whether a queued loop's bar lines fall where ``tempo_map`` puts them.

    An external clock (MIDI Start) may move the bar lines; a loop queued on
    the old ones must then be rendered again even if its point is the same.
    """
    here = (cue.start - cue.bar) % cue.length
    there = tempo_map.beat_at(cue.start) % BEATS_PER_BAR / BEATS_PER_BAR * cue.length
    return min(abs(here - there), cue.length - abs(here - there)) <= 2


class RenderWorker:
    """Plans and renders cues for one :class:`Player`.

    Parameters
    ----------
    model : LoopModel
    player : Player
    tempo_map : TempoMap
    trajectory : Trajectory
    iterations : int
        Griffin-Lim iterations (``/vamen/quality``).
    lookahead : float
        The most seconds of audio rendered ahead of the playhead (see :meth:`lead`).
    """

    def __init__(self, model, player: Player, tempo_map: TempoMap, trajectory: Trajectory,
                 iterations: int = 32, lookahead: float = 0.6, seed: int = 0):
        self.model = model
        self.player = player
        self.tempo_map = tempo_map
        self.trajectory = trajectory
        self.iterations = iterations
        self.lookahead = lookahead
        self.seed = seed
        self.slots: list[Slot] = []
        self.chops = ChopPlan()
        # the last bars rendered, before any cut, so a hit or a pattern re-cuts them rather
        # than rendering again: (tempo, point, iterations, loop)
        self._raw: deque = deque(maxlen=RAW_BARS)
        self.late = 0
        self.renders = 0
        self.render_times: deque[float] = deque(maxlen=512)
        self._render_ms: tuple[tuple[int, int], tuple[float, float]] | None = None
        self.error: str | None = None
        # Sinks that want whole loops (vamen.server.sinks) listen here: each is
        # called on this thread, after a new slot is published, with
        # (slot, audio [shape=(frames,), at the player's rate], tempo_map). A
        # listener must only queue work for its own thread; one that raises is
        # noted in ``error`` and the music goes on.
        self.listeners: list = []
        self._invalid_from: float | None = None
        self._redo = False  # render again even what sounds the same (see redo)
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control thread side -------------------------------------------------
    def change(self, from_beat: float, trajectory: Trajectory | None = None,
               tempo_map: TempoMap | None = None, iterations: int | None = None,
               chops: ChopPlan | None = None) -> None:
        """Follow new settings from ``from_beat`` on; wakes the worker at once."""
        with self._wake:
            if trajectory is not None:
                self.trajectory = trajectory
            if tempo_map is not None:
                self.tempo_map = tempo_map
            if iterations is not None:
                self.iterations = iterations
            if chops is not None:
                self.chops = chops
            if trajectory is not None or tempo_map is not None or chops is not None:
                self._invalid_from = (from_beat if self._invalid_from is None
                                      else min(self._invalid_from, from_beat))
            self._wake.notify()

    def redo(self, from_beat: float) -> None:
        """Render again from ``from_beat`` on, the loop playing now included, forgetting
        the bars kept for re-cutting: what dead air asks for first (:mod:`vamen.server.ops.deadair`)."""
        with self._wake:
            self._redo = True
            self._invalid_from = (from_beat if self._invalid_from is None
                                  else min(self._invalid_from, from_beat))
            self._wake.notify()

    # -- worker thread ---------------------------------------------------------
    def start(self) -> "RenderWorker":
        self._thread = threading.Thread(target=self.run, name="vamen-render", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """The same as :meth:`stop`: every part the engine holds closes alike."""
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run(self) -> None:
        import torch

        torch.set_grad_enabled(False)
        # Rendering must never take the CPU from the audio thread. Without
        # real-time scheduling (JACK's dummy driver in tests, many desktops)
        # a busy renderer at the same priority starves it: a plain sine client
        # beside a rendering process got 129 xruns a minute, 3 with the
        # renderer at nice 10. So this thread renders alone (torch's pool
        # threads would run at normal priority) at a lower priority.
        torch.set_num_threads(RENDER_THREADS)
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICE)
        except (AttributeError, OSError):  # not Linux, or not allowed: render as we are
            pass
        while not self._stop.is_set():
            try:
                busy = self.step()
            except Exception as exc:  # a render failure must not stop the music
                self.error = f"{type(exc).__name__}: {exc}"
                busy = False
            if not busy:
                with self._wake:
                    if self._invalid_from is None and not self._stop.is_set():
                        self._wake.wait(timeout=0.01)

    def step(self) -> bool:
        """Plan, render and publish one batch; False when nothing was due."""
        with self._wake:
            trajectory, tempo_map, chops = self.trajectory, self.tempo_map, self.chops
            iterations, invalid_from = self.iterations, self._invalid_from
            redo, self._redo = self._redo, False
            self._invalid_from = None
        if redo:
            self._raw.clear()
        now = self.player.position
        now_beat = tempo_map.beat_at(now)
        if invalid_from is not None:
            self._drop_from(invalid_from, now)
        wanted = self._wanted_beats(now_beat, invalid_from, tempo_map)
        jobs = []
        moved = []
        previous = self._slot_before(wanted[0]) if wanted and not redo else None
        for beat in wanted:
            point = np.asarray(trajectory.at(beat), dtype=np.float32)
            tempo = tempo_map.tempo_at(beat)
            chop = chops.cut_at(beat)
            if (previous is not None and previous.tempo == tempo and not previous.draft
                    and previous.chop == chop
                    and float(np.abs(previous.point - point).max()) < SAME_POINT):
                if previous.cue is None or _on_grid(previous.cue, tempo_map):
                    continue  # the loop already queued sounds exactly like this one
                # the same loop on bar lines an external clock moved: no render needed
                previous = self._moved(previous, beat, tempo_map, now)
                moved.append(previous)
                continue
            jobs.append((beat, point, tempo, chop))
            previous = Slot(beat, point, tempo, None, chop=chop)  # type: ignore[arg-type]
        if moved:
            self._publish_moved(moved, tempo_map)
        if not jobs:
            self._retire(now)
            return bool(moved)
        draft = (invalid_from is not None and invalid_from != math.floor(invalid_from)
                 and jobs[0][0] == max(invalid_from, now_beat)
                 and self._cached(jobs[0][1], jobs[0][2], iterations) is None)
        if draft:
            # an immediate change goes out alone and fast: latency, not throughput
            jobs, iterations = jobs[:1], min(iterations, DRAFT_ITERATIONS)
        free = self._free_slots(len(jobs))
        jobs = jobs[: len(free)]
        if not jobs:
            return False
        self._render(jobs, free, tempo_map, iterations, draft)
        return True

    def _moved(self, slot: Slot, beat: float, tempo_map: TempoMap, now: int) -> Slot:
        """``slot``'s loop again from ``beat``, its bar where ``tempo_map`` puts it (no render)."""
        length = slot.cue.length
        start = int(round(tempo_map.sample_at(beat)))
        bar = start - int(round((beat % BEATS_PER_BAR) / BEATS_PER_BAR * length))
        return Slot(beat, slot.point, slot.tempo, Cue(slot.cue.slot, max(start, now), bar, length),
                    chop=slot.chop)

    def _publish_moved(self, moved: list[Slot], tempo_map: TempoMap) -> None:
        self.slots.extend(moved)
        self.slots.sort(key=lambda s: s.beat)
        self._publish()
        for slot in moved:
            loop = np.array(self.player.pool[slot.cue.slot, :slot.cue.length])
            for listener in self.listeners:
                try:
                    listener(slot, loop, tempo_map)
                except Exception as exc:  # a sink's bug must not stop the render
                    self.error = f"loop listener: {type(exc).__name__}: {exc}"

    def _wanted_beats(self, now_beat: float, invalid_from: float | None,
                      tempo_map: TempoMap) -> list[float]:
        horizon = now_beat + self.lead() * tempo_map.tempo_at(now_beat) / 60.0
        planned = {s.beat for s in self.slots}
        wanted = []
        if not self.slots:
            wanted.append(now_beat)  # nothing is playing: start right away
        if invalid_from is not None and invalid_from != math.floor(invalid_from):
            wanted.append(max(invalid_from, now_beat))  # lands between beats
        beat = math.floor(now_beat) + 1.0
        while beat <= horizon:
            if beat not in planned:
                wanted.append(beat)
            beat += 1.0
        return sorted(set(b for b in wanted if b not in planned))

    def _slot_before(self, beat: float) -> Slot | None:
        before = None
        for slot in self.slots:
            if slot.beat <= beat:
                before = slot
        return before

    def _drop_from(self, beat: float, now: int) -> None:
        """Forget slots from ``beat`` on that have not started playing."""
        keep = [s for s in self.slots if s.beat < beat or s.cue.start <= now]
        if len(keep) != len(self.slots):
            self.slots = keep
            self._publish()

    def _retire(self, now: int) -> None:
        """Drop slots that a later slot has already replaced."""
        started = [i for i, s in enumerate(self.slots) if s.cue.start <= now - self.player.fade]
        if len(started) > 1:
            self.slots = self.slots[started[-1]:]
            self._publish()

    def _free_slots(self, count: int) -> list[int]:
        self._retire(self.player.position)
        used = self.player.in_use() | {s.cue.slot for s in self.slots}
        return [i for i in range(len(self.player.pool)) if i not in used][:count]

    @staticmethod
    def _fades(before: Slot | None, beat: float, point: np.ndarray, tempo: float, chop) -> bool:
        """Whether the cue for this slot crossfades from the one before (see :class:`Cue`).

        Hits bar after bar join with no fade (each strike fades itself), and so
        does a bar cut again from the same render, which is the same audio up
        to the new strike.
        """
        if not isinstance(chop, HitBar) or before is None or not isinstance(before.chop, HitBar):
            return True
        if before.chop.bar != chop.bar:
            return False
        return not (before.tempo == tempo and float(np.abs(before.point - point).max()) < SAME_POINT)

    def _cached(self, point: np.ndarray, tempo: float, iterations: int) -> np.ndarray | None:
        """A bar already rendered at this point and tempo, at least this well (before any cut)."""
        for key_tempo, key_point, key_iterations, loop in self._raw:
            if (key_tempo == tempo and key_iterations >= iterations
                    and float(np.abs(key_point - point).max()) < SAME_POINT):
                return loop
        return None

    def _render(self, jobs, free: list[int], tempo_map: TempoMap, iterations: int,
                draft: bool = False) -> None:
        started = time.perf_counter()
        raw: dict[int, np.ndarray] = {}
        by_tempo: dict[float, list[int]] = {}
        for i, (_, point, tempo, _) in enumerate(jobs):
            cached = self._cached(point, tempo, iterations)
            if cached is not None:  # re-cut, not re-rendered: a hit or a pattern over the same bar
                raw[i] = cached
            else:
                by_tempo.setdefault(tempo, []).append(i)
        for tempo, idx in by_tempo.items():
            points = np.stack([jobs[i][1] for i in idx])
            audio, _ = self.model.render(points, tempo=tempo, sample_rate=self.player.sample_rate,
                                         iterations=iterations, seed=self.seed)
            for i, loop in zip(idx, audio):
                peak = float(np.abs(loop).max())
                raw[i] = loop * (HEADROOM / peak) if peak > HEADROOM else loop
                self._raw.append((tempo, jobs[i][1], iterations, raw[i]))
        rendered: dict[int, np.ndarray] = {}
        for i, loop in raw.items():
            chop = jobs[i][3]
            # cut here, right after the render: the callback still only copies
            rendered[i] = chop.apply(loop, self.player.sample_rate) if chop is not None else loop
        elapsed = time.perf_counter() - started
        if by_tempo:
            self.render_times.append(elapsed / sum(len(idx) for idx in by_tempo.values()))
        self.renders += sum(len(idx) for idx in by_tempo.values())
        pool = self.player.pool
        now = self.player.position
        new = []
        before = self._slot_before(jobs[0][0])
        for i, (beat, point, tempo, chop) in enumerate(jobs):
            loop = rendered[i]
            length = min(len(loop), pool.shape[1])
            slot = free[i]
            pool[slot, :length] = loop[:length]
            start = int(round(tempo_map.sample_at(beat)))
            bar = start - int(round((beat % BEATS_PER_BAR) / BEATS_PER_BAR * length))
            fade = self._fades(before, beat, point, tempo, chop)
            if fade and isinstance(chop, HitBar) and beat % BEATS_PER_BAR != 0:
                # a bar cut again for a strike, from a new render: take over a crossfade early,
                # where old and new still agree, so the strike's attack is not faded in
                start -= self.player.fade
            if start < now:
                if beat == math.floor(beat):
                    self.late += 1  # meant for a beat already gone: it lands late
                start = now
            self.slots.append(Slot(beat, point, tempo, Cue(slot, start, bar, length, fade), draft, chop))
            before = self.slots[-1]
            new.append((self.slots[-1], loop[:length]))
        self.slots.sort(key=lambda s: s.beat)
        self._publish()
        for slot, loop in new:
            for listener in self.listeners:
                try:
                    listener(slot, loop, tempo_map)
                except Exception as exc:  # a sink's bug must not stop the render
                    self.error = f"loop listener: {type(exc).__name__}: {exc}"

    def _publish(self) -> None:
        self.player.publish(tuple(sorted((s.cue for s in self.slots), key=lambda c: c.start)))

    def lead(self) -> float:
        """Seconds ahead of the playhead that slots are rendered: just in time.

        Three times the slowest recent render, within 0.15 s and
        ``lookahead``: far enough to absorb a slow render, near enough that
        a flood of changes to a beat still ahead costs one render, not one
        per message.
        """
        p99 = self.render_ms()[1] / 1000.0
        return min(self.lookahead, max(MIN_LEAD, 3.0 * p99))

    def change_lead(self) -> float:
        """Seconds ahead of the playhead a change can still be rendered in time.

        Twice the slowest recent render, within 0.05 to 0.3 s. Quantised
        changes land on the first beat at least this far ahead, and a clock
        (Link) changes the tempo no earlier, so nothing lands late.
        """
        low, high = CHANGE_LEAD
        return min(high, max(low, 2.0 * self.render_ms()[1] / 1000.0))

    # -- figures ---------------------------------------------------------------
    def health(self) -> dict:
        """``/vamen/state`` pairs: late loops, render times, loops queued ahead of the playhead."""
        p50, p99 = self.render_ms()
        ahead = sum(1 for s in self.slots if s.cue.start > self.player.position)
        return {"late_loops": self.late, "render_ms_p50": round(p50, 2), "render_ms_p99": round(p99, 2),
                "queued_loops": ahead}

    def render_ms(self) -> tuple[float, float]:
        """p50 and p99 render time per loop, in milliseconds.

        The control thread asks for every command it applies; the answer is
        worked out again only after a render, so an OSC flood does not spend
        the control thread on percentiles (they were two thirds of a command).
        """
        key = (self.renders, len(self.render_times))
        cached = self._render_ms
        if cached is not None and cached[0] == key:
            return cached[1]
        if not self.render_times:
            return 0.0, 0.0
        times = np.asarray(self.render_times) * 1000.0
        figures = float(np.percentile(times, 50)), float(np.percentile(times, 99))
        self._render_ms = (key, figures)
        return figures
