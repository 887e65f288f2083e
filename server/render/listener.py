"""Bar-synchronous listening: each bar of the live input, cut on the bar line and encoded.

The control thread tells :class:`Listener` when a bar of the server's clock
has ended (:meth:`Listener.bar_ended`, from its tick, whatever the clock:
internal, MIDI or Link), with the monotonic time vamen wrote that bar's
first sample (taken as it was written: see ``Conductor._bar_ended``). The
listener's own thread then:

1. finds when that bar reached vamen's input. A player plays on the bar
   line as they *hear* it, the output's latency after vamen wrote it; what
   they play reaches vamen the input's latency later. Both latencies, as
   PortAudio or JACK report them, are added, so the cut falls on the bar
   line the player heard;
2. waits until the bar is in (a bar takes a bar to hear), copies it from
   the input's ring by time (:meth:`ProcessInput.span
   <vamen.server.audio.inputproc.ProcessInput.span>`: input lost on the way,
   as JACK loses a client's cycles on a loaded machine, is silence in its
   place and does not shift the rest), fills what was lost from the same
   place in the bar before (:meth:`Listener._patch`) and mixes it to mono;
3. moves the cut onto the downbeat, as a loop file's bars are cut
   (:func:`vamen.model.audio.downbeat_starts`): where a hit starts within
   half a sixteenth (at most 60 ms) of the bar line, and stands out of the
   sound around it, the bar is cut from where it starts. The loops the model
   learnt from, and the loop files users encode, begin on their downbeat's
   transient; a cut a few
   milliseconds off (a latency figure a period out, a drummer a touch
   behind) moves every hit in the model's view, and the point fitted to it
   moves with it: 5 ms off took the default model's point 0.3 to 0.4 away
   (standard-normal units, RMS over dimensions), 10 ms 0.5 to 0.6. Snapped,
   it stays within 0.04. A drummer half a sixteenth behind is heard on
   their own downbeat too. A bar with no hit near its line is cut on the line;
4. leaves a bar quieter than :data:`SILENCE_DB` alone (the last point
   stays), and otherwise encodes it as ``/vamen/encode`` encodes a file's
   first bar, off the control and audio threads;
5. puts a :class:`~vamen.server.core.commands.Heard` on the command
   queue: the control thread lands it on the next bar line it can still
   change, and the audio follows it as far as ``/vamen/follow`` says.

A thread of its own (``vamen-input-meter``) keeps the input's level and
clipping count for ``/vamen/state`` and feeds the input's recorder
(``--record``), so an encode, or the first one's seconds of warming up,
never holds them up: the recorder takes a few seconds at once, and what it
could not take would be missing from the recording.
"""
from __future__ import annotations

import logging
import math
import os
import queue
import threading
import time
from typing import Callable

import numpy as np

from vamen.model.audio import SNAP_CONTEXT, downbeat_starts, snap_reach
from vamen.server.core import commands as c

from .worker import RENDER_NICE

log = logging.getLogger("vamen")

#: A bar whose RMS is below this (dBFS) is silence: it leaves the last point alone.
SILENCE_DB = -50.0
#: A sample at or above this magnitude counts as clipped.
CLIP = 0.999
#: Seconds the level (peak dBFS) in ``/vamen/state`` looks back over.
LEVEL_SECONDS = 0.3
FLOOR_DB = -120.0
POLL = 0.02
#: Seconds past a bar's end before it is cut: the input clock's latest estimate may run a block early.
SETTLE = 0.02
#: A bar with input for less than this share of it (the input was away) is missed, not heard.
MIN_COVERED = 0.5


def db(value: float) -> float:
    return FLOOR_DB if value <= 10.0 ** (FLOOR_DB / 20.0) else 20.0 * math.log10(value)


