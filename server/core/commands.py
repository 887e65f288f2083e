"""Typed control commands: one frozen dataclass per OSC address.

The OSC and MIDI threads only build these objects and put them on the
command queue; the control thread alone acts on them (see
:mod:`vamen.server.core.control`). Each command knows its OSC address and can turn
itself back into an OSC message with :meth:`Command.to_osc`, so tests compare
messages rather than side effects, and ``parse(*cmd.to_osc()) == [cmd]``.

Every command carries two pieces of routing metadata, both keyword-only:

``source``
    ``(host, port)`` where replies and errors go; ``None`` when the command
    did not come from the network (MIDI, tests), so replies are dropped.
``at``
    Wall-clock time (``time.time()`` epoch seconds) from an OSC bundle's time
    tag; ``None`` means "now". The control thread converts it to a beat and
    lands the change there.

A *point* is an anchor index (``int``), an anchor or preset name (``str``) or
the literal string ``"random"`` (:data:`RANDOM`). Commands built inside the
server (the autopilot, a restart) may also give coordinates as a tuple of
floats; OSC never does.

Contents
--------
Command                     base class: ``source``, ``at``, ``address``, ``to_osc()``
SetLatent, SetCoord, Nudge, Glide, Random, Morph, Interp, Walk, Anchor
Encode, Encoded, PresetSave, PresetLoad, PresetList, AnchorList
Follow, Heard               live input: how much to follow it, and what a bar of it encoded to
Tempo, Quantize, Play, Stop, Gain, Quality
State, Subscribe, Unsubscribe, Ping, MidiLearn, AutopilotSwitch
ChopSteps, ChopReverse, ChopRoll   live chops (:mod:`vamen.server.core.chops`)
ChopHit, ChopHold, ChopRelease      the bar struck as a sample (:mod:`vamen.server.core.hits`)
EngineCommand               base of commands that act on the server: ``run(engine)``
UseClock                    ``/vamen/clock``
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Union

#: A place in latent space: anchor index, anchor/preset name, or ``"random"``
#: (or, from inside the server only, coordinates).
Point = Union[int, str, tuple[float, ...]]

class Nth(int):
    """An anchor index that wraps around the anchors, as SuperDirt's ``n`` wraps around a folder."""


#: The point name that means "a fresh draw from the prior".
RANDOM = "random"

#: MIDI-learnable targets besides ``latent/<i>``.
MIDI_TARGETS = (
    "gain",
    "glide",
    "tempo",
    "quality",
    "walk/depth",
    "walk/rate",
    "interp/fraction",
    "random/spread",
)

# Valid ranges, shared by the OSC parser and the control thread (MIDI and
# scripts build commands without going through the parser).
MIN_TEMPO, MAX_TEMPO = 20.0, 400.0
MAX_GAIN = 2.0
MIN_QUALITY, MAX_QUALITY = 1, 512
MAX_QUANTIZE = 64.0
MAX_WALK_RATE = 64.0
#: Largest walk depth and random spread, in latent units (the clip limit).
MAX_DEPTH = 4.0

