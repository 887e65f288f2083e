"""``vamen.toml``: every option of ``vamen serve`` in a file.

Keys are the long option names with dashes or underscores, e.g.::

    model = "mybreaks.pt"
    host = "127.0.0.1"
    osc-port = 57140
    sink = ["soundcard", "file"]
    device = "USB"
    tempo = 174
    quantize = 1
    quality = 32
    gain = 0.8
    record = "set.wav"
    clock = "link"               # or link = true; "internal" (default), "midi"
    link-offset-ms = 0           # Link: latency vamen cannot measure (an interface, a room)

Network safety and health have keys of their own, and the folders
``/vamen/encode`` may read a table::

    allow = ["192.168.1.0/24"]   # who may send OSC (this machine always may)
    osc-rate = 2000              # messages a second per sender; 0: no limit
    osc-burst = 500
    osc-total = 4000             # messages a second for all heavy senders together
    metrics-port = 9140          # Prometheus /metrics on metrics-host (127.0.0.1)
    log = "vamen.log"            # rotated at log-size ("10M"), log-count files kept
    log-size = "10M"
    log-count = 5
    keep-cpu-awake = true        # CPUs wake fast for the audio (more power; see cpuwake)

    [files]
    allow = ["~/breaks", "."]    # relative to this file's folder

Scenes for the autopilot live in an ``[autopilot]`` table or a file of their
own, ``autopilot = "scenes.toml"`` (read by :mod:`vamen.server.sources.scenes`).

Options given on the command line win over the file. An unknown key or a
value of the wrong type is one clear error, before anything starts.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from vamen.model.errors import VamenError

#: key -> (type, ServeOptions field)
KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "model"), "host": (str, "host"), "osc_port": (int, "osc_port"),
    "sink": ((str, list), "sinks"), "device": (str, "device"), "midi": (str, "midi"),
    "tempo": ((int, float), "tempo"), "quantize": ((int, float), "quantize"),
    "quality": (int, "quality"), "gain": ((int, float), "gain"), "record": (str, "record"),
    "sample_rate": (int, "sample_rate"), "blocksize": (int, "blocksize"),
    "lookahead": ((int, float), "lookahead"), "seed": (int, "seed"), "presets": (str, "presets"),
    "notify": ((str, list), "notify"), "notify_dir": (str, "notify_dir"),
    "scsynth": (str, "scsynth"), "sclang": ((str, list), "sclang"), "sc_buffers": (int, "sc_buffers"),
    "clock": (str, "clock"), "link_offset_ms": ((int, float), "link_offset_ms"),
    "autopilot": (str, "autopilot"),  # a file of scenes; or an [autopilot] table
    # network safety and health (see _safety below)
    "allow": ((str, list), "allow"), "osc_rate": ((int, float), "osc_rate"),
    "osc_burst": (int, "osc_burst"), "osc_total": ((int, float), "osc_total"),
    "metrics_port": (int, "metrics_port"),
    "metrics_host": (str, "metrics_host"), "log": (str, "log"), "log_size": ((int, str), "log_size"),
    "log_count": (int, "log_count"),
    "keep_cpu_awake": (bool, "keep_cpu_awake"),  # vamen.server.audio.cpuwake
}
SINKS = ("soundcard", "file", "supercollider", "notify")
CLOCKS = ("internal", "midi", "link")  # vamen.server.clocks


class ConfigError(VamenError):
    pass


def read_config(path: str | Path) -> dict[str, Any]:
    """Parse and check a config file; returns ServeOptions field -> value."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        norm = key.replace("-", "_")
        if isinstance(value, dict):
            if norm == "files":
                values.update(_files(value, path))
            continue  # tables (midi mappings, autopilot scenes) belong to their own readers
        if norm == "link":  # link = true: the same as clock = "link"
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: link must be true or false")
            if value:
                values["clock"] = "link"
            continue
        if norm not in KEYS:
            raise ConfigError(f"{path}: unknown option {key!r}")
        kind, field = KEYS[norm]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ConfigError(f"{path}: {key} has the wrong type ({type(value).__name__})")
        if field == "sinks":
            value = tuple([value] if isinstance(value, str) else value)
            bad = [s for s in value if s not in SINKS]
            if bad:
                raise ConfigError(f"{path}: unknown sink {bad[0]!r}; sinks are {', '.join(SINKS)}")
        elif field == "clock" and value not in CLOCKS:
            raise ConfigError(f"{path}: unknown clock {value!r}; clocks are {', '.join(CLOCKS)}")
        elif field in ("notify", "sclang"):
            value = tuple([value] if isinstance(value, str) else value)
        elif field in _SAFETY:
            value = _checked(_SAFETY[field], key, value, path)
        elif field in ("model", "record", "presets", "notify_dir", "log", "autopilot"):
            value = (path.parent / value).expanduser()
        values[field] = value
    return values


# -- network safety and health: checked here, so a typo stops serve before it starts

def _networks(value):
    from .sources.guard import parse_networks

    entries = tuple([value] if isinstance(value, str) else value)
    parse_networks(entries)
    return entries


def _at_least(low):
    def check(value):
        if value < low:
            raise ValueError(f"must be >= {low}, got {value}")
        return value
    return check


def _log_size(value):
    from .ops.logfile import parse_size

    return parse_size(value)


_SAFETY = {"allow": _networks, "osc_rate": _at_least(0), "osc_burst": _at_least(1),
           "osc_total": _at_least(0),
           "metrics_port": _at_least(0), "log_size": _log_size, "log_count": _at_least(1)}


def _checked(check, key: str, value, path: Path):
    try:
        return check(value)
    except ValueError as exc:
        raise ConfigError(f"{path}: {key}: {exc}") from None


def _files(table: dict, path: Path) -> dict[str, Any]:
    """``[files] allow = ["~/breaks", ...]``: folders /vamen/encode may read, from the file's folder."""
    unknown = sorted(set(table) - {"allow"})
    if unknown:
        raise ConfigError(f"{path}: unknown option files.{unknown[0]!r}; [files] has allow")
    folders = table.get("allow", [])
    if isinstance(folders, str):
        folders = [folders]
    if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
        raise ConfigError(f"{path}: files.allow must be a list of folders")
    return {"allow_dirs": tuple((path.parent / Path(f).expanduser()) for f in folders)}