class Listener:
    """Cuts each bar of the input on the bar line and encodes it on its own thread.

    Parameters
    ----------
    source : ProcessInput
        The input: ``written``, ``read(start, frames)``, ``span(monotonic, frames)``,
        ``arrived_until()``, ``latency``.
    output_latency : callable () -> float
        Seconds from writing an output sample to hearing it.
    encode : callable (np.ndarray [shape=(n,)] mono, int rate) -> np.ndarray [shape=(latent_dim,)]
    results : queue.Queue
        The command queue the control thread reads.
    recorder : WavRecorder, optional
        Gets every input frame (``--record``).
    since : int, optional
        The first input frame to meter and record (the input's frame count when
        the output started, so the two recordings begin together); default: now.
    """

    def __init__(self, source, output_latency: Callable[[], float],
                 encode: Callable[[np.ndarray, int], np.ndarray], results: queue.Queue, recorder=None,
                 since: int | None = None):
        self.source = source
        self.output_latency = output_latency
        self.encode = encode
        self.results = results
        self.recorder = recorder
        self.rate = source.sample_rate
        self.bars_heard = 0
        self.bars_silent = 0
        self.bars_missed = 0  # the input was away, or the frames were gone before they were read
        self.heard_ms = 0.0  # from the bar's end reaching vamen to its point being ready, the last one
        self.snapped_ms = 0.0  # how far the last bar's cut moved onto its downbeat
        self.patched_ms = 0.0  # how much of the last bar was lost and filled from the bar before
        self.clipped = 0
        self.error = ""
        self._peaks: list[tuple[float, float]] = []
        self._scanned = source.written if since is None else min(int(since), source.written)
        self._jobs: queue.Queue = queue.Queue(maxsize=4)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "Listener":
        for target, name in ((self._meter, "vamen-input-meter"), (self._run, "vamen-listen")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    # -- the control thread's side ---------------------------------------------------
    def bar_ended(self, beat: float, written_at: float, frames: int) -> None:
        """The bar that ends on ``beat``, ``frames`` samples long, began to be written at monotonic
        ``written_at``: listen to it."""
        try:
            self._jobs.put_nowait((float(beat), float(written_at), int(frames)))
        except queue.Full:  # the encoder fell a whole queue behind: skip a bar rather than wait
            self.bars_missed += 1

    # -- the listener's thread ---------------------------------------------------------
    def _run(self) -> None:
        # Hearing must not take the CPU from the audio processes either: at the render
        # worker's lower priority (see RenderWorker.run), an encode every bar costs them nothing.
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICE)
        except (AttributeError, OSError):
            pass
        # The first encode loads the resampler and warms torch up: seconds on a small machine
        # (librosa's first resample alone took 2.4 s here). Done now, on this thread, so the
        # first bar a drummer plays is answered in the usual fraction of a second.
        try:
            self.encode(np.zeros(self.rate, dtype=np.float32), self.rate)
        except Exception as exc:
            self.error = f"cannot encode the input: {type(exc).__name__}: {exc}"
        pending: tuple | None = None
        while not self._stop.wait(POLL):
            if pending is None:
                try:
                    pending = self._cut(*self._jobs.get_nowait())
                except queue.Empty:
                    continue
            if pending is None:
                continue
            beat, start, frames, deadline = pending
            if self.source.arrived_until() < start + (frames + snap_reach(frames, self.rate)) / self.rate + SETTLE:
                if time.monotonic() > deadline:  # the input stalled or went away
                    self.bars_missed += 1
                    pending = None
                continue
            pending = None
            self._hear(beat, start, frames)

    def _cut(self, beat: float, written_at: float, frames: int) -> tuple:
        """When the bar the player heard from output ``written_at`` on reached vamen's input."""
        arrived = written_at + self.output_latency() + self.source.latency
        deadline = arrived + frames / self.rate + 2.0
        return beat, arrived, frames, deadline

    def _hear(self, beat: float, start: float, frames: int) -> None:
        reach = snap_reach(frames, self.rate)
        before = reach + SNAP_CONTEXT  # what the onset finder sees before the line
        held = np.zeros(before + frames + reach, dtype=bool)
        block, covered = self.source.span(start - before / self.rate, len(held), held)
        if covered < MIN_COVERED:  # the input was away for most of it, or it is gone from the ring
            self.bars_missed += 1
            return
        self.patched_ms = 1000.0 * self._patch(block, held, start - (frames + before) / self.rate) / self.rate
        mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
        moved = downbeat_starts(mono, self.rate, [before], reach)[0] - before
        mono = mono[before + moved:before + moved + frames]
        if db(float(np.sqrt(np.mean(np.square(mono, dtype=np.float64))))) < SILENCE_DB:
            self.bars_silent += 1
            return
        ended = time.monotonic()
        try:
            point = np.asarray(self.encode(mono, self.rate), dtype=np.float64)
        except Exception as exc:  # a failing encode must not stop listening
            self.error = f"cannot encode the input: {type(exc).__name__}: {exc}"
            log.exception("encoding the input failed")
            return
        self.heard_ms = 1000.0 * (time.monotonic() - ended)
        self.snapped_ms = 1000.0 * moved / self.rate
        self.bars_heard += 1
        self.error = ""
        try:
            self.results.put(c.Heard(tuple(point.tolist()), beat), timeout=1.0)
        except queue.Full:
            log.warning("dropped a bar of the input: the command queue is full")

    def _patch(self, block: np.ndarray, held: np.ndarray, start: float) -> int:
        """Fill what was lost of a bar with the same place in the bar before; the frames filled.

        Lost input is silence in its place, and a hole of silence in a bar moves
        the point fitted to it as far as a cut 10 ms off does. A groove repeats:
        the bar before, where it reached vamen, is the best guess of what was
        played (the patch, not the silence, is what gets encoded; the input's
        recording keeps the hole).
        """
        lost = ~held
        if not lost.any():
            return 0
        before_held = np.zeros_like(held)
        before, _ = self.source.span(start, len(held), before_held)
        fill = lost & before_held
        block[fill] = before[fill]
        return int(np.count_nonzero(fill))

    def _meter(self) -> None:
        while not self._stop.wait(POLL):
            self._scan()

    def _scan(self) -> None:
        """Level, clipping and the recorder, over the frames written since the last look."""
        written = self.source.written
        start = max(self._scanned, written - len(self.source.ring) // 2)
        if written <= start:
            self._scanned = written
            return
        block = self.source.read(start, written - start)
        self._scanned = written
        if block is None:
            return
        peak = float(np.max(np.abs(block))) if len(block) else 0.0
        self.clipped += int(np.count_nonzero(np.abs(block) >= CLIP))
        now = time.monotonic()
        self._peaks.append((now, peak))
        self._peaks = [(t, p) for t, p in self._peaks if now - t <= LEVEL_SECONDS]
        if self.recorder is not None:
            self.recorder.push(block, len(block))

    # -- figures and stopping ----------------------------------------------------------
    def level_db(self) -> float:
        now = time.monotonic()
        recent = [p for t, p in self._peaks if now - t <= LEVEL_SECONDS]
        return round(db(max(recent)) if recent else FLOOR_DB, 1)

    def health(self) -> dict:
        return {"input": self.source.device_label, "input_level_db": self.level_db(),
                "input_clipped": self.clipped, "input_bars_heard": self.bars_heard,
                "input_bars_silent": self.bars_silent, "input_bars_missed": self.bars_missed,
                "input_heard_ms": round(self.heard_ms, 1), "input_snapped_ms": round(self.snapped_ms, 2),
                "input_patched_ms": round(self.patched_ms, 1),
                **self.source.health()}

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
