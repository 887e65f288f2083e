"""Autopilot scenes and schedule: the ``[autopilot]`` table, read and checked.

An installation runs for weeks with nobody at the knobs. Its performance is
written down as *scenes* (where to wander, how, at what tempo, for how many
bars) and a *schedule* (what the time of day allows: quiet at night)::

    [autopilot]
    order = "sequence"        # or "random": weighted by each scene's weight
    seed = 7                  # same seed, same performance
    idle = 30                 # seconds after the last OSC/MIDI command before it takes over again

    [[autopilot.scene]]
    name = "roam"
    bars = 16
    anchors = [0, 3]          # where to go: anchor indices or names ...
    presets = ["verse"]       # ... presets ...
    centre = [0.5, -1, 0, 0, 0, 0, 0, 0]   # ... and a region: a centre (a point or its name)
    radius = 1.5              #     and a radius, in latent units
    walk = 0.6                # walk depth (0: none) ...
    walk-rate = 0.5           # ... in cycles per bar
    morph-every = 4           # bars between morphs (0: one morph when the scene starts)
    morph-bars = 4            # bars a morph takes [default: morph-every, or 1]
    curve = "smooth"          # linear, smooth or slerp
    jump = 0.05               # chance per bar of a jump straight to a new place
    tempo = [168, 176]        # BPM: a range to pick from when the scene starts, or one number
    weight = 2                # chance against the other scenes when order = "random"

    [[autopilot.schedule]]
    from = "22:00"            # local time; a window may run past midnight
    to = "07:00"
    gain = 0.4
    tempo = [80, 95]
    scenes = ["roam"]         # which scenes may play in the window

Everything is checked before anything starts; a mistake is one line naming
it (:class:`~vamen.server.config.ConfigError`), e.g.
``vamen.toml: [[autopilot.scene]] 'roam': walk must be within 0..4, got 9``.
Names are checked in two steps: :func:`read_flight` needs only the file,
:func:`resolve` needs the model (latent size, anchors) and the presets.

Contents
--------
Scene, Window, Flight     the checked settings (frozen)
read_flight               a TOML table -> Flight, or ConfigError
flight_for                the Flight ``vamen serve``'s options ask for, or None
resolve                   check names and sizes against the model and presets
"""
from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vamen.server.core import commands as c
from vamen.server.core.constants import ConfigError
from vamen.server.core.motion import CURVES, LIMIT
from vamen.server.core.points import anchor_index, near_names

ORDERS = ("sequence", "random")
DEFAULT_IDLE = 30.0
MAX_RADIUS = 2 * LIMIT


@dataclass(frozen=True)
class Scene:
    """One scene: where to wander, how, at what tempo, for how many bars.

    ``anchors`` hold anchor indices once :func:`resolve` has run (names as
    read); ``centre`` is a tuple of coordinates once resolved, None without
    a region. ``tempo`` is ``(low, high)`` BPM or None (leave the tempo).
    """

    name: str
    bars: int
    weight: float = 1.0
    anchors: tuple[int | str, ...] = ()
    presets: tuple[str, ...] = ()
    centre: tuple[float, ...] | int | str | None = None
    radius: float = 0.0
    walk: float = 0.0
    walk_rate: float = 0.25
    morph_every: int = 0
    morph_bars: float = 1.0
    curve: str = "smooth"
    jump: float = 0.0
    tempo: tuple[float, float] | None = None


@dataclass(frozen=True)
class Window:
    """A time of day (minutes after midnight, ``start`` included, ``end`` not) and what it changes."""

    start: int
    end: int
    gain: float | None = None
    tempo: tuple[float, float] | None = None
    scenes: tuple[str, ...] = ()  # empty: every scene

    def holds(self, minute: float) -> bool:
        """Whether ``minute`` (0 <= minute < 1440) falls in the window; it may wrap past midnight."""
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


