"""What a knob or a pad means: the ``[midi]`` table of ``vamen.toml``, checked and typed.

::

    [midi]
    port = "nanoKONTROL"       # input port: a case-insensitive substring of its name
    channel = 0                # 0..15 (0 is MIDI channel 1); omit for all channels
    takeover = true            # soft takeover for absolute knobs (default on)
    feedback = "nanoKONTROL"   # optional output port that gets CC values back

    [midi.cc]
    1 = { target = "latent/0", min = -3, max = 3 }
    7 = { target = "gain", min = 0, max = 1.5, curve = "exp" }
    16 = { target = "latent/3", mode = "relative2c", step = 0.05 }
    2 = { target = "interp/fraction", a = "verse", b = 12 }
    3 = { target = "latent/1", bits = 14 }      # MSB on CC 3, LSB on CC 35
    21 = "walk/depth"                           # the target's default range

    [midi.note]
    36 = "preset/load verse"
    37 = "random"
    38 = "anchor 12"
    39 = "walk/toggle"

    [midi.button]              # buttons that send CCs (127 pressed, 0 released)
    41 = "play"
    42 = "stop"

A knob's value ``x`` (0..1: ``value / 127``, or ``value / 16383`` for a
14-bit pair) becomes ``min + (max - min) * curve(x)``, then is clamped to the
target's limits. ``min`` above ``max`` turns a knob round. Curves:

``linear``  ``x``
``exp``     ``(e^(kx) - 1) / (e^k - 1)``, k = ln 100: slow start, 40 dB of travel for gains
``log``     the inverse of ``exp``: fast start

Relative (endless) encoders send steps, not positions; ``mode`` says how:
``relative2c`` (two's complement: 1..63 up, 127..65 down, as Akai and
Arturia send), ``relative64`` (offset 64: 65 up one, 63 down one, Novation
and Behringer), ``relativesb`` (sign bit: 1..63 up, 65..127 down). Each step
moves the target by ``step`` (default: the range over 127). Latent targets get
``/vamen/nudge``, so steps add up even while a glide runs.

A note action is any OSC command of the contract without its ``/vamen/``
prefix, with arguments after spaces (``preset/load verse``, ``anchor 12``,
``random 0.5``, ``morph chorus 8``, ``play``, ``stop``), plus
``walk/toggle [depth]``, which starts a walk (depth 1 by default, or the last
depth) and stops it. Actions are checked when the file is read, exactly as
OSC messages are; a preset that does not exist yet is the control thread's
business, as it is for OSC. Pads act on note-on; ``[midi.button]`` entries
act when their CC goes from below 64 to 64 or above (a press), for
controllers whose buttons send CCs. A CC is a knob or a button, not both.

Contents
--------
MidiSettings    the whole ``[midi]`` table, checked
CCMapping       one CC: target, range, curve, mode, bits; ``value()``, ``position()``, ``steps()``
NoteAction      one pad: a typed command, or the walk toggle
parse_settings  table -> MidiSettings, or ConfigError with one line
parse_cc        one ``[midi.cc]`` entry -> CCMapping
TARGETS         target -> default range and limits
"""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from vamen.server.core import commands as c
from vamen.server.core.constants import ConfigError

#: Curve steepness: e^K = 100, so an ``exp`` gain knob covers 40 dB.
K = math.log(100.0)
CURVES = ("linear", "exp", "log")
MODES = ("absolute", "relative2c", "relative64", "relativesb")
RELATIVE = MODES[1:]

#: Latent coordinates a knob may reach (the contract's edge is ±3).
LATENT_LIMIT = 8.0


@dataclass(frozen=True)
class Target:
    """Default knob range and hard limits of one target."""

    low: float
    high: float
    limits: tuple[float, float]
    whole: bool = False  # integer values (quality)


#: Targets besides ``latent/<i>``: defaults a learned knob gets, and the limits no range may pass.
TARGETS: dict[str, Target] = {
    "gain": Target(0.0, c.MAX_GAIN, (0.0, c.MAX_GAIN)),
    "glide": Target(0.0, 8.0, (0.0, 64.0)),
    "tempo": Target(60.0, 180.0, (c.MIN_TEMPO, c.MAX_TEMPO)),
    "quality": Target(4.0, 128.0, (c.MIN_QUALITY, c.MAX_QUALITY), whole=True),
    "walk/depth": Target(0.0, 2.0, (0.0, c.MAX_DEPTH)),
    "walk/rate": Target(0.0, 4.0, (0.0, c.MAX_WALK_RATE)),
    "interp/fraction": Target(0.0, 1.0, (0.0, 1.0)),
    "random/spread": Target(0.0, 2.0, (0.0, c.MAX_DEPTH)),
}
LATENT = Target(-3.0, 3.0, (-LATENT_LIMIT, LATENT_LIMIT))
assert set(TARGETS) == set(c.MIDI_TARGETS), "mapping.TARGETS and commands.MIDI_TARGETS disagree"