# Not OSC arguments: routing metadata, and a walk's resume phase (a restart's, never sent).
_META = ("source", "at", "phase")


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base of all control commands.

    Attributes
    ----------
    source : tuple of (str, int) or None
        Where replies go.
    at : float or None
        Epoch seconds at which the command should take effect; None = now.
    """

    source: tuple[str, int] | None = None
    at: float | None = None

    address: ClassVar[str] = ""

    def to_osc(self) -> tuple[str, list[Any]]:
        """Return ``(address, args)``: the OSC message that parses back to this command.

        Optional trailing arguments left at ``None`` are omitted.
        """
        args = [
            getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in _META
        ]
        args = [list(a) if isinstance(a, tuple) else a for a in args]
        while args and args[-1] is None:
            args.pop()
        if any(a is None for a in args):
            raise ValueError(f"{type(self).__name__}: an optional argument is missing before a given one")
        flat: list[Any] = []
        for a in args:
            flat.extend(a) if isinstance(a, list) else flat.append(a)
        return self.address, flat


@dataclass(frozen=True)
class SetLatent(Command):
    """Set coordinates ``0..len(values)-1``; the others keep their targets."""

    values: tuple[float, ...]
    address: ClassVar[str] = "/vamen/latent"


@dataclass(frozen=True)
class SetCoord(Command):
    """Set one coordinate."""

    index: int
    value: float

    @property
    def address(self) -> str:  # type: ignore[override]
        return f"/vamen/latent/{self.index}"

    def to_osc(self) -> tuple[str, list[Any]]:
        return self.address, [self.value]


@dataclass(frozen=True)
class Nudge(Command):
    """Add ``delta`` to coordinate ``index`` (endless encoders)."""

    index: int
    delta: float
    address: ClassVar[str] = "/vamen/nudge"


@dataclass(frozen=True)
class Glide(Command):
    """Beats over which a set or nudge glides (0 = jump)."""

    beats: float
    address: ClassVar[str] = "/vamen/glide"


@dataclass(frozen=True)
class Random(Command):
    """Jump to a draw from the prior, scaled by ``spread``; ``seed`` None = fresh."""

    spread: float = 1.0
    seed: int | None = None
    address: ClassVar[str] = "/vamen/random"


@dataclass(frozen=True)
class Morph(Command):
    """Travel from here to ``point`` over ``beats`` along ``curve``."""

    point: Point
    beats: float
    curve: str = "smooth"
    address: ClassVar[str] = "/vamen/morph"


@dataclass(frozen=True)
class Interp(Command):
    """Sit at ``fraction`` (0..1) of the way from point ``a`` to point ``b``."""

    a: Point
    b: Point
    fraction: float
    address: ClassVar[str] = "/vamen/interp"


@dataclass(frozen=True)
class Walk(Command):
    """Noise walk around the current point; ``depth`` 0 stops it.

    ``rate`` (cycles per bar) and ``seed`` left at None keep their current values.
    ``phase`` (keyword-only, not part of OSC) resumes a walk exactly where a
    saved one was, at full depth at once: how a restart carries on.
    """

    depth: float
    rate: float | None = None
    seed: int | None = None
    phase: float | None = dataclasses.field(default=None, kw_only=True)
    address: ClassVar[str] = "/vamen/walk"


@dataclass(frozen=True)
class Anchor(Command):
    """Jump to a point."""

    point: Point
    address: ClassVar[str] = "/vamen/anchor"


@dataclass(frozen=True)
class Encode(Command):
    """Encode an audio file, go there, keep it as a preset named after the file."""

    path: str
    address: ClassVar[str] = "/vamen/encode"


@dataclass(frozen=True)
class Encoded(Command):
    """What an ``/vamen/encode`` came to, read and encoded off the control thread.

    Not an OSC message: the engine's encode worker builds it once the file
    is encoded (or refused), so the control thread never waits on a file.
    It carries the original ``source`` and ``at``. ``point`` is the file's
    latent point; a non-empty ``error`` is the sentence the sender gets
    instead.
    """

    path: str
    point: tuple[float, ...] = ()
    error: str = ""
    address: ClassVar[str] = "/vamen/encode"


@dataclass(frozen=True)
class Follow(Command):
    """Follow the live input: 0 ignores it, 1 plays the input's point; glide over ``beats``."""

    amount: float
    beats: float | None = None
    address: ClassVar[str] = "/vamen/follow"


@dataclass(frozen=True)
class Heard(Command):
    """One bar of the live input, encoded off the control thread.

    Not an OSC message: the listener (:mod:`vamen.server.render.listener`)
    builds it once the bar that ended on beat ``beat`` is encoded.
    """

    point: tuple[float, ...]
    beat: float
    address: ClassVar[str] = "/vamen/input"


@dataclass(frozen=True)
class PresetSave(Command):
    """Store the current point under ``name``."""

    name: str
    address: ClassVar[str] = "/vamen/preset/save"


@dataclass(frozen=True)
class PresetLoad(Command):
    """Go to preset ``name``, morphing over ``beats`` (0 = jump)."""

    name: str
    beats: float = 0.0
    address: ClassVar[str] = "/vamen/preset/load"


@dataclass(frozen=True)
class PresetList(Command):
    """Reply ``/vamen/preset/list s ...``."""

    address: ClassVar[str] = "/vamen/preset/list"


@dataclass(frozen=True)
class AnchorList(Command):
    """Reply ``/vamen/anchor/list s ...``: the model's anchor names, index 0 first."""

    address: ClassVar[str] = "/vamen/anchor/list"


@dataclass(frozen=True)
class Tempo(Command):
    """Set the tempo in BPM."""

    bpm: float
    address: ClassVar[str] = "/vamen/tempo"


@dataclass(frozen=True)
class Quantize(Command):
    """Where changes land, in beats (0 = next block, 1 = beat, 4 = bar)."""

    beats: float
    address: ClassVar[str] = "/vamen/quantize"


@dataclass(frozen=True)
class Play(Command):
    """Start the transport."""

    address: ClassVar[str] = "/vamen/play"


@dataclass(frozen=True)
class Stop(Command):
    """Stop the transport."""

    address: ClassVar[str] = "/vamen/stop"


@dataclass(frozen=True)
class Gain(Command):
    """Output gain, linear, 0..2."""

    gain: float
    address: ClassVar[str] = "/vamen/gain"


@dataclass(frozen=True)
class Quality(Command):
    """Griffin-Lim iterations (speed against quality)."""

    iterations: int
    address: ClassVar[str] = "/vamen/quality"


