"""Ableton Link: tempo, bar and transport shared with the peers on the network.

vamen joins the Link session of its network (DAWs, Tidal, Sardine, phones,
other vamen instances) through the ``LinkPython-extern`` binding (``import
link``; the ``link`` extra). A :class:`LinkFollower`, polled every
:data:`POLL` seconds by the clock's thread, keeps the engine's tempo map on
the session's timeline with quantum 4 (one bar: vamen's downbeats are the
session's bar lines), and tells the session what vamen changes itself.

From the session to vamen
    A new session tempo becomes a :class:`FollowLink` command: the tempo map
    switches to it at the sample where vamen's grid and the session's new
    line meet, when that is still ahead (another vamen proposed it, as below:
    no jump at all), or else at the first sample vamen can still render (a
    small jump, as any Link peer makes). The same command re-aligns the bar
    when the phase drifts more than :data:`TOLERANCE` for :data:`STRIKES`
    polls in a row. Start and stop (peers with start/stop sync) become
    ``Play`` and ``Stop`` at the session's time.
From vamen to the session
    A tempo that OSC, MIDI or the autopilot set, and ``/vamen/play`` and
    ``/vamen/stop``, are proposed to the session. Under Link a tempo change
    takes effect at once, as in every Link app: at the first sample vamen
    can still render (0.05 to 0.3 s ahead), so peers do not jump. The
    follower remembers what it told the engine and the session, so a change
    never echoes back and forth.

Latency. Each poll pairs the player's block counter with the monotonic
clock; the largest ``position - time * rate`` over the last second (the
callback's counter is never ahead of the true one, only late) says when
the callback writes each output sample, within a fraction of a
millisecond, with no help from the audio thread (:class:`SampleClock`).
The output's ``latency`` (JACK and PortAudio count it from the callback
that writes a block's first sample) and
``link_offset_ms`` (for what cannot be measured: an external interface,
speakers across a room) are added: vamen's downbeat is *heard* on the
session's bar line, not one buffer late. Link's own clock
(``Link.clock().micros()``) is read in the same poll, so the two clocks never
drift apart.

Only this module imports the binding. Tests give :class:`LinkClock` any
object with the binding's ``Link`` API (``tests/linkfake.py``) and call
``poll()`` themselves: the offline clock.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, ClassVar

from vamen.server.core import commands as c

from vamen.server.core.tempo import BEATS_PER_BAR
from .base import Clock, ClockError
from vamen.server.core.commands import EngineCommand

log = logging.getLogger("vamen")

QUANTUM = float(BEATS_PER_BAR)  # beats in Link's phase: one bar
POLL = 0.005  # seconds between looks at the session
WINDOW = 0.5  # seconds of polls the sample clock keeps
WARMUP = 0.2  # seconds of polls before the sample clock is trusted
TOLERANCE = 0.001  # seconds of phase error left alone
STRIKES = 8  # polls in a row beyond the tolerance before re-aligning (40 ms)
TEMPO_EPSILON = 0.005  # BPM: Link keeps tempo as microseconds per beat, so 137 reads 137.00007
HORIZON = 2.0  # seconds: a meeting point further ahead is not waited for
APPLY_TIMEOUT = 1.0  # seconds to wait for the control thread to carry out a command

INSTALL = ("Ableton Link needs its Python binding: pip install 'vamen[link]' "
           "(the LinkPython-extern package)")


def _wrap(beats: float) -> float:
    """``beats`` modulo a bar, in [-2, 2): the nearest way round."""
    return (beats + QUANTUM / 2) % QUANTUM - QUANTUM / 2


class SampleClock:
    """When the sound card's callback writes each output sample, from its block counter.

    The player's ``position`` (the first sample of the next block) moves a
    block at a time, as a callback ends; read at time ``t``, ``position - t
    * rate`` is at most its value at the callback (the counter is never
    early, only read late). The largest value over the last ``window``
    seconds pins the callbacks' times within their own jitter. A callback
    writes its block's first sample at the time it runs, and JACK and
    PortAudio count the output latency from there.

    An underrun may lose blocks for good (JACK skips a late client's
    cycle): the follower then starts the estimate afresh (:meth:`restart`)
    rather than wait a window for the old readings to expire.

    Parameters
    ----------
    sample_rate : int
    window : float
        Seconds of readings kept: how long a device clock drifting, or a
        stall nobody reported, takes to be followed.
    """

    def __init__(self, sample_rate: int, window: float = WINDOW) -> None:
        self.sample_rate = sample_rate
        self.window = window
        self._best: deque[tuple[float, float]] = deque()  # (time, offset), offsets decreasing
        self.first: float | None = None
        self.block = 0.0  # the counter's last step: the callback's block
        self._last: float | None = None

    def add(self, position: float, t: float) -> None:
        """The counter read ``position`` just before time ``t`` (seconds, monotonic)."""
        if self.first is None:
            self.first = t
        if self._last is not None and position > self._last:
            self.block = position - self._last
        self._last = position
        value = position - t * self.sample_rate
        best = self._best
        while best and best[-1][1] <= value:
            best.pop()
        best.append((t, value))
        while best[0][0] < t - self.window:
            best.popleft()

    def restart(self) -> None:
        """Forget the readings: the device lost blocks (an underrun), the offset moved."""
        self._best.clear()

    def warm(self, t: float, warmup: float = WARMUP) -> bool:
        return self.first is not None and t - self.first >= warmup and self.block > 0

    def time_of(self, sample: float) -> float:
        """Monotonic time of the callback that writes ``sample`` (as if first in its block)."""
        return (sample + self.block - self._best[0][1]) / self.sample_rate

    def sample_at(self, t: float) -> float:
        """The inverse of :meth:`time_of`."""
        return t * self.sample_rate + self._best[0][1] - self.block


@dataclass(frozen=True)
class FollowLink(EngineCommand):
    """The session says: from output sample ``sample`` on, ``bpm``, and ``sample`` is ``beat``.

    Carried out on the control thread: the tempo map takes ``bpm`` from
    ``sample`` (keeping the beat there), then moves its bar lines to
    ``beat``'s place in the bar unless they are within ``tolerance``
    seconds (:meth:`Engine.align`); the control state's tempo follows, for
    ``/vamen/state`` and the saved session. A sample already played means
    now. ``applied`` is set when done, so the follower waits for it.
    """

    bpm: float
    sample: float
    beat: float
    tolerance: float = TOLERANCE
    applied: threading.Event | None = field(default=None, compare=False, repr=False)
    address: ClassVar[str] = "/vamen/link/follow"

    def run(self, engine) -> None:
        try:
            sample, beat = float(self.sample), float(self.beat)
            position = float(engine.player.position)
            if sample < position:  # gone by: the same line, now
                beat += (position - sample) / engine.sample_rate * self.bpm / 60.0
                sample = position
            engine.retempo(sample, self.bpm)
            engine.align(sample, beat, self.tolerance * engine.sample_rate)
            # the state says what is heard (to a thousandth: Link keeps microseconds
            # per beat, so 137 comes back as 137.000064); the map is done
            shown = round(self.bpm, 3)
            if engine.control.tempo != shown:
                engine.control.apply(c.Tempo(shown), engine.now_beat(), 0.0)
        finally:
            if self.applied is not None:
                self.applied.set()


class LinkFollower:
    """Keeps one engine and one Link session in step; :meth:`poll` does one look.

    Parameters
    ----------
    engine : Engine
        Read from this thread (the player's position, the tempo map, the
        control state's tempo and transport: single references, read
        whole); changed only through its command queue.
    link : link.Link or alike
        Enabled, with start/stop sync on.
    offset : float
        Seconds of output latency vamen cannot measure (``link_offset_ms``).
    now : callable, optional
        Monotonic seconds (tests pass their own).
    """

    def __init__(self, engine, link, offset: float = 0.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.link = link
        self.offset = offset
        self.now = now
        self.samples = SampleClock(engine.sample_rate)
        control = engine.control
        # what each side was last told, so that nothing echoes
        self.seen_tempo = self.sent_tempo = control.tempo
        self.seen_playing = self.sent_playing = control.playing
        self.link_playing: bool | None = None
        self.link_tempo = control.tempo
        self.peers = 0
        self.phase_ms = 0.0
        self.aligns = 0  # FollowLink commands sent
        self.dropped = 0  # commands the full queue refused
        self._requested = False  # vamen's beat offered to the session once, at the start
        self._strikes = 0
        self._pending: tuple[threading.Event, float] | None = None
        self._waiting_since: float | None = None
        self._underruns = engine.player.underruns

    # -- one look -----------------------------------------------------------------
    def poll(self) -> None:
        engine = self.engine
        position = engine.player.position  # first the counter, then the clocks
        mono = self.now()
        micros = self.link.clock().micros()
        underruns = engine.player.underruns
        if underruns != self._underruns:  # blocks may be lost: their time is not ours to keep
            self._underruns = underruns
            self.samples.restart()
        self.samples.add(position, mono)
        self.peers = int(self.link.numPeers())
        state = self.link.captureAppSessionState()
        self.link_tempo = float(state.tempo())
        if self.link_playing is None:
            self.link_playing = bool(state.isPlaying())
        if not self.samples.warm(mono) or self._busy(mono):
            return
        rate = engine.sample_rate
        latency = float(getattr(engine.output, "latency", 0.0) or 0.0) + self.offset

        def link_time(sample: float) -> int:
            """Link's clock (microseconds) when ``sample`` is heard."""
            return int(round(micros + (self.samples.time_of(sample) + latency - mono) * 1e6))

        lead = engine.worker.change_lead()  # as the engine's quantised changes
        earliest = position + lead * rate
        if self._propose(state, position, earliest, link_time, mono):
            return
        if self._transport(state, micros, mono, latency, position):
            return
        self._follow(state, position, earliest, link_time)

    def _busy(self, mono: float) -> bool:
        """Whether a command sent is still on its way to the control thread."""
        if self._pending is None:
            return False
        done, sent = self._pending
        if done.is_set() or mono - sent > APPLY_TIMEOUT:
            self._pending = None
            return False
        return True

    def _send(self, cmd: c.Command, mono: float) -> None:
        try:
            self.engine.commands.put_nowait(cmd)
        except Exception:  # queue.Full: an OSC flood; the next poll tries again
            self.dropped += 1
            return
        if isinstance(cmd, FollowLink):
            self._pending = (cmd.applied, mono)
            self.aligns += 1

    # -- vamen -> session ----------------------------------------------------------
    def _propose(self, state, position: float, earliest: float, link_time, mono: float) -> bool:
        control = self.engine.control
        tempo_map = self.engine.tempo_map
        tempo = control.tempo
        if tempo != self.seen_tempo:
            if abs(tempo_map.tempos[-1] - tempo) > TEMPO_EPSILON:
                # the control thread sets the tempo, then the map: wait for both
                if self._waiting_since is None:
                    self._waiting_since = mono
                if mono - self._waiting_since < APPLY_TIMEOUT:
                    return True
            self._waiting_since = None
            self.seen_tempo = tempo
            if abs(tempo - self.sent_tempo) > TEMPO_EPSILON:
                # Someone in vamen chose a tempo: the session gets it at once,
                # pivoting where vamen's map changes if that is near (else at
                # the first sample vamen can still render), and vamen changes
                # right there, so neither side jumps.
                pivot = min(tempo_map.samples[-1], earliest)
                at = link_time(pivot)
                beat = state.beatAtTime(at, QUANTUM)
                state.setTempo(tempo, at)
                self.link.commitAppSessionState(state)
                self.sent_tempo = self.link_tempo = tempo
                self._send(FollowLink(tempo, pivot, beat, TOLERANCE, threading.Event()), mono)
                log.info("link: proposed %.2f BPM", tempo)
                return True
        playing = control.playing
        if playing != self.seen_playing:
            self.seen_playing = playing
            if playing != self.sent_playing:
                state.setIsPlaying(playing, link_time(position))
                self.link.commitAppSessionState(state)
                self.sent_playing = self.link_playing = playing
                return True
        return False

    # -- session -> vamen ----------------------------------------------------------
    def _transport(self, state, micros: int, mono: float, latency: float, position: float) -> bool:
        playing = bool(state.isPlaying())
        if playing == self.link_playing:
            return False
        self.link_playing = playing
        if playing == self.sent_playing:
            return False
        self.sent_playing = playing
        # the sample heard at the session's start/stop time, as wall-clock time for ``at``
        heard = mono + (int(state.timeForIsPlaying()) - micros) / 1e6 - latency
        sample = self.samples.sample_at(heard)
        at = time.time() + (sample - position) / self.engine.sample_rate
        self._send(c.Play(at=at) if playing else c.Stop(at=at), mono)
        return True

    def _follow(self, state, position: float, earliest: float, link_time) -> None:
        engine = self.engine
        tempo_map = engine.tempo_map
        bpm = min(c.MAX_TEMPO, max(c.MIN_TEMPO, self.link_tempo))
        ref = max(float(position), tempo_map.samples[-1])  # after the map's last change
        ours = tempo_map.beat_at(ref)
        theirs = state.beatAtTime(link_time(ref), QUANTUM)
        mono = self.now()
        mapped = tempo_map.tempo_at(ours)
        if abs(bpm - mapped) > TEMPO_EPSILON:
            # where do our line and the session's new one meet?
            drift = (self.link_tempo - mapped) / 60.0  # beats a second
            meet = ref - _wrap(theirs - ours) / drift * engine.sample_rate
            start = meet if earliest <= meet <= position + HORIZON * engine.sample_rate else max(earliest, ref)
            beat = state.beatAtTime(link_time(start), QUANTUM)
            self.sent_tempo = bpm
            self._strikes = 0
            self._send(FollowLink(bpm, start, beat, TOLERANCE, threading.Event()), mono)
            log.info("link: following %.2f BPM from %d peer(s)", bpm, self.peers)
            return
        if bpm != self.link_tempo:
            return  # beyond vamen's 20..400 BPM: the tempo is near, the phase cannot be
        error = _wrap(theirs - ours) * 60.0 / bpm
        self.phase_ms = error * 1000.0
        self._strikes = self._strikes + 1 if abs(error) > TOLERANCE else 0
        if self._strikes < STRIKES and self._requested:
            return
        self._strikes = 0
        if not self._requested:
            # At the start vamen offers its own bar to the session: alone, the
            # session takes it (no jump); with peers, only the phase is kept.
            self._requested = True
            state.requestBeatAtTime(ours, link_time(ref), QUANTUM)
            self.link.commitAppSessionState(state)
            return
        start = max(earliest, ref)
        beat = state.beatAtTime(link_time(start), QUANTUM)
        self._send(FollowLink(bpm, start, beat, TOLERANCE, threading.Event()), mono)


