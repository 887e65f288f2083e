"""OSC to commands: the pure translation from a message to typed commands.

:func:`parse` knows nothing of sockets: it turns ``(address, args)`` into a
list of :mod:`~vamen.server.core.commands` objects or raises :class:`BadMessage`
with one clear sentence, which the socket layer (:mod:`vamen.server.sources.oscserver`)
sends back as ``/vamen/error s address s message``. It checks everything that
can be checked without the control state: addresses, argument counts and
types, NaN and infinity, ranges, curve names, preset-name syntax. What needs
the state (does this preset exist? is anchor 40 there?) is the control
thread's job.

Numbers are lenient where clients differ: an int is accepted where a float is
expected (SuperCollider sends ``1`` as an int), and a float with an integral
value where an int is expected (Pure Data and TidalCycles send every number as
a float). Booleans are never numbers. OSC address patterns (``*``, ``?``) are
not expanded: vamen's addresses are meant to be typed in full.

``/dirt/play`` (SuperDirt's address, so TidalCycles can drive vamen directly)
carries a flat ``key, value, ...`` list; only messages with ``s`` equal to
``vamen`` are acted on, others yield no command. Keys:

=========  ==================================================================
``z<i>``   set coordinate ``i``
``preset`` go to a preset (morphing over ``morph`` beats when given)
``anchor`` go to a point (anchor index or name; morphing when ``morph`` given)
``morph``  beats for the move to ``preset`` or ``anchor``; alone it does nothing
``spread`` jump to a random point of that spread (``seed`` makes it repeatable)
``walk``   walk depth (``walkrate`` cycles per bar, ``seed``)
``cps``    tempo: ``bpm = cps * 60 * 4``
=========  ==================================================================

The ``cps`` rule assumes Tidal's default that one cycle is one bar of four
beats; a performer who maps a cycle to another length should send
``/vamen/tempo`` instead. Tidal sends ``cps`` with every event; the control
thread ignores a tempo equal to the current one. Other SuperDirt keys
(``orbit``, ``cycle``, ``delta``, ``n``, ``gain``, ``_id_``, ...) are ignored.

Contents
--------
parse           (address, args, source, at, latent_dim) -> list of commands
BadMessage      the error ``parse`` raises: ``.address`` and ``.message``
ADDRESSES       the addresses ``parse`` understands (``/vamen/latent/<i>`` aside)
"""
from __future__ import annotations

import difflib
import math
import re
from typing import Any, Callable

from vamen.server.core import commands as c
from vamen.server.core.motion import CURVES
from vamen.server.core.points import validate_name
from vamen.server.core.chops import MAX_ROLL, MAX_STEPS, Chop
from vamen.server.core.hits import MAX_HIT_BEATS, Hit

from vamen.server.core.commands import (MAX_DEPTH, MAX_GAIN, MAX_QUALITY, MAX_QUANTIZE, MAX_TEMPO,
                                   MAX_WALK_RATE, MIN_QUALITY, MIN_TEMPO)

from vamen.server.core.constants import BEATS_PER_BAR, CLOCKS


class BadMessage(ValueError):
    """An OSC message vamen refuses, with the sentence that says why.

    Attributes
    ----------
    address : str
        The offending message's address ('' when the packet had none).
    message : str
        One sentence for the performer.
    """

    def __init__(self, address: str, message: str) -> None:
        super().__init__(f"{address}: {message}" if address else message)
        self.address = address
        self.message = message


class _Refuse(Exception):
    """Raised by handlers; parse adds the address."""


# -- argument checks ---------------------------------------------------------


