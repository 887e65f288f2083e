"""The control state and the one object allowed to change it.

:class:`Control` holds where the performance is going (the latent
trajectory, glide, walk, tempo, quantisation, transport, gain, quality,
subscribers, MIDI learn) and changes it one command at a time. It is plain
and synchronous: the engine's control thread calls :meth:`Control.apply` for
each command it takes off the queue, and tests call it directly with any
beat they like. No locks, no sockets, no clock, no torch (``encode`` is
injected).

Every command is validated completely before anything is mutated, so a bad
one (unknown preset, anchor index out of range, unreadable file) gets
``/vamen/error s address s message`` sent to its ``source`` and leaves the
state exactly as it was.

A change to what is heard does not take effect at once: :meth:`Control.apply`
returns a :class:`Change` saying from which beat the audio must follow the
new trajectory or tempo. Changes land on the quantisation grid (the next
multiple of ``quantize`` beats at or after ``now_beat``; ``quantize`` 0 means
the next block), or exactly at ``at_beat`` for a time-tagged command that is
not late. Before the landing beat the trajectory is the old one, so
:attr:`Control.trajectory` is always valid for every beat from now on.

``/vamen/state`` and subscriber feedback are formatted by
:mod:`vamen.server.core.talkback`, which documents the reply format.

Contents
--------
Control         the control state; ``apply(cmd, now_beat, block_beats)``
Change          what the render worker and sink must do, from which beat
WalkSettings    depth, rate, seed of the noise walk (from :mod:`~vamen.server.core.course`)

Where a command's point (anchor, preset, ``random``) leads, and saving
presets, is :mod:`vamen.server.core.points`; a refusal is its :class:`Refused`.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from vamen.server.core import commands as c
from vamen.server.core import motion, talkback
from vamen.server.core.chops import MAX_STEPS, Chop, ChopPlan
from vamen.server.core.constants import BEATS_PER_BAR
from vamen.server.core.hits import MAX_HELD, Hit, HitPlan
from vamen.server.core.course import Course, WalkSettings
from vamen.server.core.points import Points, Refused, first_line, preset_name_for

if TYPE_CHECKING:  # the store is operations' (files); the core only holds one
    from vamen.server.ops.presets import PresetStore

log = logging.getLogger(__name__)

Reply = Callable[[str, list, "tuple[str, int] | None"], "bool | None"]

#: Feedback goes to at most this many subscribers (each expires unless renewed).
MAX_SUBSCRIBERS = 64


@dataclass(frozen=True, eq=False)
class Change:
    """From ``from_beat`` on, the audio must follow these settings.

    Attributes
    ----------
    from_beat : float
        First beat affected. Loops already rendered from here on are stale.
    trajectory : Trajectory
        The whole trajectory, valid for every beat >= now (old before
        ``from_beat``, new after).
    tempo : float
        BPM from ``from_beat``.
    playing : bool
    gain : float
        Linear output gain; the sink applies it at once (``from_beat`` is
        ``now_beat`` when only the gain changed), nothing needs re-rendering.
    quality : int
        Griffin-Lim iterations for loops rendered from ``from_beat``.
    changed : frozenset of str
        Which of ``trajectory``, ``tempo``, ``playing``, ``gain``, ``quality``,
        ``chops`` changed, so the engine can skip needless re-renders.
    chops : ChopPlan
        The chop pattern in force at each beat (:mod:`~vamen.server.core.chops`).
    """

    from_beat: float
    trajectory: motion.Trajectory
    tempo: float
    playing: bool
    gain: float
    quality: int
    changed: frozenset[str]
    chops: ChopPlan = ChopPlan()


class Control:
    """The single owner of the control state.

    Parameters
    ----------
    latent_dim, anchors, presets, seed
        Where commands' points lead: see :class:`~vamen.server.core.points.Points`.
    encode : callable (str -> np.ndarray [shape=(latent_dim,)]), optional
        Encodes an audio file; may raise, its message becomes the error reply.
    reply : callable (address, args, (host, port) or None), optional
        Sends a message; called with None when the command had no source.
        It may return False when the message could not be sent (feedback to
        a subscriber that fails again and again stops).
    extra_state : callable () -> dict, optional
        More ``key: value`` pairs for ``/vamen/state`` (underruns, sinks, ...).
    tempo, quantize, gain, quality : optional
        Initial settings (defaults 120 BPM, 1 beat, 1.0, 32 iterations).
    start : array_like [shape=(latent_dim,)], optional
        Initial point (default: the prior's centre, where the training loops lie).
    prior : (mean, std), optional
        The model's prior, where ``random`` draws (default: a standard normal).
    subscription_expiry : float
        Seconds a ``/vamen/subscribe`` lasts unless renewed (default 60).
    listening : bool
        Whether there is a live input (``--input``) to follow.
    """

    def __init__(self, latent_dim: int, anchors: Mapping[str, Any], presets: PresetStore, *,
                 encode: Callable[[str], np.ndarray] | None = None, reply: Reply | None = None,
                 extra_state: Callable[[], dict] | None = None, tempo: float = 120.0,
                 quantize: float = 1.0, gain: float = 1.0, quality: int = 32,
                 start: Any = None, seed: int | None = None,
                 subscription_expiry: float = talkback.EXPIRY, listening: bool = False,
                 prior: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.latent_dim = int(latent_dim)
        self.points = Points(self.latent_dim, anchors, presets, seed, prior)
        self._encode = encode
        self._reply: Reply = reply if reply is not None else (lambda address, args, to: None)
        self._extra_state = extra_state
        centre = np.zeros(self.latent_dim) if prior is None else prior[0]
        point = motion.as_point(centre if start is None else start, self.latent_dim)
        self._course = Course(point)
        self._glide = 0.0
        self._tempo = float(tempo)
        self._quantize = float(quantize)
        self._playing = True
        self._gain = float(gain)
        self._quality = int(quality)
        self._subscribers = talkback.Subscribers(MAX_SUBSCRIBERS, subscription_expiry)
        self._midi_learn: str | None = None
        self._listening = bool(listening)
        self._chops = ChopPlan()
        self._chop: Chop | None = None  # the latest asked for (in force from its landing beat)

    # -- read-only view --------------------------------------------------------

    trajectory = property(lambda self: self._course.trajectory, doc="Where the loop is at any beat from now on.")
    target = property(lambda self: self._course.target, doc="The point sets and nudges move towards (read-only).")
    glide = property(lambda self: self._glide, doc="Beats a set or nudge takes.")
    walk = property(lambda self: self._course.walk, doc="The current :class:`WalkSettings`.")
    tempo = property(lambda self: self._tempo, doc="BPM (the latest requested).")
    quantize = property(lambda self: self._quantize, doc="Beats between landing points; 0 = next block.")
    playing = property(lambda self: self._playing)
    gain = property(lambda self: self._gain)
    quality = property(lambda self: self._quality, doc="Griffin-Lim iterations.")
    subscribers = property(lambda self: tuple(self._subscribers), doc="Feedback destinations.")
    chop = property(lambda self: self._chop, doc="The latest chop pattern asked for, or None.")
    chops = property(lambda self: self._chops, doc="The :class:`ChopPlan`: the pattern at each beat.")
    midi_learn_target = property(lambda self: self._midi_learn, doc="Pending MIDI-learn target or None.")
    anchor_names = property(lambda self: tuple(self.points.anchors))
    presets = property(lambda self: self.points.presets)

    def heading(self, beat: float, latest: bool = False):
        """What is in force at ``beat`` (a :class:`~vamen.server.core.course.Heading`), for saving the session."""
        return self._course.heading(beat, latest)

    def take_midi_learn(self) -> str | None:
        """Return the pending MIDI-learn target and clear it (the MIDI binding was made)."""
        target, self._midi_learn = self._midi_learn, None
        return target

    def snapshot(self) -> dict[str, Any]:
        """Everything that defines the state, comparable with ``==`` (trajectories by identity)."""
        return {
            "course": self._course.snapshot(), "glide": self._glide,
            "tempo": self._tempo, "quantize": self._quantize, "playing": self._playing,
            "gain": self._gain, "quality": self._quality, "subscribers": tuple(self._subscribers),
            "midi_learn": self._midi_learn, "chop": self._chop, "rng": self.points.rng.bit_generator.state,
            "presets": {n: tuple(self.presets[n].tolist()) for n in self.presets.names()},
        }

    # -- applying commands -----------------------------------------------------

    def landing(self, now_beat: float, block_beats: float, at_beat: float | None = None) -> float:
        """The beat a change made at ``now_beat`` lands on.

        ``at_beat`` (a time-tagged command, converted to beats by the clock)
        wins when it is not in the past. Otherwise: the next multiple of
        ``quantize`` at or after ``now_beat`` (the engine passes the earliest
        beat it can still change), or ``now_beat + block_beats`` when
        ``quantize`` is 0.
        """
        if at_beat is not None and at_beat >= now_beat:
            return float(at_beat)
        if self._quantize <= 0:
            return now_beat + block_beats
        # The tolerance keeps 3.9999999 (float drift) from skipping beat 4.
        return math.ceil(now_beat / self._quantize - 1e-9) * self._quantize

    def apply(self, cmd: c.Command, now_beat: float, block_beats: float, *,
              at_beat: float | None = None) -> Change | None:
        """Carry out one command.

        Parameters
        ----------
        cmd : Command
        now_beat : float
            The earliest beat that can still change.
        block_beats : float
            Length of one audio block in beats (where ``quantize`` 0 lands).
        at_beat : float, optional
            ``cmd.at`` converted to beats, for time-tagged commands.

        Returns
        -------
        Change or None
            None when nothing audible changed, or the command was refused (the
            sender then gets ``/vamen/error``).
        """
        handler = _HANDLERS.get(type(cmd))
        try:
            if handler is None:
                raise Refused(f"not a control command: {type(cmd).__name__}")
            return handler(self, cmd, now_beat, self.landing(now_beat, block_beats, at_beat))
        except Refused as exc:
            log.info("refused %s: %s", cmd.address, exc)
            self._reply("/vamen/error", [cmd.address, str(exc)], cmd.source)
            return None

    def _change(self, from_beat: float, *changed: str) -> Change:
        return Change(from_beat, self._course.trajectory, self._tempo, self._playing, self._gain,
                      self._quality, frozenset(changed), self._chops)

    # -- moving ----------------------------------------------------------------

    def _go(self, target: np.ndarray, now: float, land: float, beats: float = 0.0,
            curve: str = "linear") -> Change:
        self._course.go(target, now, land, beats, curve)
        return self._change(land, "trajectory")

    # -- handlers: each takes (cmd, now_beat, landing beat), validates, then mutates

    def _index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.latent_dim:
            raise Refused(f"coordinate index must be within 0..{self.latent_dim - 1}, got {index!r}")
        return index

    @staticmethod
    def _finite(*values: float) -> None:
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise Refused("values must be finite numbers")

    def _set_latent(self, cmd: c.SetLatent, now: float, land: float) -> Change:
        if not 0 < len(cmd.values) <= self.latent_dim:
            raise Refused(f"expects 1 to {self.latent_dim} values, got {len(cmd.values)}")
        self._finite(*cmd.values)
        target = np.array(self._course.target)
        target[: len(cmd.values)] = cmd.values
        return self._go(target, now, land, self._glide)

    def _set_coord(self, cmd: c.SetCoord, now: float, land: float) -> Change:
        index = self._index(cmd.index)
        self._finite(cmd.value)
        target = np.array(self._course.target)
        target[index] = cmd.value
        return self._go(target, now, land, self._glide)

    def _nudge(self, cmd: c.Nudge, now: float, land: float) -> Change:
        index = self._index(cmd.index)
        self._finite(cmd.delta)
        target = np.array(self._course.target)
        target[index] += cmd.delta
        return self._go(target, now, land, self._glide)

    def _random(self, cmd: c.Random, now: float, land: float) -> Change:
        self._finite(cmd.spread)
        if not 0 <= cmd.spread <= c.MAX_DEPTH or (cmd.seed is not None and cmd.seed < 0):
            raise Refused(f"spread must be within 0..{c.MAX_DEPTH:g} and seed >= 0")
        return self._go(self.points.draw(cmd.spread, cmd.seed), now, land)

    def _morph(self, cmd: c.Morph, now: float, land: float) -> Change:
        self._finite(cmd.beats)
        if cmd.beats < 0 or cmd.curve not in motion.CURVES:
            raise Refused(f"beats must be >= 0 and curve one of {', '.join(motion.CURVES)}")
        (end,) = self.points.resolve(cmd.point)
        return self._go(end, now, land, cmd.beats, cmd.curve)

    def _interp(self, cmd: c.Interp, now: float, land: float) -> Change:
        self._finite(cmd.fraction)
        if not 0.0 <= cmd.fraction <= 1.0:
            raise Refused(f"fraction must be within 0..1, got {cmd.fraction:g}")
        a, b = self.points.resolve(cmd.a, cmd.b)
        return self._go(motion.Interp(a, b, cmd.fraction).point, now, land, self._glide)

    def _anchor(self, cmd: c.Anchor, now: float, land: float) -> Change:
        (point,) = self.points.resolve(cmd.point)
        return self._go(point, now, land)

    def _follow(self, cmd: c.Follow, now: float, land: float) -> Change:
        beats = 0.0 if cmd.beats is None else cmd.beats
        self._finite(cmd.amount, beats)
        if not 0.0 <= cmd.amount <= 1.0 or beats < 0:
            raise Refused(f"amount must be within 0..1 and beats >= 0, got {cmd.amount:g} and {beats:g}")
        if cmd.amount > 0 and not self._listening:
            raise Refused("there is no audio input to follow: start vamen serve with --input NAME "
                          "(vamen devices lists the names)")
        self._course.follow(float(cmd.amount), now, land, float(beats))
        return self._change(land, "trajectory")

    def _heard(self, cmd: c.Heard, now: float, land: float) -> Change | None:
        """A bar of the input, encoded: in force from the next bar line that can still change."""
        try:
            point = motion.as_point(cmd.point, self.latent_dim)
        except ValueError as exc:
            raise Refused(f"the input's bar did not encode to a point: {exc}") from None
        bar_line = math.ceil(now / BEATS_PER_BAR - 1e-9) * BEATS_PER_BAR
        if not self._course.hear(point, now, bar_line):
            return None
        return self._change(bar_line, "trajectory")

    def _walk_cmd(self, cmd: c.Walk, now: float, land: float) -> Change:
        rate = self._course.walk.rate if cmd.rate is None else cmd.rate
        seed = self._course.walk.seed if cmd.seed is None else cmd.seed
        self._finite(cmd.depth, rate)
        if not 0 <= cmd.depth <= c.MAX_DEPTH or not 0 <= rate <= c.MAX_WALK_RATE or seed < 0:
            raise Refused(f"depth must be within 0..{c.MAX_DEPTH:g}, rate 0..{c.MAX_WALK_RATE:g}, seed >= 0")
        if cmd.phase is not None:
            self._finite(cmd.phase)
        self._course.set_walk(WalkSettings(cmd.depth, rate, seed), now, land, phase=cmd.phase)
        return self._change(land, "trajectory")

    # -- handlers: presets and files -------------------------------------------

    def _preset_load(self, cmd: c.PresetLoad, now: float, land: float) -> Change:
        self._finite(cmd.beats)
        if cmd.beats < 0:
            raise Refused(f"beats must be >= 0, got {cmd.beats:g}")
        if not self.points.known(cmd.name):
            raise Refused(f"unknown preset {cmd.name!r}")
        (point,) = self.points.resolve(cmd.name)
        return self._go(point, now, land, cmd.beats, "smooth")

    def _preset_save(self, cmd: c.PresetSave, now: float, land: float) -> None:
        self.points.save(cmd.name, self.trajectory.at(now))

    def _preset_list(self, cmd: c.PresetList, now: float, land: float) -> None:
        self._reply("/vamen/preset/list", self.presets.names(), cmd.source)

    def _anchor_list(self, cmd: c.AnchorList, now: float, land: float) -> None:
        self._reply("/vamen/anchor/list", list(self.points.anchors), cmd.source)

    def _encode_cmd(self, cmd: c.Encode, now: float, land: float) -> Change:
        if self._encode is None:
            raise Refused("encoding is not available: no model is loaded")
        try:
            point = motion.as_point(self._encode(cmd.path), self.latent_dim)
        except Exception as exc:  # the encoder's own errors are one-liners for the sender
            raise Refused(f"cannot encode {cmd.path}: {first_line(exc)}") from None
        return self._keep_encoded(cmd, point, now, land)

    def _keep_encoded(self, cmd: c.Encode | c.Encoded, point: np.ndarray, now: float, land: float) -> Change:
        """Keep an encoded file as a preset, go there, and tell the sender its name."""
        name = preset_name_for(cmd.path)
        self.points.save(name, point)
        change = self._go(point, now, land)
        self._reply("/vamen/encoded", [name], cmd.source)
        return change

    def _encoded(self, cmd: c.Encoded, now: float, land: float) -> Change:
        """An encode finished off this thread: the same outcome as :meth:`_encode_cmd`."""
        if cmd.error:
            raise Refused(cmd.error)
        try:
            point = motion.as_point(cmd.point, self.latent_dim)
        except ValueError as exc:
            raise Refused(f"cannot encode {cmd.path}: {first_line(exc)}") from None
        return self._keep_encoded(cmd, point, now, land)

    # -- handlers: settings ----------------------------------------------------

    def _setting(self, value: float, low: float, high: float, what: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise Refused(f"{what} must be within {low:g}..{high:g}, got {value!r}")
        return float(value)

    def _tempo_cmd(self, cmd: c.Tempo, now: float, land: float) -> Change | None:
        bpm = self._setting(cmd.bpm, c.MIN_TEMPO, c.MAX_TEMPO, "tempo")
        if bpm == self._tempo:
            return None  # Tidal repeats cps on every event
        self._tempo = bpm
        return self._change(land, "tempo")

    def _quantize_cmd(self, cmd: c.Quantize, now: float, land: float) -> None:
        self._quantize = self._setting(cmd.beats, 0.0, c.MAX_QUANTIZE, "quantize")

    def _glide_cmd(self, cmd: c.Glide, now: float, land: float) -> None:
        self._glide = self._setting(cmd.beats, 0.0, math.inf, "glide")

    def _transport(self, cmd: c.Command, now: float, land: float) -> Change | None:
        playing = isinstance(cmd, c.Play)
        if playing == self._playing:
            return None
        self._playing = playing
        return self._change(land, "playing")

    def _gain_cmd(self, cmd: c.Gain, now: float, land: float) -> Change | None:
        gain = self._setting(cmd.gain, 0.0, c.MAX_GAIN, "gain")
        if gain == self._gain:
            return None
        self._gain = gain
        return self._change(now, "gain")

    def _quality_cmd(self, cmd: c.Quality, now: float, land: float) -> Change | None:
        quality = int(self._setting(cmd.iterations, c.MIN_QUALITY, c.MAX_QUALITY, "iterations"))
        if quality != cmd.iterations:
            raise Refused(f"iterations must be a whole number, got {cmd.iterations!r}")
        if quality == self._quality:
            return None
        self._quality = quality
        return self._change(land, "quality")

    # -- handlers: talking back --------------------------------------------------

    def _peer(self, cmd: c.Subscribe | c.Unsubscribe) -> tuple[str, int]:
        try:
            return self._subscribers.peer(cmd.port, cmd.host, cmd.source)
        except ValueError as exc:
            raise Refused(str(exc)) from None

    def _subscribe(self, cmd: c.Subscribe, now: float, land: float) -> None:
        peer = self._peer(cmd)
        try:
            self._subscribers.add(peer)
        except ValueError as exc:
            raise Refused(str(exc)) from None

    def _unsubscribe(self, cmd: c.Unsubscribe, now: float, land: float) -> None:
        self._subscribers.discard(self._peer(cmd))

    def _ping(self, cmd: c.Ping, now: float, land: float) -> None:
        self._reply("/vamen/pong", [], cmd.source)

    def _midi_learn_cmd(self, cmd: c.MidiLearn, now: float, land: float) -> None:
        self._midi_learn = cmd.target

    # -- chops -----------------------------------------------------------------

    def _chop_to(self, chop: Chop | None, now: float, land: float) -> Change:
        self._chop = chop
        self._chops = self._chops.then(land, chop, now)
        return self._change(land, "chops")

    def _chop_steps(self, cmd: c.ChopSteps, now: float, land: float) -> Change:
        if not cmd.steps:  # the plain loop: no pattern, and no hits (held pads let go)
            self._chops = self._chops.with_hits(HitPlan())
            return self._chop_to(None, now, land)
        try:
            chop = Chop(tuple(cmd.steps))
        except ValueError as exc:
            raise Refused(str(exc)) from None
        return self._chop_to(chop, now, land)

    def _chop_detail(self, cmd: c.ChopReverse | c.ChopRoll, now: float, land: float) -> Change:
        if self._chop is None:
            raise Refused("no chop pattern is playing: send /vamen/chop with the steps first")
        try:
            chop = (self._chop.with_reverse(cmd.steps) if isinstance(cmd, c.ChopReverse)
                    else self._chop.with_rolls(cmd.rolls))
        except ValueError as exc:
            raise Refused(str(exc)) from None
        return self._chop_to(chop, now, land)

    def _hits_to(self, hits: HitPlan, land: float) -> Change:
        self._chops = self._chops.with_hits(hits)
        return self._change(land, "chops")

    def _chop_hit(self, cmd: c.ChopHit, now: float, land: float) -> Change:
        try:
            hit = Hit(land, cmd.begin, cmd.end, cmd.speed, cmd.beats or None, cmd.cut)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        return self._hits_to(self._chops.hits.plus(hit, now), land)

    @staticmethod
    def _slice(index: int, slices: int) -> tuple[float, float]:
        if isinstance(slices, bool) or not isinstance(slices, int) or not 1 <= slices <= MAX_STEPS:
            raise Refused(f"slices must be 1..{MAX_STEPS}, got {slices!r}")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < slices:
            raise Refused(f"slice must be within 0..{slices - 1}, got {index!r}")
        return index / slices, (index + 1) / slices

    def _chop_hold(self, cmd: c.ChopHold, now: float, land: float) -> Change:
        begin, end = self._slice(cmd.slice, cmd.slices)
        hits = self._chops.hits.released(land, begin, end)  # pressed again: one roll, from now
        if len(hits.held()) >= MAX_HELD:
            raise Refused(f"at most {MAX_HELD} slices roll at once; release one first")
        step = (end - begin) * BEATS_PER_BAR
        return self._hits_to(hits.plus(Hit(land, begin, end, every=step), now), land)

    def _chop_release(self, cmd: c.ChopRelease, now: float, land: float) -> Change | None:
        begin = end = None
        if cmd.slice is not None:
            begin, end = self._slice(cmd.slice, cmd.slices or 16)
        hits = self._chops.hits.released(land, begin, end)
        return self._hits_to(hits, land) if hits != self._chops.hits else None

    def _state(self, cmd: c.State, now: float, land: float) -> None:
        self._reply("/vamen/state", self.state(now), cmd.source)

    def state(self, now_beat: float) -> list:
        """The ``/vamen/state`` arguments: flat key, value pairs (see :mod:`~vamen.server.core.talkback`)."""
        bar, beat = talkback.bar_and_beat(now_beat)
        values = (
            talkback.latent_string(self.trajectory.at(now_beat)), self.latent_dim, self._tempo,
            self._quantize, int(self._playing), self._gain, self._quality, self._glide,
            self._course.walk.depth, self._course.walk.rate, self._course.walk.seed, bar, beat, len(self.points.anchors),
            len(self.presets), len(self._subscribers), self._midi_learn or "",
            chop.describe() if (chop := self._chops.cut_at(now_beat)) is not None else "",
            self._course.amount_at(now_beat),
            "" if (heard := self._course.heard_at(now_beat)) is None else talkback.latent_string(heard),
        )
        return talkback.state_args(dict(zip(talkback.STATE_KEYS, values)), self._extra_state)

    # -- feedback ----------------------------------------------------------------

    def feedback(self, beat: float) -> list[tuple[str, list]]:
        """Messages for subscribers at ``beat``: ``/vamen/latent f...``, ``/vamen/beat i bar f beat``,
        and ``/vamen/input/latent f...`` once the live input has been heard."""
        return talkback.feedback(self.trajectory.at(beat), beat, self._course.heard_at(beat))

    def tell(self, address: str, args: list) -> None:
        """Send one message to every subscriber (alerts: :mod:`vamen.server.ops.alerts`)."""
        for peer in self._subscribers:
            self._reply(address, args, peer)

    def send_feedback(self, beat: float) -> None:
        """Send :meth:`feedback` to every subscriber through ``reply`` (the engine calls it each beat)."""
        if not len(self._subscribers):
            return
        messages = self.feedback(beat)
        for peer in self._subscribers:
            sent = [self._reply(address, args, peer) for address, args in messages]
            self._subscribers.sent(peer, all(ok is not False for ok in sent))


# One handler per command type (no if/elif ladder); each validates, then mutates.
_HANDLERS: dict[type, Callable[[Control, Any, float, float], Change | None]] = {
    c.SetLatent: Control._set_latent, c.SetCoord: Control._set_coord, c.Nudge: Control._nudge,
    c.Glide: Control._glide_cmd, c.Random: Control._random, c.Morph: Control._morph,
    c.Interp: Control._interp, c.Walk: Control._walk_cmd, c.Follow: Control._follow, c.Heard: Control._heard, c.Anchor: Control._anchor,
    c.Encode: Control._encode_cmd, c.Encoded: Control._encoded, c.PresetSave: Control._preset_save,
    c.PresetLoad: Control._preset_load, c.PresetList: Control._preset_list,
    c.AnchorList: Control._anchor_list,
    c.Tempo: Control._tempo_cmd, c.Quantize: Control._quantize_cmd, c.Play: Control._transport,
    c.Stop: Control._transport, c.Gain: Control._gain_cmd, c.Quality: Control._quality_cmd,
    c.State: Control._state, c.Subscribe: Control._subscribe, c.Unsubscribe: Control._unsubscribe,
    c.Ping: Control._ping, c.MidiLearn: Control._midi_learn_cmd,
    c.ChopSteps: Control._chop_steps, c.ChopReverse: Control._chop_detail, c.ChopRoll: Control._chop_detail,
    c.ChopHit: Control._chop_hit, c.ChopHold: Control._chop_hold, c.ChopRelease: Control._chop_release,
}