@dataclass(frozen=True)
class Flight:
    """The whole autopilot: scenes, their order, the schedule, the seed, the idle time."""

    scenes: tuple[Scene, ...]
    order: str = "sequence"
    seed: int | None = None  # None: vamen serve's --seed
    idle: float = DEFAULT_IDLE
    on: bool = True
    gain: float | None = None  # outside the schedule's windows
    schedule: tuple[Window, ...] = ()
    source: str = "vamen.toml"

    def scene(self, name: str) -> Scene | None:
        return next((s for s in self.scenes if s.name == name), None)


# -- reading -----------------------------------------------------------------------------

class _Reader:
    """Pulls typed values out of one TOML table, naming the table in every error."""

    def __init__(self, table: Any, where: str, keys: tuple[str, ...]) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table, got {_kind(table)}")
        self.where = where
        self.table = {k.replace("-", "_"): v for k, v in table.items()}
        for key in table:
            if key.replace("-", "_") not in keys:
                near = difflib.get_close_matches(key.replace("-", "_"), keys, n=1)
                hint = f"; did you mean {near[0].replace('_', '-')}?" if near else \
                    f"; keys are {', '.join(k.replace('_', '-') for k in keys)}"
                raise ConfigError(f"{where}: unknown key {key!r}{hint}")

    def fail(self, key: str, message: str):
        raise ConfigError(f"{self.where}: {key.replace('_', '-')} {message}")

    def has(self, key: str) -> bool:
        return key in self.table

    def number(self, key: str, default, low: float, high: float) -> float:
        value = self.table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(key, f"must be a number, got {_kind(value)}")
        if not low <= value <= high:
            self.fail(key, f"must be within {low:g}..{high:g}, got {value:g}")
        return float(value)

    def whole(self, key: str, default, low: int, high: int) -> int:
        value = self.table.get(key, default)
        if value is None:
            self.fail(key, "is missing")
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, got {_kind(value)}")
        if not low <= value <= high:
            self.fail(key, f"must be within {low}..{high}, got {value}")
        return value

    def text(self, key: str, default, choices: tuple[str, ...] | None = None) -> str:
        value = self.table.get(key, default)
        if value is None:
            self.fail(key, "is missing")
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {_kind(value)}")
        if choices is not None and value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {_kind(value)}")
        return value

    def items(self, key: str) -> list:
        value = self.table.get(key, [])
        if not isinstance(value, list):
            self.fail(key, f"must be a list, got {_kind(value)}")
        return value

    def tempo(self, key: str = "tempo") -> tuple[float, float] | None:
        value = self.table.get(key)
        if value is None:
            return None
        pair = value if isinstance(value, list) else [value]
        if len(pair) not in (1, 2) or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                          for v in pair):
            self.fail(key, f"must be a BPM or a [low, high] range, got {value!r}")
        low, high = float(pair[0]), float(pair[-1])
        if not c.MIN_TEMPO <= low <= high <= c.MAX_TEMPO:
            self.fail(key, f"must be within {c.MIN_TEMPO:g}..{c.MAX_TEMPO:g} BPM, low first, got {value!r}")
        return low, high


def _kind(value: Any) -> str:
    name = {bool: "a boolean", str: "a string", int: "an int", float: "a float", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)
    return f"{name} ({value!r})" if isinstance(value, (int, float, str)) else name


def _clock_time(value: Any, reader: _Reader, key: str) -> int:
    """``"HH:MM"`` -> minutes after midnight."""
    text = value if isinstance(value, str) else ""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2
            and int(hours) < 24 and int(minutes) < 60):
        reader.fail(key, f"must be a time of day such as \"22:00\", got {value!r}")
    return int(hours) * 60 + int(minutes)


_SCENE_KEYS = ("name", "bars", "weight", "anchors", "presets", "centre", "center", "radius", "walk",
               "walk_rate", "morph_every", "morph_bars", "curve", "jump", "tempo")
_WINDOW_KEYS = ("from", "to", "gain", "tempo", "scenes")
_FLIGHT_KEYS = ("scene", "schedule", "order", "seed", "idle", "on", "gain")