def _describe(value: Any) -> str:
    kind = {bool: "boolean", str: "string", int: "int", float: "float", bytes: "blob",
            type(None): "nil", list: "array"}.get(type(value), type(value).__name__)
    text = repr(value)
    return f"{kind} {text[:40]}{'...' if len(text) > 40 else ''}"


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Refuse(f"{name} must be a number, got {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise _Refuse(f"{name} must be a finite number, got {value}")
    return value


def _integer(value: Any, name: str) -> int:
    number = _number(value, name)
    if not number.is_integer():
        raise _Refuse(f"{name} must be a whole number, got {number}")
    return int(number)


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _Refuse(f"{name} must be a string, got {_describe(value)}")
    return value


def _within(value: float, low: float, high: float, name: str, unit: str = "") -> float:
    if not low <= value <= high:
        raise _Refuse(f"{name} must be within {low:g}..{high:g}{unit}, got {value:g}")
    return value


def _beats(value: Any, name: str = "beats") -> float:
    beats = _number(value, name)
    if beats < 0:
        raise _Refuse(f"{name} must be >= 0, got {beats:g}")
    return beats


def _seed(value: Any) -> int:
    seed = _integer(value, "seed")
    if seed < 0:
        raise _Refuse(f"seed must be >= 0, got {seed}")
    return seed


def _index(value: Any, latent_dim: int, name: str = "index") -> int:
    index = _integer(value, name)
    if not 0 <= index < latent_dim:
        raise _Refuse(f"{name} must be within 0..{latent_dim - 1}, got {index}")
    return index


def _point(value: Any, name: str = "point") -> c.Point:
    """An anchor index, an anchor/preset name or 'random'; existence is checked later."""
    if isinstance(value, str):
        if not value:
            raise _Refuse(f"{name} must not be an empty string")
        return value
    index = _integer(value, f"{name} (anchor index)")
    if index < 0:
        raise _Refuse(f"{name} (anchor index) must be >= 0, got {index}")
    return index


def _name(value: Any) -> str:
    try:
        return validate_name(_string(value, "name"))
    except ValueError as exc:
        raise _Refuse(str(exc)) from None


def _arity(args: list, low: int, high: int, usage: str) -> None:
    if not low <= len(args) <= high:
        raise _Refuse(f"expects {usage or 'no arguments'}; got {len(args)} argument{'s' * (len(args) != 1)}")


# -- handlers ----------------------------------------------------------------

Handler = Callable[[list, int, dict], list]
_HANDLERS: dict[str, Handler] = {}


def _handles(address: str, usage: str, low: int, high: int):
    """Register a handler for ``address`` that takes ``low..high`` arguments."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        def handler(args: list, latent_dim: int, meta: dict) -> list:
            _arity(args, low, high, usage)
            out = fn(args, latent_dim, meta)
            return out if isinstance(out, list) else [out]

        _HANDLERS[address] = handler
        return fn

    return register


@_handles("/vamen/latent", "f ... (one float per coordinate)", 1, 1 << 30)
def _latent(args, dim, meta):
    if len(args) > dim:
        raise _Refuse(f"expects at most {dim} floats (the latent size), got {len(args)}")
    return c.SetLatent(tuple(_number(v, f"value {i}") for i, v in enumerate(args)), **meta)


@_handles("/vamen/nudge", "i index f delta", 2, 2)
def _nudge(args, dim, meta):
    return c.Nudge(_index(args[0], dim), _number(args[1], "delta"), **meta)


@_handles("/vamen/glide", "f beats", 1, 1)
def _glide(args, dim, meta):
    return c.Glide(_beats(args[0]), **meta)


@_handles("/vamen/random", "[f spread] [i seed]", 0, 2)
def _random(args, dim, meta):
    spread = _within(_number(args[0], "spread"), 0.0, MAX_DEPTH, "spread") if args else 1.0
    seed = _seed(args[1]) if len(args) > 1 else None
    return c.Random(spread, seed, **meta)


def _curve(value: Any) -> str:
    curve = _string(value, "curve")
    if curve not in CURVES:
        raise _Refuse(f"unknown curve {curve!r}; use one of {', '.join(CURVES)}")
    return curve


@_handles("/vamen/morph", "point f beats [s curve]", 2, 3)
def _morph(args, dim, meta):
    curve = _curve(args[2]) if len(args) > 2 else "smooth"
    return c.Morph(_point(args[0]), _beats(args[1]), curve, **meta)


@_handles("/vamen/interp", "point point f fraction", 3, 3)
def _interp(args, dim, meta):
    fraction = _within(_number(args[2], "fraction"), 0.0, 1.0, "fraction")
    return c.Interp(_point(args[0], "first point"), _point(args[1], "second point"), fraction, **meta)


def _walk_rate(value: Any, name: str = "rate") -> float:
    return _within(_number(value, name), 0.0, MAX_WALK_RATE, name, " cycles per bar")


@_handles("/vamen/walk", "f depth [f rate] [i seed]", 1, 3)
def _walk(args, dim, meta):
    depth = _within(_number(args[0], "depth"), 0.0, MAX_DEPTH, "depth")
    rate = _walk_rate(args[1]) if len(args) > 1 else None
    seed = _seed(args[2]) if len(args) > 2 else None
    return c.Walk(depth, rate, seed, **meta)


@_handles("/vamen/follow", "f amount (0..1) [f beats]", 1, 2)
def _follow(args, dim, meta):
    amount = _within(_number(args[0], "amount"), 0.0, 1.0, "amount")
    return c.Follow(amount, _beats(args[1]) if len(args) > 1 else None, **meta)


@_handles("/vamen/anchor", "point", 1, 1)
def _anchor(args, dim, meta):
    return c.Anchor(_point(args[0]), **meta)


@_handles("/vamen/encode", "s path", 1, 1)
def _encode(args, dim, meta):
    path = _string(args[0], "path")
    if not path.strip():
        raise _Refuse("path must not be empty")
    return c.Encode(path, **meta)


@_handles("/vamen/preset/save", "s name", 1, 1)
def _preset_save(args, dim, meta):
    return c.PresetSave(_name(args[0]), **meta)


@_handles("/vamen/preset/load", "s name [f beats]", 1, 2)
def _preset_load(args, dim, meta):
    return c.PresetLoad(_name(args[0]), _beats(args[1]) if len(args) > 1 else 0.0, **meta)


@_handles("/vamen/tempo", "f bpm", 1, 1)
def _tempo(args, dim, meta):
    return c.Tempo(_within(_number(args[0], "tempo"), MIN_TEMPO, MAX_TEMPO, "tempo", " BPM"), **meta)


@_handles("/vamen/quantize", "f beats", 1, 1)
def _quantize(args, dim, meta):
    return c.Quantize(_within(_beats(args[0]), 0.0, MAX_QUANTIZE, "beats"), **meta)


@_handles("/vamen/gain", "f gain", 1, 1)
def _gain(args, dim, meta):
    return c.Gain(_within(_number(args[0], "gain"), 0.0, MAX_GAIN, "gain"), **meta)


@_handles("/vamen/quality", "i iterations", 1, 1)
def _quality(args, dim, meta):
    iterations = _integer(args[0], "iterations")
    return c.Quality(int(_within(iterations, MIN_QUALITY, MAX_QUALITY, "iterations")), **meta)


def _chop_step(value: Any, steps: int, name: str) -> int:
    step = _integer(value, name)
    if not 0 <= step < steps:
        raise _Refuse(f"{name} must be within 0..{steps - 1} (the pattern's steps), got {step}")
    return step


@_handles("/vamen/chop", "i ... (one slice per step, -1 a rest; none: the plain loop)", 0, 1 << 30)
def _chop(args, dim, meta):
    if len(args) > MAX_STEPS:
        raise _Refuse(f"a chop has at most {MAX_STEPS} steps, got {len(args)}")
    steps = tuple(_integer(v, f"step {i}") for i, v in enumerate(args))
    if steps:
        try:
            Chop(steps)  # the pattern's own rules, as the control thread applies them
        except ValueError as exc:
            raise _Refuse(str(exc)) from None
    return c.ChopSteps(steps, **meta)


@_handles("/vamen/chop/reverse", "i ... (steps played backwards)", 0, MAX_STEPS)
def _chop_reverse(args, dim, meta):
    return c.ChopReverse(tuple(_chop_step(v, MAX_STEPS, "step") for v in args), **meta)


@_handles("/vamen/chop/roll", "i step i count, ... (pairs)", 0, 2 * MAX_STEPS)
def _chop_roll(args, dim, meta):
    if len(args) % 2:
        raise _Refuse(f"expects pairs of step and count; got {len(args)} arguments")
    pairs = []
    for k in range(0, len(args), 2):
        step = _chop_step(args[k], MAX_STEPS, "step")
        count = _integer(args[k + 1], "count")
        _within(count, 1, MAX_ROLL, "count")
        pairs.append((step, count))
    return c.ChopRoll(tuple(pairs), **meta)


def _hit(begin: Any, end: Any, speed: Any = 1.0, beats: Any = 0.0, cut: Any = 0, *, meta: dict) -> c.ChopHit:
    """A :class:`~vamen.server.core.commands.ChopHit`, checked by the hit's own rules."""
    hit = c.ChopHit(_number(begin, "begin"), _number(end, "end"), _number(speed, "speed"),
                    _number(beats, "beats"), _integer(cut, "cut"), **meta)
    if hit.beats < 0:
        raise _Refuse(f"beats must be 0 (the whole piece) or more, got {hit.beats:g}")
    try:
        Hit(0.0, hit.begin, hit.end, hit.speed, hit.beats or None, hit.cut)
    except ValueError as exc:
        raise _Refuse(str(exc)) from None
    return hit


def _slice_of(args: list) -> tuple[int, int]:
    slices = _integer(args[1], "slices") if len(args) > 1 else 16
    _within(slices, 1, MAX_STEPS, "slices")
    index = _integer(args[0], "slice")
    _within(index, 0, slices - 1, "slice")
    return index, slices


@_handles("/vamen/chop/hit", "f begin f end [f speed] [f beats] [i cut]", 2, 5)
def _chop_hit(args, dim, meta):
    return _hit(*args, meta=meta)


@_handles("/vamen/chop/slice", "i slice [i slices] [f speed]", 1, 3)
def _chop_slice(args, dim, meta):
    index, slices = _slice_of(args)
    speed = args[2] if len(args) > 2 else 1.0
    begin, end = (index / slices, (index + 1) / slices)
    return _hit(begin, end, speed, meta=meta)


@_handles("/vamen/chop/hold", "i slice [i slices]", 1, 2)
def _chop_hold(args, dim, meta):
    return c.ChopHold(*_slice_of(args), **meta)


@_handles("/vamen/chop/release", "[i slice [i slices]]", 0, 2)
def _chop_release(args, dim, meta):
    return c.ChopRelease(*_slice_of(args), **meta) if args else c.ChopRelease(**meta)


def _peer(cls: type, args: list, meta: dict) -> c.Command:
    port = _integer(args[0], "port") if args else None
    if port is not None and not 1 <= port <= 65535:
        raise _Refuse(f"port must be within 1..65535, got {port}")
    host = _string(args[1], "host") if len(args) > 1 else None
    if host is not None and not (0 < len(host) <= 253 and host.isprintable() and " " not in host):
        raise _Refuse(f"host {host!r} is not a host name or address")
    return cls(port, host, **meta)


@_handles("/vamen/subscribe", "[i port] [s host]", 0, 2)
def _subscribe(args, dim, meta):
    return _peer(c.Subscribe, args, meta)


@_handles("/vamen/unsubscribe", "[i port] [s host]", 0, 2)
def _unsubscribe(args, dim, meta):
    return _peer(c.Unsubscribe, args, meta)


@_handles("/vamen/midi/learn", "s target", 1, 1)
def _midi_learn(args, dim, meta):
    target = _string(args[0], "target")
    match = re.fullmatch(r"latent/(\d+)", target)
    if match:
        _index(int(match.group(1)), dim, "latent index")
    elif target not in c.MIDI_TARGETS:
        raise _Refuse(f"unknown target {target!r}; use latent/<i> or one of {', '.join(c.MIDI_TARGETS)}")
    return c.MidiLearn(target, **meta)


@_handles("/vamen/clock", "s name (internal, midi or link)", 1, 1)
def _clock(args, dim, meta):
    name = _string(args[0], "name")
    if name not in CLOCKS:
        raise _Refuse(f"unknown clock {name!r}; clocks are {', '.join(CLOCKS)}")
    return c.UseClock(name, **meta)


@_handles("/vamen/autopilot", "[i on (1) or off (0)]", 0, 1)
def _autopilot(args, dim, meta):
    on = _integer(args[0], "on") if args else None
    if on is not None and on not in (0, 1):
        raise _Refuse(f"on must be 1 (fly) or 0 (off), got {on}")
    return c.AutopilotSwitch(on, **meta)


for _address, _cls in {
    "/vamen/preset/list": c.PresetList,
    "/vamen/anchor/list": c.AnchorList,
    "/vamen/play": c.Play,
    "/vamen/stop": c.Stop,
    "/vamen/state": c.State,
    "/vamen/ping": c.Ping,
}.items():
    _handles(_address, "", 0, 0)(lambda args, dim, meta, _cls=_cls: _cls(**meta))


# -- /dirt/play --------------------------------------------------------------

_DIRT_TRIGGER = "vamen"
#: Keys that make a /dirt/play event a strike of the bar as a sample; without
#: any, an event only steers (the plain loop plays on).
_DIRT_SAMPLE_KEYS = ("begin", "end", "speed", "legato", "sustain", "cut", "unit")


def _dirt_hit(event: dict, meta: dict) -> c.ChopHit:
    """A SuperDirt sample event, as SuperDirt would play a one-bar sample."""
    unit = event.get("unit", "r")
    if unit not in ("r", "c"):
        raise _Refuse(f"unit must be \"r\" (rate) or \"c\" (cycles), got {unit!r}")
    # "c": speed in cycles per sample length; the sample is one bar, a bar is one cycle at vamen's
    # tempo (cps * 240), so it is the same rate as "r"
    cps = _number(event["cps"], "cps") if "cps" in event else None
    beats = 0.0
    if "sustain" in event or "legato" in event:
        if cps is None or cps <= 0:
            raise _Refuse("legato and sustain need cps (TidalCycles sends it with every event)")
        if "sustain" in event:
            seconds = _number(event["sustain"], "sustain")
        else:
            if "delta" not in event:
                raise _Refuse("legato needs delta (TidalCycles sends it with every event)")
            seconds = _number(event["legato"], "legato") * _number(event["delta"], "delta")
        if seconds <= 0:
            raise _Refuse(f"legato and sustain must give a length above 0, got {seconds:g} s")
        beats = min(seconds * cps * BEATS_PER_BAR, MAX_HIT_BEATS)
    return _hit(event.get("begin", 0.0), event.get("end", 1.0), event.get("speed", 1.0), beats,
                event.get("cut", 0), meta=meta)


@_handles("/dirt/play", "key, value, ... pairs", 0, 1 << 30)
def _dirt_play(args, dim, meta):
    if len(args) % 2:
        raise _Refuse(f"expects key, value pairs; got an odd number of arguments ({len(args)})")
    event: dict[str, Any] = {}
    for i in range(0, len(args), 2):
        event[_string(args[i], f"key {i // 2}")] = args[i + 1]
    sound = event.get("s")
    if not isinstance(sound, str) or sound.split(":")[0] != _DIRT_TRIGGER:
        return []  # a sound for SuperDirt, not for us
    if ":" in sound:  # Tidal's "vamen:3" is n 3, as SuperDirt reads it
        number = sound.split(":", 1)[1]
        if not number.isdigit() or len(number) > 9:
            raise _Refuse(f"the part after s \"vamen:\" must be a sample number, got {number!r}")
        event.setdefault("n", int(number))

    out: list[c.Command] = []
    seed = _seed(event["seed"]) if "seed" in event else None
    if "cps" in event:
        bpm = _number(event["cps"], "cps") * 60.0 * BEATS_PER_BAR
        out.append(c.Tempo(_within(bpm, MIN_TEMPO, MAX_TEMPO, "cps * 240", " BPM"), **meta))
    beats = _beats(event["morph"], "morph") if "morph" in event else None
    if "preset" in event:
        out.append(c.PresetLoad(_name(event["preset"]), beats or 0.0, **meta))
    points = [_point(event["anchor"], "anchor")] if "anchor" in event else []
    if "n" in event:  # the n-th anchor, as n picks the n-th sample of a SuperDirt folder
        n = _number(event["n"], "n")
        if n < 0:
            raise _Refuse(f"n must be 0 or more, got {n:g}")
        points.append(c.Nth(int(n)))
    for point in points:
        out.append(c.Morph(point, beats, **meta) if beats else c.Anchor(point, **meta))
    if "spread" in event:
        out.append(c.Random(_within(_number(event["spread"], "spread"), 0.0, MAX_DEPTH, "spread"), seed, **meta))
    coords = sorted((int(k[1:]), v) for k, v in event.items() if re.fullmatch(r"z\d+", k))
    for index, value in coords:
        out.append(c.SetCoord(_index(index, dim, f"z{index}"), _number(value, f"z{index}"), **meta))
    if "walk" in event:
        depth = _within(_number(event["walk"], "walk"), 0.0, MAX_DEPTH, "walk")
        rate = _walk_rate(event["walkrate"], "walkrate") if "walkrate" in event else None
        out.append(c.Walk(depth, rate, seed, **meta))
    if any(key in event for key in _DIRT_SAMPLE_KEYS):
        out.append(_dirt_hit(event, meta))
    return out


#: Every address :func:`parse` understands, besides ``/vamen/latent/<i>``.
ADDRESSES = tuple(sorted(_HANDLERS))

_COORD = re.compile(r"/vamen/latent/(.+)")


def parse(address: str, args: list, source: tuple[str, int] | None, at: float | None,
          latent_dim: int) -> list[c.Command]:
    """Translate one OSC message into commands.

    Parameters
    ----------
    address : str
        The OSC address, e.g. ``/vamen/morph``.
    args : list
        Decoded arguments (python-osc's ``OscMessage.params``).
    source : tuple of (str, int) or None
        Sender, copied into every command as ``source``.
    at : float or None
        Bundle time tag in epoch seconds (None = now), copied into ``at``.
    latent_dim : int
        The model's latent size: bounds indices and ``/vamen/latent`` lengths.

    Returns
    -------
    list of Command
        Always a list: one command per message, except ``/dirt/play`` which
        yields zero (not for ``s=vamen``) or several.

    Raises
    ------
    BadMessage
        Unknown address, wrong argument count or type, NaN or infinity, value
        out of range, unknown curve, bad preset name. Nothing is returned for
        a message with any bad part.
    """
    meta = {"source": source, "at": at}
    args = list(args)
    try:
        match = _COORD.fullmatch(address)
        if match:
            _arity(args, 1, 1, "f value")
            raw = match.group(1)
            if not raw.isdigit():
                raise _Refuse(f"coordinate index must be a whole number, got {raw!r}")
            index = _index(int(raw), latent_dim, "coordinate index")
            return [c.SetCoord(index, _number(args[0], "value"), **meta)]
        handler = _HANDLERS.get(address)
        if handler is None:
            near = difflib.get_close_matches(address, ADDRESSES, n=1, cutoff=0.8)
            raise _Refuse("unknown address" + (f"; did you mean {near[0]}?" if near else ""))
        return handler(args, latent_dim, meta)
    except _Refuse as exc:
        raise BadMessage(address, str(exc)) from None


def __getattr__(name: str):
    # The socket layer lives in its own module (it imports socket and
    # threading); ``from vamen.server.sources.osc import OscServer`` still works.
    if name in ("OscServer", "decode_packet"):
        from vamen.server.sources import oscserver

        return getattr(oscserver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
