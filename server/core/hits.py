"""Hits: the playing bar used as a one-bar sample, struck at moments.

A :class:`Hit` is what a sampler does with a sample when it is triggered,
as SuperDirt does for TidalCycles: at beat ``at``, play the bar from
``begin`` to ``end`` (fractions of the bar) at ``speed`` (negative plays it
backwards, from ``end`` to ``begin``), for at most ``beats`` beats, and stop
early when a later hit in the same ``cut`` group starts. A held MIDI pad is a
hit that strikes ``every`` beats until it is let go (``until``).

Tidal's ``slice``, ``chop``, ``splice``, ``striate`` and ``randslice`` all
come down to such events (``/dirt/play`` with ``begin``, ``end``, ``speed``,
``legato``, ``cut``); a pad mapped to ``chop/slice`` or ``chop/hold`` is one
too.

**Which bars hits own.** A bar with a hit in it, or with one in the bar
before, plays only its hits: the plain loop (or the step pattern of
:mod:`~vamen.server.core.chops`) is silent there, as a sampler is silent
between its notes. One bar after the last hit has stopped, the plain loop
comes back on a bar line. So the loop and the slices never sound on top of
each other: after TidalCycles' ``hush``, one bar of silence, then the loop.

:meth:`HitBar.apply` cuts one bar this way: plain numpy on the render
worker, like :meth:`Chop.apply`, from the bar that plays at that moment, so a
walk or a morph goes on under the hits. Every strike fades in and out over
2 ms unless it carries on exactly where the strike before it stopped (Tidal's
``chop 16`` of a loop is the loop itself, untouched).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from .constants import BEATS_PER_BAR

MAX_SPEED = 16.0
#: The longest a strike sounds, in beats (a very slow speed would otherwise ring for minutes).
MAX_HIT_BEATS = 64.0
#: Hits remembered at once; the oldest that have stopped sounding are forgotten first.
MAX_HITS = 1024
#: Pads held down at once.
MAX_HELD = 16
FADE_SECONDS = 0.002
_EPS = 1e-6


@dataclass(frozen=True)
class Hit:
    """One trigger of the bar as a sample (see the module docstring)."""

    at: float
    begin: float = 0.0
    end: float = 1.0
    speed: float = 1.0
    beats: float | None = None
    cut: int = 0
    every: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """Why this hit cannot be played (one sentence), or None."""
        for name in ("at", "begin", "end", "speed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return f"{name} must be a finite number, got {value!r}"
        if not 0.0 <= self.begin <= 1.0 or not 0.0 <= self.end <= 1.0:
            return f"begin and end are fractions of the bar, 0 to 1; got {self.begin:g} and {self.end:g}"
        if self.begin > self.end:
            return f"begin ({self.begin:g}) must not be after end ({self.end:g})"
        if abs(self.speed) > MAX_SPEED:
            return f"speed must be within -{MAX_SPEED:g}..{MAX_SPEED:g}, got {self.speed:g}"
        for name in ("beats", "every"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)
                                          and 0.0 < value <= MAX_HIT_BEATS):
                return f"{name} must be above 0 and at most {MAX_HIT_BEATS:g} beats, got {value!r}"
        if isinstance(self.cut, bool) or not isinstance(self.cut, int):
            return f"cut must be a whole number, got {self.cut!r}"
        return None

    def length(self) -> float:
        """Beats one strike sounds for, cut groups aside: the piece at its speed, or ``beats``."""
        if self.speed == 0 or self.end <= self.begin:
            return 0.0
        natural = (self.end - self.begin) * BEATS_PER_BAR / abs(self.speed)
        return min(natural, self.beats or MAX_HIT_BEATS, MAX_HIT_BEATS)

    def strikes(self, low: float, high: float) -> list[float]:
        """The beats this hit strikes at within ``[low, high)``."""
        if self.every is None:
            return [self.at] if low <= self.at < high else []
        first = max(0, math.ceil((low - self.at) / self.every - 1e-9))
        out = []
        beat = self.at + first * self.every
        while beat < high and (self.until is None or beat < self.until - 1e-9):
            out.append(beat)
            beat += self.every
            if len(out) > 4096:  # a bar has at most 64 beats / (1/64) ... never more than this
                break
        return out

    def last_sound(self) -> float:
        """The beat after which it never sounds again (infinity while held)."""
        if self.every is None:
            return self.at + self.length()
        if self.until is None:
            return math.inf
        return max(self.at, self.until) + self.length()


@dataclass(frozen=True)
class Span:
    """One strike as it sounds: from ``start`` (beats from the bar line) for ``length`` beats."""

    start: float
    length: float
    begin: float
    end: float
    speed: float
    fade_in: bool
    fade_out: bool

    @property
    def source(self) -> float:
        """Where in the bar (a fraction) the strike starts reading."""
        return self.begin if self.speed > 0 else self.end

    @property
    def source_end(self) -> float:
        return self.source + self.length * self.speed / BEATS_PER_BAR


def _joined(a: Span, b: Span) -> bool:
    """Whether ``b`` carries on ``a``'s audio with no jump: same speed, same place, same time."""
    gap = (a.source_end - b.source) % 1.0  # the bar loops: its end runs on into its start
    return a.speed == b.speed and abs(a.start + a.length - b.start) < _EPS and min(gap, 1.0 - gap) < _EPS


