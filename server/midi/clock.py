"""Following an external MIDI clock: 24 ticks per beat, Start, Stop, Continue, Song Position.

Tempo. Tick times jitter by a whole audio period (JACK and ALSA deliver
MIDI once per period: ±2.7 ms at 256 frames and 48 kHz, on a tick of 19.5 ms
at 128 BPM), so single intervals are useless. :class:`TickTempo` fits a
least-squares line through the last ``window`` ticks (96: one bar) whose
slope is the tick interval: at 128 BPM the estimate's spread is about 0.04
BPM once the window is full, and within 0.3 BPM after one beat. A tempo jump
(the recent ticks disagree with the line by more than 5 % three times in a
row) or a gap (no tick for half a second) restarts the fit, so the estimate
follows a new tempo within a beat rather than a bar. :class:`ClockFollower`
sends a ``Tempo`` command only when the estimate moves by more than 0.1 BPM
from the last one sent, so a steady clock costs no re-renders.

Phase. MIDI Start means: the next tick is beat 0 (a downbeat); Continue:
carry on from the song position; Song Position Pointer (in sixteenths)
sets it while stopped. The follower counts ticks from there and, on Start,
Continue and every 24th tick, tells the engine through an :class:`Align`
command which beat the external clock is on at that moment (the tick's time
on the fitted line, not its jittered arrival). The engine re-anchors its
tempo map only when it disagrees by more than ``tolerance`` (10 ms): a
steady clock re-anchors once at Start and rarely after.

Tick times are monotonic seconds (``time.monotonic``), converted to wall
time for the command's ``at``.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable

from vamen.server.core import commands as c

from .commands import Align

TICKS_PER_BEAT = 24


class TickTempo:
    """Tempo from tick times.

    Parameters
    ----------
    window : int
        Ticks in the least-squares fit.
    min_ticks : int
        Ticks needed before there is an estimate.
    gap : float
        Seconds without a tick after which the clock counts as stopped.
    jump : float
        Relative disagreement between the recent ticks and the fit that means
        the tempo changed.
    """

    def __init__(self, window: int = 96, min_ticks: int = 24, gap: float = 0.5,
                 jump: float = 0.05, recent: int = 12, strikes: int = 3) -> None:
        self.window = window
        self.min_ticks = min_ticks
        self.gap = gap
        self.jump = jump
        self.recent = recent
        self.strikes = strikes
        self.times: deque[float] = deque(maxlen=window)
        self._strikes = 0
        self._fit: tuple[float, float] | None = None  # (interval, time of the latest tick)

    def reset(self) -> None:
        self.times.clear()
        self._strikes = 0
        self._fit = None

    def add(self, t: float) -> None:
        """One tick at monotonic time ``t``."""
        if self.times and t - self.times[-1] > self.gap:
            self.reset()
        if self.times and t < self.times[-1]:
            t = self.times[-1]  # time never runs backwards
        self.times.append(t)
        self._fit = self._line()
        if self._fit is None or len(self.times) < self.recent + self.min_ticks // 2:
            return
        recent = (self.times[-1] - self.times[-1 - self.recent]) / self.recent
        if abs(recent / self._fit[0] - 1.0) > self.jump:
            self._strikes += 1
            if self._strikes >= self.strikes:  # a new tempo: keep only the ticks that show it
                kept = list(self.times)[-(self.recent + 1):]
                self.reset()
                self.times.extend(kept)
                self._fit = self._line()
        else:
            self._strikes = 0

    def _line(self) -> tuple[float, float] | None:
        n = len(self.times)
        if n < max(2, self.min_ticks):
            return None
        t0 = self.times[0]
        ts = [t - t0 for t in self.times]
        mean_k = (n - 1) / 2.0
        mean_t = sum(ts) / n
        sxx = n * (n * n - 1) / 12.0
        sxt = sum((k - mean_k) * (t - mean_t) for k, t in enumerate(ts))
        interval = sxt / sxx
        if interval <= 0:
            return None
        return interval, t0 + mean_t + interval * (n - 1 - mean_k)

    @property
    def bpm(self) -> float | None:
        """The tempo, or None before ``min_ticks`` ticks."""
        return None if self._fit is None else 60.0 / (TICKS_PER_BEAT * self._fit[0])

    @property
    def latest(self) -> float | None:
        """The latest tick's time on the fitted line (its jitter smoothed away)."""
        return None if self._fit is None else self._fit[1]


class ClockFollower:
    """MIDI clock and transport messages -> ``Tempo``, ``Play``, ``Stop``, :class:`Align`.

    Parameters
    ----------
    threshold : float
        BPM the estimate must move before a new ``Tempo`` goes out.
    tolerance : float
        Seconds of phase error the engine leaves alone.
    every : int
        Ticks between tempo checks.
    wall : callable (monotonic seconds -> epoch seconds), optional
    """

    def __init__(self, tempo: TickTempo | None = None, threshold: float = 0.1,
                 tolerance: float = 0.010, every: int = 6,
                 wall: Callable[[float], float] | None = None) -> None:
        self.tempo = tempo or TickTempo()
        self.threshold = threshold
        self.tolerance = tolerance
        self.every = every
        self.wall = wall or (lambda t: t + (time.time() - time.monotonic()))
        self.running = False
        self.position = 0  # ticks since the song's start: the next tick's place
        self.sent_bpm: float | None = None
        self._ticks = 0

    def feed(self, kind: str, t: float, pos: int = 0) -> list[c.Command]:
        """One message of mido type ``kind`` (``clock``, ``start``...) at monotonic ``t``."""
        handler = {"clock": self._tick, "start": self._start, "stop": self._stop,
                   "continue": self._continue, "songpos": self._songpos}.get(kind)
        return handler(t, pos) if handler else []

    def _tick(self, t: float, pos: int) -> list[c.Command]:
        self.tempo.add(t)
        out: list[c.Command] = []
        if self.running:
            if self.position % TICKS_PER_BEAT == 0 and self.tempo.latest is not None:
                out.append(self._align(self.position / TICKS_PER_BEAT, self.tempo.latest))
            self.position += 1
        self._ticks += 1
        bpm = self.tempo.bpm
        if bpm is not None and self._ticks % self.every == 0 and (
                self.sent_bpm is None or abs(bpm - self.sent_bpm) > self.threshold):
            bpm = min(c.MAX_TEMPO, max(c.MIN_TEMPO, round(bpm, 2)))
            self.sent_bpm = bpm
            out.append(c.Tempo(bpm))
        return out

    def _align(self, beat: float, t: float) -> Align:
        return Align(beat, self.tolerance, at=self.wall(t))

    def _start(self, t: float, pos: int) -> list[c.Command]:
        self.running, self.position = True, 0
        return [self._align(0.0, t), c.Play()]

    def _continue(self, t: float, pos: int) -> list[c.Command]:
        self.running = True
        return [self._align(self.position / TICKS_PER_BEAT, t), c.Play()]

    def _stop(self, t: float, pos: int) -> list[c.Command]:
        self.running = False
        return [c.Stop()]

    def _songpos(self, t: float, pos: int) -> list[c.Command]:
        self.position = 6 * int(pos)  # sixteenths -> ticks
        return []
