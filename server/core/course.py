"""The course of a performance through latent space: a centre path and a walk.

Performers move the *centre* (sets, nudges, glides, morphs, anchors,
presets); the live input, when followed, pulls that centre towards the
point its last bar was heard at (:class:`~vamen.server.core.motion.Follow`);
a noise *walk*, when on, circles whatever the centre does. Every
change lands at a beat: before it the old course holds, from it the new one,
so :attr:`Course.trajectory` is valid for every beat from now on and the
render worker can re-render any bar it likes. History older than ``now_beat``
is dropped on each change (:func:`vamen.server.core.motion.settle`), so weeks of
changes keep the trajectory small.

Inputs are assumed valid: :class:`~vamen.server.core.control.Control` checks them
before calling, so a refused command never reaches this object.

Contents
--------
Course          ``go()``, ``set_walk()``, ``heading()``, ``trajectory``, ``target``, ``walk``
WalkSettings    depth, rate, seed of the noise walk
Heading         what is in force at a beat, for a restart
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from vamen.server.core import motion

#: A walk fades in, out, or to a new depth over one bar, so it never clicks on.
WALK_FADE_BEATS = 4.0


@dataclass(frozen=True)
class WalkSettings:
    """The noise walk: ``depth`` in latent units (0 = off), ``rate`` cycles per bar, ``seed``."""

    depth: float = 0.0
    rate: float = 0.25
    seed: int = 0


@dataclass(frozen=True, eq=False)
class Heading:
    """Where the course is at one beat and where it is going: what a restart needs.

    Attributes
    ----------
    centre : np.ndarray [shape=(latent_dim,)]
        The centre at the beat (the walk aside).
    target : np.ndarray [shape=(latent_dim,)] or None
        Where a move in progress goes; None when the centre is still.
    beats : float
        Beats left of that move.
    curve : str
    walk : WalkSettings
        The walk in force (the depth it is going to).
    phase : float
        The walk's phase at the beat.
    depth : float
        The walk's depth at the beat (it differs from ``walk.depth`` while fading).
    follow : float
        How much the live input is followed at the beat (0..1).
    follow_to : float
        Where a ``/vamen/follow`` glide in progress goes (``follow`` when none is).
    follow_beats : float
        Beats left of that glide.
    heard : np.ndarray [shape=(latent_dim,)] or None
        The input's point in force at the beat; None before any bar was heard.
    """

    centre: np.ndarray
    target: np.ndarray | None
    beats: float
    curve: str
    walk: WalkSettings
    phase: float
    depth: float
    follow: float = 0.0
    follow_to: float = 0.0
    follow_beats: float = 0.0
    heard: np.ndarray | None = None


class Course:
    """Centre path plus optional walk, changed only at landing beats.

    Parameters
    ----------
    start : np.ndarray [shape=(latent_dim,)]
        Where the performance begins.
    """

    def __init__(self, start: np.ndarray) -> None:
        self._target = motion.as_point(start)
        self._centre: motion.Trajectory = motion.Still(self._target)
        self._walk = WalkSettings()
        self._walker: motion.Walk | None = None
        self._amount: motion.Trajectory = motion.Still(np.zeros(1))  # how much to follow the input
        self._heard: motion.Trajectory | None = None  # where the input's bars were heard
        self._trajectory: motion.Trajectory = self._centre

    trajectory = property(lambda self: self._trajectory, doc="Where the loop is at any beat from now on.")
    target = property(lambda self: self._target, doc="Where the centre is going: sets and nudges start here.")
    walk = property(lambda self: self._walk, doc="The current :class:`WalkSettings`.")
    centre = property(lambda self: self._centre, doc="The centre path, without the walk.")

    def snapshot(self) -> tuple:
        """Comparable state: target values, then the trajectory objects (by identity)."""
        return (tuple(self._target.tolist()), self._centre, self._walker, self._trajectory, self._walk,
                self._amount, self._heard)

    def amount_at(self, beat: float) -> float:
        """How much the input is followed at ``beat`` (0..1)."""
        return min(1.0, max(0.0, float(self._amount.at(beat)[0])))

    def heard_at(self, beat: float) -> np.ndarray | None:
        """The input's point in force at ``beat``, or None before any bar was heard."""
        return None if self._heard is None else self._heard.at(beat)

    def follow(self, amount: float, now_beat: float, from_beat: float, beats: float = 0.0) -> None:
        """Follow the input by ``amount`` (0..1) from ``from_beat``, gliding over ``beats``."""
        start = np.array([self.amount_at(from_beat)])
        segment: motion.Trajectory = (motion.Morph(start, [amount], from_beat, beats, "linear") if beats > 0
                                      else motion.Still([amount]))
        self._amount = motion.switch(motion.settle(self._amount, now_beat), segment, from_beat)
        self._land(self._walker, now_beat, from_beat)

    def hear(self, point: np.ndarray, now_beat: float, from_beat: float) -> bool:
        """The input was heard at ``point``, in force from ``from_beat``: whether the audio follows.

        Heard while not following, the point is kept (following starts from
        it) and the trajectory stays as it was.
        """
        still = motion.Still(motion.as_point(point, self._target.size))
        self._heard = still if self._heard is None else motion.switch(
            motion.settle(self._heard, now_beat), still, from_beat)
        amount = motion.settle(self._amount, now_beat)
        if isinstance(amount, motion.Still) and float(amount.point[0]) <= 0.0:
            return False
        self._land(self._walker, now_beat, from_beat)
        return True

    def _followed(self) -> motion.Trajectory:
        """The centre as heard: pulled towards the input where it is followed."""
        if self._heard is None:
            return self._centre
        return motion.Follow(self._centre, self._heard, self._amount)

    def go(self, target: np.ndarray, now_beat: float, from_beat: float, beats: float = 0.0,
           curve: str = "linear") -> None:
        """Move the centre to ``target``, starting at ``from_beat``, over ``beats`` (0 = jump).

        The move starts wherever the centre is at ``from_beat`` (mid-glide
        included); the walk keeps its path around the new centre.
        """
        target = motion.as_point(target, self._target.size)
        if beats > 0:
            segment: motion.Trajectory = motion.Morph(self._centre.at(from_beat), target, from_beat, beats, curve)
        else:
            segment = motion.Still(target)
        self._centre = motion.switch(motion.settle(self._centre, now_beat), segment, from_beat)
        self._target = target
        self._land(self._walker, now_beat, from_beat)

    def set_walk(self, walk: WalkSettings, now_beat: float, from_beat: float,
                 phase: float | None = None) -> None:
        """Change the walk from ``from_beat``: depth fades over a bar, the phase carries on.

        ``phase`` given: the walk resumes at that phase at full depth at once
        (a restart carrying on from :meth:`heading`).
        """
        old = self._walker
        depth_then = old.depth_at(from_beat) if old is not None else 0.0
        # Same seed: continue the phase so a new rate bends the path instead of jumping.
        phase_then = old.phase_at(from_beat) if old is not None and old.seed == walk.seed else 0.0
        if phase is not None:
            phase_then, depth_then = phase, None
        walker = motion.Walk(self._centre, walk.depth, walk.rate, walk.seed, from_beat,
                             start_phase=phase_then, fade_from=depth_then, fade_beats=WALK_FADE_BEATS)
        self._walk = walk
        self._centre = motion.settle(self._centre, now_beat)
        self._land(walker, now_beat, from_beat)

    def heading(self, beat: float, latest: bool = False) -> "Heading":
        """What is in force at ``beat``, as a restart needs it to carry on.

        Changes landing after ``beat`` are left out, unless ``latest``: then
        the newest change counts even if it lands later (a clean stop keeps
        what the performer asked for last).
        """
        def in_force(t):
            while isinstance(t, motion.Switch):
                t = t.after if latest or t.beat <= beat else t.before
            return t

        piece = in_force(self._centre)
        centre, target, beats, curve = piece.at(beat), None, 0.0, "linear"
        if isinstance(piece, motion.Morph):
            begin = max(beat, piece.start_beat)
            centre = piece.at(begin)
            if piece.end_beat > begin:
                target, beats, curve = piece.end, piece.end_beat - begin, piece.curve
        walker = in_force(self._trajectory)
        if isinstance(walker, motion.Walk):
            walk = WalkSettings(walker.depth, walker.rate, walker.seed)
            phase = walker.phase_at(max(beat, walker.start_beat))
            depth = walker.depth if latest else walker.depth_at(beat)
        else:
            walk, phase, depth = dataclasses.replace(self._walk, depth=0.0), 0.0, 0.0
        amount = in_force(self._amount)
        follow = follow_to = float(amount.at(beat)[0])
        follow_beats = 0.0
        if isinstance(amount, motion.Morph):
            begin = max(beat, amount.start_beat)
            follow, follow_to = float(amount.at(begin)[0]), float(amount.end[0])
            follow_beats = max(0.0, amount.end_beat - begin)
            if latest or follow_beats == 0.0:
                follow, follow_beats = follow_to, 0.0
        heard = None if self._heard is None else np.array(in_force(self._heard).at(beat), dtype=np.float32)
        return Heading(np.array(centre, dtype=np.float32), target, beats, curve, walk, phase, depth,
                       follow, follow_to, follow_beats, heard)

    def _land(self, walker: motion.Walk | None, now_beat: float, from_beat: float) -> None:
        """Wrap the centre in ``walker`` (or not) and switch to the result at ``from_beat``."""
        if walker is not None and walker.depth == 0.0 and walker.depth_at(from_beat) == 0.0:
            walker = None  # faded out: the walk is over
        centre = self._followed()
        if walker is not None:
            walker = dataclasses.replace(walker, centre=centre)
        self._walker = walker
        full = walker if walker is not None else centre
        self._trajectory = motion.switch(motion.settle(self._trajectory, now_beat), full, from_beat)
