"""Live chops: the playing bar cut into equal slices and played back in a new order.

A :class:`Chop` is a step pattern for one bar, as an MPC or Tidal's
``slice`` plays a break: ``steps`` equal steps (1 to 64; 16 is the usual
sixteenth grid), each naming the slice of the bar to play there (0 is the
first, ``REST`` is silence). The bar is cut into as many slices as there are
steps. A step may play its slice backwards, or roll it: its first
``1/count`` played ``count`` times (2 and 4 on a 16-step grid are rolls of
1/32 and 1/64).

:meth:`Chop.apply` cuts a rendered bar this way. It is plain numpy, run by
the render worker right after the model renders the bar, so the slices come
from the bar playing at that moment (a walk or a morph goes on under the
chops) and the audio callback still only copies. Where one piece does not
continue the audio of the piece before it, both sides fade over 2 ms (less
for very short pieces), so no join clicks at any tempo; where it does (the
plain order), nothing is touched, and ``0 1 2 ... 15`` is the loop itself.

:class:`ChopPlan` says which pattern is in force at each beat, so changes
land on the quantisation grid like every other change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .hits import HitBar, HitPlan

MAX_STEPS = 64
REST = -1
MAX_ROLL = 16
FADE_SECONDS = 0.002


@dataclass(frozen=True)
class Chop:
    """One bar's step pattern.

    Attributes
    ----------
    steps : tuple of int
        The slice each step plays (0..len(steps)-1) or ``REST`` (-1).
    reverse : frozenset of int
        Steps that play their slice backwards.
    rolls : tuple of (step, count)
        Steps that repeat the first ``1/count`` of their slice ``count`` times.
    """

    steps: tuple[int, ...]
    reverse: frozenset[int] = field(default_factory=frozenset)
    rolls: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """Why this pattern cannot be played (one sentence), or None."""
        n = len(self.steps)
        if not 1 <= n <= MAX_STEPS:
            return f"a chop has 1 to {MAX_STEPS} steps, got {n}"
        for i, s in enumerate(self.steps):
            if isinstance(s, bool) or not isinstance(s, int) or not REST <= s < n:
                return f"step {i} must be a slice 0..{n - 1} or {REST} (a rest), got {s!r}"
        for i in self.reverse:
            if not 0 <= i < n:
                return f"reversed step must be within 0..{n - 1}, got {i}"
        for i, count in self.rolls:
            if not 0 <= i < n:
                return f"rolled step must be within 0..{n - 1}, got {i}"
            if not 1 <= count <= MAX_ROLL:
                return f"a roll repeats 1 to {MAX_ROLL} times, got {count}"
        return None

    def with_reverse(self, steps) -> "Chop":
        return Chop(self.steps, frozenset(steps), self.rolls)

    def with_rolls(self, rolls) -> "Chop":
        return Chop(self.steps, self.reverse, tuple(sorted(dict(rolls).items())))

    def describe(self) -> str:
        """The pattern in ``/vamen/state``: ``0,0,4,-1`` then ``r`` reversed steps, ``x`` rolls.

        ``0,1,2,3 r2 x3:4`` is four steps, the third backwards, the fourth
        rolled four times.
        """
        text = ",".join(str(s) for s in self.steps)
        if self.reverse:
            text += " r" + ",".join(str(i) for i in sorted(self.reverse))
        if self.rolls:
            text += " x" + ",".join(f"{i}:{k}" for i, k in self.rolls)
        return text

    # -- cutting audio ---------------------------------------------------------
    def pieces(self, length: int) -> list[tuple[int, int, int, bool]]:
        """``(to, from, samples, backwards)`` for each piece of audio of a bar of ``length`` samples.

        A rest is a piece with ``from`` -1. A rolled step is ``count`` pieces.
        """
        n = len(self.steps)
        edges = [round(k * length / n) for k in range(n + 1)]
        rolls = dict(self.rolls)
        out = []
        for k, s in enumerate(self.steps):
            start, size = edges[k], edges[k + 1] - edges[k]
            count = rolls.get(k, 1)
            cuts = [start + round(j * size / count) for j in range(count + 1)]
            for a, b in zip(cuts, cuts[1:]):
                out.append((a, REST if s == REST else edges[s], b - a, k in self.reverse))
        return out

    def apply(self, loop: np.ndarray, sample_rate: int) -> np.ndarray:
        """The bar ``loop`` [shape=(length,)] cut and played by this pattern; a new array."""
        length = len(loop)
        pieces = self.pieces(length)
        out = np.zeros_like(loop)
        fade = max(1, int(FADE_SECONDS * sample_rate))
        for j, (to, src, size, back) in enumerate(pieces):
            if src == REST or size <= 0:
                continue
            piece = np.take(loop, np.arange(src, src + size) % length)
            if back:
                piece = piece[::-1]
            piece = piece.astype(loop.dtype, copy=True)
            f = min(fade, size // 4)
            if f > 0:
                ramp = (0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, f + 2)[1:-1])).astype(loop.dtype)
                if not _continues(pieces[j - 1], pieces[j], length):
                    piece[:f] *= ramp
                if not _continues(pieces[j], pieces[(j + 1) % len(pieces)], length):
                    piece[-f:] *= ramp[::-1]
            out[to:to + size] = piece
        return out


def _continues(a: tuple[int, int, int, bool], b: tuple[int, int, int, bool], length: int) -> bool:
    """Whether piece ``b`` carries on the audio of piece ``a`` with no jump (no fade needed)."""
    if a[1] == REST or b[1] == REST or a[3] or b[3]:
        return False
    return (a[1] + a[2]) % length == b[1] % length


@dataclass(frozen=True)
class ChopPlan:
    """Which pattern (or None, the plain loop) is in force from which beat on, and the hits.

    Hits (:mod:`~vamen.server.core.hits`) own the bars they sound in and the
    bar after; :meth:`cut_at` says how a bar is cut, hits first.
    """

    changes: tuple[tuple[float, Chop | None], ...] = ()
    hits: HitPlan = HitPlan()

    def cut_at(self, beat: float) -> "Chop | HitBar | None":
        """What cuts the bar at ``beat``: its hits if they own it, else the pattern (None: the plain loop)."""
        return self.hits.bar(beat) or self.at(beat)

    def with_hits(self, hits: HitPlan) -> "ChopPlan":
        return ChopPlan(self.changes, hits)

    def at(self, beat: float) -> Chop | None:
        chop = None
        for start, c in self.changes:
            if start <= beat + 1e-9:
                chop = c
            else:
                break
        return chop

    def then(self, from_beat: float, chop: Chop | None, now_beat: float) -> "ChopPlan":
        """A plan with ``chop`` from ``from_beat`` on; what came before ``now_beat`` is forgotten."""
        keep = [(b, c) for b, c in self.changes if b < from_beat]
        current = [x for x in keep if x[0] <= now_beat]
        keep = current[-1:] + [x for x in keep if x[0] > now_beat]
        return ChopPlan(tuple(keep) + ((float(from_beat), chop),), self.hits)
