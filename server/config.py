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
    "clock": (str, "clock"),
}
SINKS = ("soundcard", "file", "supercollider", "notify")
CLOCKS = ("internal", "midi")


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
            continue  # tables (midi mappings, autopilot scenes) belong to their own readers
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
        elif field in ("model", "record", "presets", "notify_dir"):
            value = (path.parent / value).expanduser()
        values[field] = value
    return values