@dataclass(frozen=True)
class State(Command):
    """Reply ``/vamen/state`` as key, value pairs."""

    address: ClassVar[str] = "/vamen/state"


@dataclass(frozen=True)
class Subscribe(Command):
    """Send feedback to ``host:port`` (defaults: the sender's)."""

    port: int | None = None
    host: str | None = None
    address: ClassVar[str] = "/vamen/subscribe"


@dataclass(frozen=True)
class Unsubscribe(Command):
    """Stop feedback to ``host:port`` (defaults: the sender's)."""

    port: int | None = None
    host: str | None = None
    address: ClassVar[str] = "/vamen/unsubscribe"


@dataclass(frozen=True)
class Ping(Command):
    """Reply ``/vamen/pong``."""

    address: ClassVar[str] = "/vamen/ping"


@dataclass(frozen=True)
class MidiLearn(Command):
    """Bind the next MIDI CC moved to ``target`` (``latent/3``, ``gain``, ...)."""

    target: str
    address: ClassVar[str] = "/vamen/midi/learn"


@dataclass(frozen=True)
class AutopilotSwitch(Command):
    """Turn the autopilot on (1) or off (0); None only asks. Replies ``/vamen/autopilot``."""

    on: int | None = None
    address: ClassVar[str] = "/vamen/autopilot"


@dataclass(frozen=True)
class ChopSteps(Command):
    """``/vamen/chop i...``: play slice ``steps[k]`` at step ``k`` (-1 rests); none: the plain loop.

    A new pattern starts with no reversed or rolled steps.
    """

    steps: tuple[int, ...] = ()
    address: ClassVar[str] = "/vamen/chop"

    def to_osc(self) -> tuple[str, list[Any]]:
        return self.address, list(self.steps)


@dataclass(frozen=True)
class ChopReverse(Command):
    """``/vamen/chop/reverse i...``: these steps play their slice backwards (none: no step does)."""

    steps: tuple[int, ...] = ()
    address: ClassVar[str] = "/vamen/chop/reverse"

    def to_osc(self) -> tuple[str, list[Any]]:
        return self.address, list(self.steps)


@dataclass(frozen=True)
class ChopRoll(Command):
    """``/vamen/chop/roll i step i count ...``: roll each step ``count`` times (none: no rolls)."""

    rolls: tuple[tuple[int, int], ...] = ()
    address: ClassVar[str] = "/vamen/chop/roll"

    def to_osc(self) -> tuple[str, list[Any]]:
        return self.address, [v for pair in self.rolls for v in pair]


@dataclass(frozen=True)
class ChopHit(Command):
    """``/vamen/chop/hit f begin f end [f speed] [f beats] [i cut]``: strike the bar as a sample.

    Plays ``begin``..``end`` (fractions of the bar) at ``speed`` (negative:
    backwards) for at most ``beats`` beats (0: until the piece runs out),
    stopped by the next hit in the same ``cut`` group (0: none). Lands at the
    bundle's time tag, else the next quantisation point. TidalCycles'
    ``/dirt/play`` events with ``begin``, ``end``, ``speed``, ``legato`` or
    ``cut`` become these (:mod:`vamen.server.core.hits`).
    """

    begin: float = 0.0
    end: float = 1.0
    speed: float = 1.0
    beats: float = 0.0
    cut: int = 0
    address: ClassVar[str] = "/vamen/chop/hit"


@dataclass(frozen=True)
class ChopHold(Command):
    """``/vamen/chop/hold i slice [i slices]``: strike slice ``slice`` of ``slices`` (16) again and again.

    Each strike is one slice long, until :class:`ChopRelease`: a held pad's roll.
    """

    slice: int
    slices: int = 16
    address: ClassVar[str] = "/vamen/chop/hold"


@dataclass(frozen=True)
class ChopRelease(Command):
    """``/vamen/chop/release [i slice [i slices]]``: stop that held slice rolling (none: all of them)."""

    slice: int | None = None
    slices: int | None = None
    address: ClassVar[str] = "/vamen/chop/release"


@dataclass(frozen=True)
class EngineCommand(Command):
    """A command whose effect is on the running server rather than the control state.

    Subclasses define ``run(engine)`` and use only the engine's public
    methods (``use_clock``, ``align``, ``sample_at_time``, ...). They are
    built on the OSC, MIDI or clock threads like every command and carried
    out on the control thread, so each thing still has one owner.
    """

    def run(self, engine) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class UseClock(EngineCommand):
    """``/vamen/clock s name``: hand the lead to another clock, mid-performance.

    A clock that cannot run here (no MIDI input, no Link binding) gets
    ``/vamen/error`` and the old one keeps the lead (see
    :func:`vamen.server.clocks.hand_over`).
    """

    name: str
    address: ClassVar[str] = "/vamen/clock"

    def run(self, engine) -> None:
        engine.use_clock(self.name, self.source)