_LATENT = re.compile(r"latent/(\d+)")
WALK_TOGGLE = "walk/toggle"


def target_info(target: str, latent_dim: int | None = None) -> Target:
    """The :class:`Target` of a name, or ValueError with the sentence that says why not."""
    match = _LATENT.fullmatch(target)
    if match:
        index = int(match.group(1))
        if latent_dim is not None and index >= latent_dim:
            raise ValueError(f"latent index {index} is beyond this model's 0..{latent_dim - 1}")
        return LATENT
    if target in TARGETS:
        return TARGETS[target]
    raise ValueError(f"unknown target {target!r}; targets are latent/<i>, {', '.join(TARGETS)}")


def latent_index(target: str) -> int | None:
    match = _LATENT.fullmatch(target)
    return int(match.group(1)) if match else None


# -- curves ----------------------------------------------------------------------


def shape(x: float, curve: str) -> float:
    """Knob travel ``x`` (0..1) through a curve, 0..1."""
    if curve == "exp":
        return math.expm1(K * x) / math.expm1(K)
    if curve == "log":
        return math.log1p(x * math.expm1(K)) / K
    return x


def unshape(y: float, curve: str) -> float:
    """The inverse of :func:`shape`: where a knob must sit to give ``y`` (0..1)."""
    inverse = {"exp": "log", "log": "exp"}.get(curve, "linear")
    return shape(y, inverse)


def relative_steps(value: int, mode: str) -> int:
    """Signed steps an endless encoder's CC value stands for."""
    value &= 0x7F
    if mode == "relative2c":
        return value - 128 if value >= 64 else value
    if mode == "relative64":
        return value - 64
    if mode == "relativesb":
        return -(value & 0x3F) if value & 0x40 else value
    raise ValueError(f"not a relative mode: {mode!r}")


# -- one CC -----------------------------------------------------------------------


@dataclass(frozen=True)
class CCMapping:
    """One controller number bound to a target.

    ``number`` is the CC (the MSB's, for a 14-bit pair whose LSB is
    ``number + 32``); ``channel`` None listens on every channel the port
    listens on.
    """

    number: int
    target: str
    low: float
    high: float
    curve: str = "linear"
    mode: str = "absolute"
    bits: int = 7
    step: float | None = None
    channel: int | None = None
    a: c.Point = 0
    b: c.Point = 1

    @property
    def relative(self) -> bool:
        return self.mode in RELATIVE

    @property
    def full_scale(self) -> int:
        return (1 << self.bits) - 1

    def clamp(self, value: float) -> float:
        info = target_info(self.target)
        low, high = info.limits
        value = min(high, max(low, value))
        return float(round(value)) if info.whole else value

    def value(self, raw: int) -> float:
        """Target units for a knob position ``raw`` (0..127, or 0..16383 for 14 bits)."""
        x = min(1.0, max(0.0, raw / self.full_scale))
        return self.clamp(self.low + (self.high - self.low) * shape(x, self.curve))

    def position(self, value: float) -> float:
        """Where the knob (0..1) would sit for ``value`` in target units (clamped to its travel)."""
        span = self.high - self.low
        y = min(1.0, max(0.0, (value - self.low) / span))
        return unshape(y, self.curve)

    def raw(self, value: float) -> int:
        """The CC value (0..127) that shows ``value`` on the controller (feedback)."""
        return int(round(self.position(value) * 127))

    def steps(self, raw: int) -> float:
        """Target units a relative encoder's value moves by."""
        step = self.step if self.step is not None else abs(self.high - self.low) / 127.0
        return relative_steps(raw, self.mode) * step

    def to_table(self) -> dict[str, Any]:
        """The entry as ``vamen.toml`` writes it (defaults left out)."""
        table: dict[str, Any] = {"target": self.target, "min": self.low, "max": self.high}
        defaults = CCMapping(0, "", 0, 1)
        for key in ("curve", "mode", "bits", "step", "channel"):
            if getattr(self, key) != getattr(defaults, key):
                table[key] = getattr(self, key)
        if self.target == "interp/fraction":
            table.update(a=self.a, b=self.b)
        return table


@dataclass(frozen=True)
class NoteAction:
    """What a pad does: ``command`` (typed), or the walk toggle with ``depth``."""

    number: int
    text: str
    command: c.Command | None = None
    depth: float | None = None  # walk/toggle: the depth to start at (None: the last one, else 1)
    channel: int | None = None


