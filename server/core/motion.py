"""Latent trajectories: immutable, pure functions of musical time.

A trajectory answers one question: where in latent space is the loop at beat
``b``? Because the answer depends on nothing but ``b``, the render worker can
evaluate bars ahead of the clock, in any order, and re-render after a change
without asking anyone. Beats are quarter notes counted from the start of the
performance; latent units are standard-normal units (0 the centre, +-3 the
edge). Every ``at()`` returns a fresh ``float32`` array of shape
``(latent_dim,)``, finite and clipped to +-:data:`LIMIT`.

Contents
--------
Trajectory      the protocol: ``at(beat) -> np.ndarray [shape=(latent_dim,)]``
Still           one point, forever
Glide           linear crossfade between two points over some beats
Morph           the same with a curve: ``linear``, ``smooth`` or ``slerp``
Interp          a static point a fraction of the way between two points
Walk            a smooth seeded noise walk around another trajectory
Switch          one trajectory before a beat, another from it on
Follow          the performer's path pulled towards what the live input was heard playing
switch          build a Switch, dropping segments the new one hides
settle          an equivalent, smaller trajectory for beats >= a given beat
prior_point     a draw from the model's prior (a standard normal where it has none)
on_prior        standard-normal noise as a draw from a prior
as_point        validate and freeze a latent vector
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

#: Latent values are clipped to +-LIMIT: far outside the prior the decoder
#: produces noise, and a runaway sum must never reach the audio.
LIMIT = 4.0

#: Morph curves, in the order the OSC docs list them.
CURVES = ("linear", "smooth", "slerp")

from vamen.server.core.constants import BEATS_PER_BAR


@runtime_checkable
class Trajectory(Protocol):
    """Anything that places the loop in latent space at a given beat."""

    def at(self, beat: float) -> np.ndarray:
        """Latent point at ``beat``: ``np.ndarray [shape=(latent_dim,), dtype=float32]``."""
        ...


def as_point(values, latent_dim: int | None = None) -> np.ndarray:
    """Return ``values`` as a read-only float32 vector, clipped to +-LIMIT.

    Parameters
    ----------
    values : array_like [shape=(latent_dim,)]
    latent_dim : int, optional
        Expected length; checked when given.

    Raises
    ------
    ValueError
        Wrong shape, or a NaN or infinite value.
    """
    point = np.array(values, dtype=np.float64)
    if point.ndim != 1 or point.size == 0 or (latent_dim is not None and point.size != latent_dim):
        want = f"{latent_dim} values" if latent_dim is not None else "a non-empty vector"
        raise ValueError(f"expected {want}, got shape {point.shape}")
    if not np.all(np.isfinite(point)):
        raise ValueError("a latent vector must not contain NaN or infinity")
    out = np.clip(point, -LIMIT, LIMIT).astype(np.float32)
    out.flags.writeable = False
    return out


def prior_point(latent_dim: int, spread: float = 1.0, seed: int | None = None,
                prior: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Draw a point from the model's prior, scaled by ``spread`` about its centre.

    Parameters
    ----------
    latent_dim : int
    spread : float
        How far out, in the prior's standard deviations (1 = the prior itself).
    seed : int or None
        Same seed, same point; None draws fresh entropy.
    prior : (mean, std), each array_like [shape=(latent_dim,)], optional
        Where the model's training loops lie (``LoopModel.prior``); without
        it, the standard normal.

    Returns
    -------
    np.ndarray [shape=(latent_dim,), dtype=float32], read-only, clipped to +-LIMIT.
    """
    rng = np.random.default_rng(seed)
    return as_point(on_prior(rng.standard_normal(latent_dim) * float(spread), prior))