def _scene(table: Any, number: int, source: str) -> Scene:
    name = table.get("name") if isinstance(table, dict) else None
    where = f"{source}: [[autopilot.scene]] " + (f"{name!r}" if isinstance(name, str) else f"#{number}")
    r = _Reader(table, where, _SCENE_KEYS)
    name = r.text("name", None)
    anchors = []
    for value in r.items("anchors"):
        if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "" or \
                (isinstance(value, int) and value < 0):
            r.fail("anchors", f"must list anchor indices (>= 0) or names, got {value!r}")
        anchors.append(value)
    presets = []
    for value in r.items("presets"):
        if not isinstance(value, str) or not value:
            r.fail("presets", f"must list preset names, got {value!r}")
        presets.append(value)
    if r.has("centre") and r.has("center"):
        r.fail("centre", "is given twice (centre and center)")
    centre = r.table.get("centre", r.table.get("center"))
    if centre is not None:
        if isinstance(centre, list):
            if not centre or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                 or not math.isfinite(v) for v in centre):
                r.fail("centre", "must be coordinates (a list of numbers), a point name or an anchor index")
            centre = tuple(float(v) for v in centre)
        elif isinstance(centre, bool) or not isinstance(centre, (int, str)) or centre == "" or \
                (isinstance(centre, int) and centre < 0):
            r.fail("centre", f"must be coordinates, a point name or an anchor index, got {centre!r}")
    radius = r.number("radius", 1.0 if centre is not None else 0.0, 0.0, MAX_RADIUS)
    if r.has("radius") and centre is None:
        r.fail("radius", "needs a centre (centre = [...], a preset or anchor name, or an anchor index)")
    every = r.whole("morph_every", 0, 0, 1 << 20)
    return Scene(
        name=name, bars=r.whole("bars", None, 1, 1 << 30),
        weight=r.number("weight", 1.0, 0.0, 1e9), anchors=tuple(anchors), presets=tuple(presets),
        centre=centre, radius=radius,
        walk=r.number("walk", 0.0, 0.0, c.MAX_DEPTH),
        walk_rate=r.number("walk_rate", 0.25, 0.0, c.MAX_WALK_RATE),
        morph_every=every, morph_bars=r.number("morph_bars", float(every or 1), 0.0, 1 << 20),
        curve=r.text("curve", "smooth", CURVES), jump=r.number("jump", 0.0, 0.0, 1.0),
        tempo=r.tempo())


def _window(table: Any, number: int, source: str, names: set[str]) -> Window:
    r = _Reader(table, f"{source}: [[autopilot.schedule]] #{number}", _WINDOW_KEYS)
    for key in ("from", "to"):
        if not r.has(key):
            r.fail(key, "is missing (a time of day such as \"22:00\")")
    start, end = _clock_time(r.table["from"], r, "from"), _clock_time(r.table["to"], r, "to")
    if start == end:
        r.fail("to", "must differ from from (a window of no time, or of all day, is not a window)")
    scenes = []
    for name in r.items("scenes"):
        if name not in names:
            near = difflib.get_close_matches(str(name), sorted(names), n=1)
            r.fail("scenes", f"names no scene {name!r}" + (f"; did you mean {near[0]!r}?" if near else ""))
        scenes.append(name)
    if r.has("scenes") and not scenes:
        r.fail("scenes", "must name at least one scene (leave it out to allow them all)")
    return Window(start, end, r.number("gain", None, 0.0, c.MAX_GAIN), r.tempo(), tuple(scenes))