@dataclass(frozen=True)
class MidiSettings:
    """The ``[midi]`` table, checked."""

    port: str | None = None
    channel: int | None = None
    takeover: bool = True
    feedback: str | None = None
    cc: Mapping[int, CCMapping] = field(default_factory=dict)
    notes: Mapping[int, NoteAction] = field(default_factory=dict)
    buttons: Mapping[int, NoteAction] = field(default_factory=dict)

    def with_cc(self, mapping: CCMapping) -> "MidiSettings":
        """A copy with ``mapping`` bound (replacing any knob or button on the same CC)."""
        buttons = {n: b for n, b in self.buttons.items() if n != mapping.number}
        return replace(self, cc={**self.cc, mapping.number: mapping}, buttons=buttons)


# -- parsing ------------------------------------------------------------------------

_SETTINGS_KEYS = {"port", "channel", "takeover", "feedback", "cc", "note", "button"}
_CC_KEYS = {"target", "min", "max", "curve", "mode", "bits", "step", "channel", "a", "b"}
_NOTE_KEYS = {"action", "channel"}


class _Bad(Exception):
    pass


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Bad(f"{what} must be a number, got {value!r}")
    return float(value)


def _whole(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Bad(f"{what} must be a whole number within {low}..{high}, got {value!r}")
    return value


def _key_number(key: str, what: str, high: int = 127) -> int:
    if not str(key).isdigit() or not 0 <= int(key) <= high:
        raise _Bad(f"{what} {key!r} is not a number within 0..{high}")
    return int(key)


def _point(value: Any, what: str) -> c.Point:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Bad(f"{what} must be an anchor index or a name, got {value!r}")
    return value


def parse_cc(number: int, entry: Any, latent_dim: int | None = None) -> CCMapping:
    """One ``[midi.cc]`` entry (a target string, or a table) -> :class:`CCMapping`.

    Raises ValueError with one sentence for the performer.
    """
    try:
        return _parse_cc(number, entry, latent_dim)
    except _Bad as exc:
        raise ValueError(str(exc)) from None


def _parse_cc(number: int, entry: Any, latent_dim: int | None) -> CCMapping:
    if isinstance(entry, str):
        entry = {"target": entry}
    if not isinstance(entry, dict):
        raise _Bad(f"must be a target name or a table such as {{ target = \"gain\" }}, got {entry!r}")
    unknown = sorted(set(entry) - _CC_KEYS)
    if unknown:
        raise _Bad(f"unknown key {unknown[0]!r}; keys are {', '.join(sorted(_CC_KEYS))}")
    if "target" not in entry or not isinstance(entry["target"], str):
        raise _Bad("needs target = \"latent/<i>\" or one of " + ", ".join(TARGETS))
    target = entry["target"]
    try:
        info = target_info(target, latent_dim)
    except ValueError as exc:
        raise _Bad(str(exc)) from None
    low = _number(entry.get("min", info.low), "min")
    high = _number(entry.get("max", info.high), "max")
    if low == high:
        raise _Bad(f"min and max are both {low:g}: the knob would do nothing")
    for value, name in ((low, "min"), (high, "max")):
        if not info.limits[0] <= value <= info.limits[1]:
            raise _Bad(f"{name} {value:g} is outside {target}'s {info.limits[0]:g}..{info.limits[1]:g}")
    curve = entry.get("curve", "linear")
    if curve not in CURVES:
        raise _Bad(f"unknown curve {curve!r}; curves are {', '.join(CURVES)}")
    mode = entry.get("mode", "absolute")
    if mode not in MODES:
        raise _Bad(f"unknown mode {mode!r}; modes are {', '.join(MODES)}")
    bits = entry.get("bits", 7)
    if bits not in (7, 14) or isinstance(bits, bool):
        raise _Bad(f"bits must be 7 or 14 (an MSB/LSB pair), got {bits!r}")
    if bits == 14 and (number > 31 or mode != "absolute"):
        raise _Bad("a 14-bit knob is an absolute MSB on CC 0..31 (its LSB is CC + 32)")
    if mode != "absolute" and target in ("interp/fraction",):
        raise _Bad(f"{target} needs an absolute knob")
    step = entry.get("step")
    if step is not None:
        step = _number(step, "step")
    channel = entry.get("channel")
    if channel is not None:
        channel = _whole(channel, "channel", 0, 15)
    a = _point(entry.get("a", 0), "a")
    b = _point(entry.get("b", 1), "b")
    return CCMapping(number, target, low, high, curve, mode, bits, step, channel, a, b)


def _tokens(text: str) -> list[Any]:
    """``preset/load "my verse" 4`` -> ['preset/load', 'my verse', 4]: numbers become numbers."""
    out: list[Any] = []
    for word in shlex.split(text):
        if re.fullmatch(r"[+-]?\d+", word):
            out.append(int(word))
        elif re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", word):
            out.append(float(word))
        else:
            out.append(word)
    return out


def parse_action(number: int, text: Any, latent_dim: int, channel: int | None = None) -> NoteAction:
    """One ``[midi.note]`` action string -> :class:`NoteAction` (ValueError if it is not one)."""
    from vamen.server.sources.osc import BadMessage, parse

    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"must be an action such as \"preset/load verse\", got {text!r}")
    try:
        words = _tokens(text)
    except ValueError as exc:  # unbalanced quotes
        raise ValueError(f"cannot read action {text!r}: {exc}") from None
    name, args = str(words[0]).strip("/"), words[1:]
    if name.startswith("vamen/"):
        name = name[len("vamen/"):]  # the full OSC address is fine too
    if name == WALK_TOGGLE:
        if len(args) > 1 or (args and (isinstance(args[0], str) or not 0 < args[0] <= c.MAX_DEPTH)):
            raise ValueError(f"walk/toggle takes one depth within 0..{c.MAX_DEPTH:g}, got {text!r}")
        return NoteAction(number, text, depth=float(args[0]) if args else None, channel=channel)
    try:
        (command,) = parse(f"/vamen/{name}", args, None, None, latent_dim)
    except BadMessage as exc:
        raise ValueError(f"action {text!r}: {exc.message}") from None
    except ValueError:  # /dirt/play and friends give no single command
        raise ValueError(f"action {text!r} is not one vamen command") from None
    return NoteAction(number, text, command=command, channel=channel)