class LinkClock(Clock):
    """The Link session leads: a :class:`LinkFollower` polled on a thread of its own.

    Parameters
    ----------
    factory : callable (bpm -> link.Link)
        Makes the session's object; :meth:`open` uses the binding's ``Link``.
    offset_ms : float
        ``link_offset_ms``: latency vamen cannot measure.
    """

    name: ClassVar[str] = "link"

    def __init__(self, factory: Callable[[float], object], offset_ms: float = 0.0,
                 poll: float = POLL, now: Callable[[], float] = time.monotonic) -> None:
        self.factory = factory
        self.offset_ms = offset_ms
        self.interval = poll
        self._now = now
        self.link = None
        self.follower: LinkFollower | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: str | None = None

    @classmethod
    def open(cls, offset_ms: float = 0.0) -> "LinkClock":
        """A clock on the real binding; ClockError when it is not installed."""
        try:
            import link
        except ImportError:
            raise ClockError(INSTALL) from None
        return cls(link.Link, offset_ms)

    def start(self, engine, background: bool = True) -> "LinkClock":
        self.link = self.factory(float(engine.control.tempo))
        self.link.startStopSyncEnabled = True
        self.link.enabled = True
        self.follower = LinkFollower(engine, self.link, self.offset_ms / 1000.0, self._now)
        if background:
            self._thread = threading.Thread(target=self._run, name="vamen-link", daemon=True)
            self._thread.start()
        return self

    def poll(self) -> None:
        if self.follower is not None:
            self.follower.poll()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.follower.poll()
            except Exception as exc:  # a bug here must not stop the music: say it once
                text = f"{type(exc).__name__}: {exc}"
                if text != self._failed:
                    self._failed = text
                    log.exception("link: %s", text)

    def close(self) -> None:
        self._stop.set()
        alive = False
        if self._thread is not None:
            self._thread.join(timeout=2)
            alive = self._thread.is_alive()
            self._thread = None
        if self.link is not None:
            self.link.enabled = False
            if not alive:
                # Drop Link now, on this thread: left to the interpreter's teardown,
                # its C++ threads can still be running while their owner is
                # destroyed, and the process ends in "terminate called without an
                # active exception" (exit 134) instead of 0.
                self.link = None
                self.follower = None

    def health(self) -> dict:
        f = self.follower
        if f is None:
            return {"clock": self.name}
        return {"clock": self.name, "link_peers": f.peers, "link_tempo": round(f.link_tempo, 3),
                "link_phase_ms": round(f.phase_ms, 2), "link_aligns": f.aligns}

    def status(self) -> str:
        peers = self.follower.peers if self.follower is not None else 0
        return f"link {peers} peer{'' if peers == 1 else 's'}"