@dataclass(frozen=True)
class HitBar:
    """How one bar sounds under hits: its spans, times relative to its bar line."""

    bar: int
    spans: tuple[Span, ...]

    def describe(self) -> str:
        """``/vamen/state``'s ``chop`` while hits own the bar: ``hits`` and how many sound in it."""
        return f"hits {len(self.spans)}"

    def apply(self, loop: np.ndarray, sample_rate: int) -> np.ndarray:
        """The bar ``loop`` [shape=(length,)] played by these strikes; a new array (silence elsewhere)."""
        length = len(loop)
        per_beat = length / BEATS_PER_BAR
        out = np.zeros_like(loop)
        fade = max(1, int(FADE_SECONDS * sample_rate))
        for span in self.spans:
            o0 = span.start * per_beat
            o1 = (span.start + span.length) * per_beat
            a, b = max(0, math.ceil(o0 - 1e-9)), min(length, math.ceil(o1 - 1e-9))
            if a >= b:
                continue
            low, high = span.begin * length, max(span.begin * length, span.end * length - 1)
            first = span.source * length + (a - o0) * span.speed  # where sample a reads
            whole = round(first)
            if abs(span.speed) == 1.0 and abs(first - whole) < 1e-6:  # plain or backwards: a copy
                idx = whole + int(span.speed) * np.arange(b - a)
                piece = loop[np.clip(idx, int(math.ceil(low)), int(high))]
            else:  # another speed: read between samples
                position = np.clip(first + np.arange(b - a) * span.speed, low, high)
                piece = np.interp(position, np.arange(length), loop).astype(loop.dtype)
            f = max(1, min(fade, int((o1 - o0) // 4)))
            if span.fade_in and a - o0 < f:
                k = np.arange(a, min(b, math.ceil(o0 + f))) - o0
                piece[:len(k)] *= _ramp(k, f, loop.dtype)
            if span.fade_out and o1 - b < f:
                k = o1 - 1 - np.arange(max(a, math.floor(o1 - f)), b)
                piece[len(piece) - len(k):] *= _ramp(k, f, loop.dtype)
            out[a:b] += piece
        return out


def _ramp(k: np.ndarray, f: int, dtype) -> np.ndarray:
    """A raised-cosine fade: ``k`` samples from the silent edge, over ``f`` samples."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.clip(k, 0, f - 1) + 1) / (f + 1))).astype(dtype)


@dataclass(frozen=True)
class HitPlan:
    """The hits heard lately and to come, sorted by ``at``."""

    hits: tuple[Hit, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.hits)

    def plus(self, hit: Hit, now_beat: float) -> "HitPlan":
        """With ``hit``; hits that stopped sounding two bars before ``now_beat`` are forgotten."""
        keep = [h for h in self.hits if h.last_sound() >= now_beat - 2 * BEATS_PER_BAR]
        at = [h.at for h in keep]
        keep.insert(bisect.bisect_right(at, hit.at), hit)
        if len(keep) > MAX_HITS:
            keep = keep[len(keep) - MAX_HITS:]
        return HitPlan(tuple(keep))

    def held(self) -> list[Hit]:
        return [h for h in self.hits if h.every is not None and h.until is None]

    def released(self, beat: float, begin: float | None = None, end: float | None = None) -> "HitPlan":
        """Held hits (those of ``begin``..``end``, else all) stop striking from ``beat`` on."""
        out = []
        for h in self.hits:
            if (h.every is not None and h.until is None
                    and (begin is None or (abs(h.begin - begin) < _EPS and abs(h.end - (end or 0)) < _EPS))):
                # a tap shorter than a step still strikes once
                h = Hit(h.at, h.begin, h.end, h.speed, h.beats, h.cut, h.every, max(beat, h.at + h.every / 2))
            out.append(h)
        return HitPlan(tuple(out))

    def spans(self, low: float, high: float) -> list[Span]:
        """Every strike sounding within ``[low, high)``, cut groups applied; times in absolute beats."""
        strikes: list[tuple[float, Hit]] = []
        for hit in self.hits:
            reach = hit.length()
            if hit.at >= high or hit.last_sound() < low:
                continue
            for beat in hit.strikes(low - reach, high):
                strikes.append((beat, hit))
        strikes.sort(key=lambda s: s[0])
        next_in_group: dict[int, float] = {}
        lengths = [0.0] * len(strikes)
        for i in range(len(strikes) - 1, -1, -1):
            beat, hit = strikes[i]
            length = hit.length()
            if hit.every is not None:
                length = min(length, hit.every)  # a roll: each strike gives way to the next
            if hit.cut and hit.cut in next_in_group:
                length = min(length, next_in_group[hit.cut] - beat)
            if hit.cut:
                next_in_group[hit.cut] = beat
            lengths[i] = length
        raw = [Span(beat, length, hit.begin, hit.end, hit.speed, True, True)
               for (beat, hit), length in zip(strikes, lengths)
               if length > _EPS and beat + length > low]
        out = []
        for i, span in enumerate(raw):
            joined_before = any(_joined(p, span) for p in raw[max(0, i - 4):i])
            joined_after = any(_joined(span, n) for n in raw[i + 1:i + 5])
            out.append(Span(span.start, span.length, span.begin, span.end, span.speed,
                            not joined_before, not joined_after))
        return out

    def bar(self, beat: float) -> HitBar | None:
        """How the bar holding ``beat`` sounds, if hits own it (a hit in it or in the bar before)."""
        bar = math.floor(beat / BEATS_PER_BAR + 1e-9)
        start = bar * BEATS_PER_BAR
        end = start + BEATS_PER_BAR
        # a little past the bar line too: whether the last strike runs on into the next bar's first
        near = self.spans(start - BEATS_PER_BAR, end + 1e-3) if self.hits else []
        if not any(s.start < end for s in near):
            return None
        spans = tuple(Span(s.start - start, s.length, s.begin, s.end, s.speed, s.fade_in, s.fade_out)
                      for s in near if s.start + s.length > start and s.start < end)
        return HitBar(bar, spans)