def read_flight(table: Any, source: str = "vamen.toml") -> Flight:
    """Check an ``[autopilot]`` table (as TOML parses it) and return its :class:`Flight`.

    Raises
    ------
    ConfigError
        One line naming the file, the scene or window, and the key.
    """
    r = _Reader(table, f"{source}: [autopilot]", _FLIGHT_KEYS)
    raw_scenes = r.items("scene")
    if not raw_scenes:
        raise ConfigError(f"{source}: [autopilot] has no scenes: add at least one [[autopilot.scene]] "
                          "with a name and bars")
    scenes = tuple(_scene(t, i + 1, source) for i, t in enumerate(raw_scenes))
    names = [s.name for s in scenes]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{source}: [[autopilot.scene]] {name!r} is named twice")
    order = r.text("order", "sequence", ORDERS)
    if order == "random" and not any(s.weight > 0 for s in scenes):
        r.fail("order", "is random but every scene has weight 0")
    schedule = tuple(_window(t, i + 1, source, set(names)) for i, t in enumerate(r.items("schedule")))
    for window in schedule:
        allowed = [s for s in scenes if not window.scenes or s.name in window.scenes]
        if order == "random" and not any(s.weight > 0 for s in allowed):
            raise ConfigError(f"{source}: [[autopilot.schedule]] {_hhmm(window.start)}-{_hhmm(window.end)} "
                              "allows only scenes of weight 0")
    seed = r.whole("seed", 0, 0, (1 << 63) - 1) if r.has("seed") else None
    return Flight(scenes, order, seed, r.number("idle", DEFAULT_IDLE, 0.0, 1e9), r.flag("on", True),
                  r.number("gain", None, 0.0, c.MAX_GAIN), schedule, source)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"autopilot file {path} not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def flight_for(options) -> Flight | None:
    """The autopilot ``vamen serve`` is asked for, or None.

    ``--autopilot FILE`` (``options.autopilot``) wins over the ``[autopilot]``
    table of ``vamen.toml`` (``options.config``). The file may hold an
    ``[autopilot]`` table (a whole vamen.toml will do) or the table's keys at
    its top level (``[[scene]]``, ``[[schedule]]``, ``order`` ...).
    """
    path = getattr(options, "autopilot", None)
    if path is not None:
        raw = _toml(path)
        table = raw["autopilot"] if isinstance(raw.get("autopilot"), dict) else raw
        return read_flight(table, str(path))
    config = getattr(options, "config", None)
    if config is None or not Path(config).is_file():
        return None
    table = _toml(config).get("autopilot")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{config}: autopilot must be a table ([autopilot]) or a file name")
    return read_flight(table, str(config))


def resolve(flight: Flight, latent_dim: int, anchors: Mapping[str, Any], presets) -> Flight:
    """Check every point a scene names against the model and the presets.

    Anchor names become indices (a preset of the same name cannot then
    shadow them); a named or indexed ``centre`` becomes its coordinates.

    Parameters
    ----------
    latent_dim : int
    anchors : mapping of str to array_like [shape=(latent_dim,)]
        The model's anchors, in order.
    presets : PresetStore (``names()``, ``in``, ``[name]``)
    """
    anchor_names = list(anchors)
    vectors = [np.asarray(v, dtype=np.float64) for v in anchors.values()]

    def fail(scene: Scene, message: str):
        raise ConfigError(f"{flight.source}: [[autopilot.scene]] {scene.name!r}: {message}")

    def anchor(scene: Scene, point: int | str, key: str) -> int:
        if isinstance(point, int):
            if point >= len(anchor_names):
                have = f"0..{len(anchor_names) - 1}" if anchor_names else "none"
                fail(scene, f"{key}: no anchor {point}; this model's anchors are {have}")
            return point
        index = anchor_index(point, anchor_names)
        if index is None:
            what = "preset or anchor" if key == "centre" else "anchor"
            fail(scene, f"{key}: no {what} named {point!r}{near_names(point, anchor_names)} "
                 "(`vamen anchors` lists them)")
        return index

    out = []
    for scene in flight.scenes:
        for name in scene.presets:
            if name not in presets:
                have = ", ".join(presets.names()) or "none yet"
                fail(scene, f"presets: no preset named {name!r} (presets: {have})")
        centre = scene.centre
        if isinstance(centre, tuple):
            if len(centre) > latent_dim:
                fail(scene, f"centre has {len(centre)} coordinates; this model has {latent_dim}")
            # fewer are the first ones, the rest 0, as /vamen/latent takes them: a scene
            # written for a 16-dimensional model still plays on a 32-dimensional one
            centre = centre + (0.0,) * (latent_dim - len(centre))
        elif isinstance(centre, str) and centre in presets:
            centre = tuple(float(v) for v in presets[centre])
        elif centre is not None:
            centre = tuple(vectors[anchor(scene, centre, "centre")].tolist())
        out.append(replace(scene, anchors=tuple(anchor(scene, a, "anchors") for a in scene.anchors),
                           centre=centre))
    return replace(flight, scenes=tuple(out))