def on_prior(noise: np.ndarray, prior: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Standard-normal ``noise`` as a draw from ``prior`` (mean, std); unchanged without one."""
    if prior is None:
        return noise
    mean, std = (np.asarray(v, dtype=np.float64) for v in prior)
    return mean + std * noise


def _out(x: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(x, nan=0.0, posinf=LIMIT, neginf=-LIMIT), -LIMIT, LIMIT).astype(np.float32)


def _progress(beat: float, start_beat: float, beats: float) -> float:
    """Fraction 0..1 of a move that starts at ``start_beat`` and lasts ``beats``."""
    if beats <= 0:
        return 1.0 if beat >= start_beat else 0.0
    return min(1.0, max(0.0, (beat - start_beat) / beats))


def blend(a: np.ndarray, b: np.ndarray, t: float, curve: str = "linear") -> np.ndarray:
    """Point a fraction ``t`` (0..1) of the way from ``a`` to ``b`` along ``curve``.

    ``smooth`` eases in and out (smoothstep, zero speed at both ends).
    ``slerp`` rotates the direction on the sphere while the norm moves
    linearly, so a path between two prior draws stays on the prior's shell
    (radius ~ sqrt(latent_dim)) instead of cutting through the low-density
    centre as a straight line does (White 2016, "Sampling Generative Networks").
    Endpoints are returned exactly.
    """
    if t <= 0.0:
        return np.array(a, dtype=np.float32)
    if t >= 1.0:
        return np.array(b, dtype=np.float32)
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if curve == "smooth":
        t = t * t * (3.0 - 2.0 * t)
    elif curve == "slerp":
        na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
        if na > 1e-6 and nb > 1e-6:
            ua, ub = a64 / na, b64 / nb
            omega = math.acos(float(np.clip(ua @ ub, -1.0, 1.0)))
            # Nearly parallel or opposite directions: the sphere gives no unique
            # path (or no stable one), so fall back to the straight line.
            if 1e-4 < omega < math.pi - 1e-4:
                s = math.sin(omega)
                direction = (math.sin((1 - t) * omega) * ua + math.sin(t * omega) * ub) / s
                return _out(((1 - t) * na + t * nb) * direction)
    elif curve != "linear":
        raise ValueError(f"unknown curve {curve!r}; use one of {', '.join(CURVES)}")
    return _out(a64 + t * (b64 - a64))


@dataclass(frozen=True, eq=False)
class Still:
    """Stay at ``point`` forever."""

    point: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "point", as_point(self.point))

    def at(self, beat: float) -> np.ndarray:
        return np.array(self.point)


@dataclass(frozen=True, eq=False)
class Morph:
    """Travel from ``start`` to ``end`` between ``start_beat`` and ``start_beat + beats``.

    Before the move it sits at ``start``, after it at ``end`` (both exact).
    ``curve`` is one of :data:`CURVES`; see :func:`blend`.
    """

    start: np.ndarray
    end: np.ndarray
    start_beat: float
    beats: float
    curve: str = "smooth"

    def __post_init__(self) -> None:
        start, end = as_point(self.start), as_point(self.end)
        if start.shape != end.shape:
            raise ValueError(f"start has {start.size} values, end has {end.size}")
        if self.curve not in CURVES:
            raise ValueError(f"unknown curve {self.curve!r}; use one of {', '.join(CURVES)}")
        if not (math.isfinite(self.beats) and self.beats >= 0 and math.isfinite(self.start_beat)):
            raise ValueError("start_beat must be finite and beats finite and >= 0")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def end_beat(self) -> float:
        return self.start_beat + self.beats

    def at(self, beat: float) -> np.ndarray:
        return blend(self.start, self.end, _progress(beat, self.start_beat, self.beats), self.curve)


class Glide(Morph):
    """A linear-in-time :class:`Morph`: what sets and nudges do when glide > 0."""

    def __init__(self, start_point, end_point, start_beat: float, beats: float) -> None:
        super().__init__(start_point, end_point, start_beat, beats, "linear")


@dataclass(frozen=True, eq=False)
class Interp:
    """The static point ``a + fraction * (b - a)``: a crossfader between two points."""

    a: np.ndarray
    b: np.ndarray
    fraction: float

    def __post_init__(self) -> None:
        a, b = as_point(self.a), as_point(self.b)
        if a.shape != b.shape:
            raise ValueError(f"a has {a.size} values, b has {b.size}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be within 0..1, got {self.fraction}")
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "_point", as_point(blend(a, b, self.fraction)))

    @property
    def point(self) -> np.ndarray:
        return self._point  # type: ignore[attr-defined]

    def at(self, beat: float) -> np.ndarray:
        return np.array(self._point)  # type: ignore[attr-defined]


# A handful of sinusoids per dimension with incommensurate, seeded frequencies
# never repeats audibly yet is smooth and evaluable at any beat in any order.
_PARTIALS = 4


@dataclass(frozen=True, eq=False)
class Walk:
    """A smooth, seeded noise walk around ``centre``.

    The offset in each dimension is a sum of :data:`_PARTIALS` sinusoids with
    seeded frequencies (0.5..1.5 cycles per unit of phase) and phases,
    normalised to unit variance, times ``depth``. Phase advances by ``rate``
    per bar, so ``rate`` is roughly the number of swings per bar.

    Parameters
    ----------
    centre : Trajectory
        What the walk circles around; it keeps moving (sets, morphs).
    depth : float
        Standard deviation of the offset, in latent units; 0 = no walk.
    rate : float
        Cycles per bar, roughly.
    seed : int
        Same seed, same path.
    start_beat : float
        Where ``start_phase`` and ``fade_from`` hold.
    start_phase : float, keyword-only
        Phase at ``start_beat``; pass the old walk's :meth:`phase_at` so a
        rate change does not jump.
    fade_from : float or None, keyword-only
        Depth at ``start_beat``, ramping linearly to ``depth`` over
        ``fade_beats``; None = ``depth`` from the start.
    fade_beats : float, keyword-only
    """

    centre: Trajectory
    depth: float
    rate: float
    seed: int
    start_beat: float = 0.0
    _: dataclasses.KW_ONLY
    start_phase: float = 0.0
    fade_from: float | None = None
    fade_beats: float = float(BEATS_PER_BAR)

    def __post_init__(self) -> None:
        for name in ("depth", "rate", "start_beat", "start_phase", "fade_beats"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")
        if self.depth < 0 or self.rate < 0 or (self.fade_from is not None and self.fade_from < 0):
            raise ValueError("depth, rate and fade_from must be >= 0")
        dim = np.asarray(self.centre.at(self.start_beat)).size
        rng = np.random.default_rng([int(self.seed), dim])
        freqs = rng.uniform(0.5, 1.5, size=(_PARTIALS, dim))
        phases = rng.uniform(0.0, 2 * math.pi, size=(_PARTIALS, dim))
        freqs.flags.writeable = phases.flags.writeable = False
        object.__setattr__(self, "_freqs", freqs)
        object.__setattr__(self, "_phases", phases)

    def phase_at(self, beat: float) -> float:
        """Phase of the noise at ``beat`` (in cycles of the slowest partial, roughly)."""
        return self.start_phase + self.rate * (beat - self.start_beat) / BEATS_PER_BAR

    def depth_at(self, beat: float) -> float:
        """Depth in effect at ``beat`` (follows the fade)."""
        if self.fade_from is None:
            return self.depth
        t = _progress(beat, self.start_beat, self.fade_beats)
        return self.fade_from + t * (self.depth - self.fade_from)

    def offset(self, beat: float) -> np.ndarray:
        """The unit-variance noise vector at ``beat``, before ``depth``: ``[shape=(latent_dim,)]``."""
        u = self.phase_at(beat)
        waves = np.sin(2 * math.pi * self._freqs * u + self._phases)  # type: ignore[attr-defined]
        return waves.sum(axis=0) * math.sqrt(2.0 / _PARTIALS)

    def at(self, beat: float) -> np.ndarray:
        centre = np.asarray(self.centre.at(beat), dtype=np.float64)
        depth = self.depth_at(beat)
        if depth == 0.0:
            return _out(centre)
        return _out(centre + depth * self.offset(beat))


@dataclass(frozen=True, eq=False)
class Follow:
    """``own`` (the performer's path) pulled a fraction ``amount`` of the way to ``heard``.

    ``heard`` is where the live input's bars were encoded, each from the bar
    line it lands on (None before any was heard); ``amount`` is a
    one-coordinate trajectory (0 ignores the input, 1 plays the heard point),
    so a change of amount glides like any move.
    """

    own: Trajectory
    heard: Trajectory | None
    amount: Trajectory

    def amount_at(self, beat: float) -> float:
        return min(1.0, max(0.0, float(self.amount.at(beat)[0])))

    def at(self, beat: float) -> np.ndarray:
        own = self.own.at(beat)
        amount = self.amount_at(beat)
        if self.heard is None or amount <= 0.0:
            return own
        return blend(own, self.heard.at(beat), amount)


@dataclass(frozen=True, eq=False)
class Switch:
    """Follow ``before`` until ``beat``, then ``after``: how a change lands."""

    before: Trajectory
    after: Trajectory
    beat: float

    def at(self, beat: float) -> np.ndarray:
        return (self.after if beat >= self.beat else self.before).at(beat)


def switch(before: Trajectory, after: Trajectory, beat: float) -> Trajectory:
    """Build ``Switch(before, after, beat)``, dropping what ``after`` hides.

    Pending changes that would land at or after ``beat`` are overridden by the
    new one, so a knob sending hundreds of values before the next bar line
    never grows a chain longer than the number of distinct landing beats.
    """
    while isinstance(before, Switch) and before.beat >= beat:
        before = before.before
    return Switch(before, after, beat)


def settle(trajectory: Trajectory, beat: float) -> Trajectory:
    """Return an equivalent trajectory for beats >= ``beat``, with history dropped.

    Switches already passed collapse to what follows them, finished moves to
    their end point and finished zero-depth walks to their centre, so a
    performance lasting weeks keeps a trajectory of bounded size.
    """
    if isinstance(trajectory, Switch):
        if trajectory.beat <= beat:
            return settle(trajectory.after, beat)
        return Switch(settle(trajectory.before, beat), settle(trajectory.after, beat), trajectory.beat)
    if isinstance(trajectory, Morph) and trajectory.end_beat <= beat:
        return Still(trajectory.end)
    if isinstance(trajectory, Follow):
        own, amount = settle(trajectory.own, beat), settle(trajectory.amount, beat)
        if trajectory.heard is None or (isinstance(amount, Still) and float(amount.point[0]) <= 0.0):
            return own  # not following, nor about to
        return Follow(own, settle(trajectory.heard, beat), amount)
    if isinstance(trajectory, Walk):
        centre = settle(trajectory.centre, beat)
        if trajectory.depth == 0.0 and trajectory.depth_at(beat) == 0.0:
            return centre
        return dataclasses.replace(trajectory, centre=centre) if centre is not trajectory.centre else trajectory
    return trajectory