def parse_settings(table: Mapping[str, Any], latent_dim: int, where: str = "vamen.toml") -> MidiSettings:
    """Check a ``[midi]`` table; :class:`ConfigError` with one line names the bad entry."""
    path = "midi"
    try:
        unknown = sorted(set(table) - _SETTINGS_KEYS)
        if unknown:
            raise _Bad(f"unknown key {unknown[0]!r}; keys are {', '.join(sorted(_SETTINGS_KEYS))}")
        port = table.get("port")
        if port is not None and (not isinstance(port, str) or not port.strip()):
            raise _Bad(f"port must be a name (a substring of the port's), got {port!r}")
        feedback = table.get("feedback")
        if feedback is not None and (not isinstance(feedback, str) or not feedback.strip()):
            raise _Bad(f"feedback must be an output port name, got {feedback!r}")
        channel = table.get("channel")
        if channel is not None:
            channel = _whole(channel, "channel (0 is MIDI channel 1)", 0, 15)
        takeover = table.get("takeover", True)
        if not isinstance(takeover, bool):
            raise _Bad(f"takeover must be true or false, got {takeover!r}")
        cc: dict[int, CCMapping] = {}
        ccs = table.get("cc", {})
        if not isinstance(ccs, dict):
            raise _Bad("cc must be a table: [midi.cc]")
        for key, entry in ccs.items():
            path = f"midi.cc.{key}"
            number = _key_number(key, "CC")
            cc[number] = _parse_cc(number, entry, latent_dim)
        for mapping in cc.values():
            if mapping.bits == 14 and mapping.number + 32 in cc:
                path = f"midi.cc.{mapping.number + 32}"
                raise _Bad(f"CC {mapping.number + 32} is the LSB of 14-bit CC {mapping.number}")
        actions: dict[str, dict[int, NoteAction]] = {"note": {}, "button": {}}
        for kind, found in actions.items():
            raw = table.get(kind, {})
            if not isinstance(raw, dict):
                raise _Bad(f"{kind} must be a table: [midi.{kind}]")
            for key, entry in raw.items():
                path = f"midi.{kind}.{key}"
                number = _key_number(key, "note" if kind == "note" else "CC")
                if kind == "button" and number in cc:
                    raise _Bad(f"CC {number} is a knob in [midi.cc] already")
                found[number] = _parse_action_entry(number, entry, latent_dim)
    except _Bad as exc:
        raise ConfigError(f"{where}: {path}: {exc}") from None
    return MidiSettings(port.strip() if port else None, channel, takeover,
                        feedback.strip() if feedback else None, cc, actions["note"],
                        actions["button"])


def _parse_action_entry(number: int, entry: Any, latent_dim: int) -> NoteAction:
    channel = None
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - _NOTE_KEYS)
        if unknown or "action" not in entry:
            raise _Bad("an action table needs action = \"...\" and may have channel")
        if entry.get("channel") is not None:
            channel = _whole(entry["channel"], "channel", 0, 15)
        entry = entry["action"]
    try:
        return parse_action(number, entry, latent_dim, channel)
    except ValueError as exc:
        raise _Bad(str(exc)) from None
