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

Options given on the command line win over the file. An unknown key, a
value of the wrong type or out of range is one clear line and exit status 2,
before anything starts: the same rules as the command line's, from the one
table in :mod:`vamen.server.options`.
"""
from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from .core.constants import CLOCKS, SINKS, ConfigError
from .options import FILE_KEYS, from_file

__all__ = ["CLOCKS", "KEYS", "SINKS", "ConfigError", "read_config"]

#: key -> ServeOptions field: every key vamen.toml may hold (tables aside)
KEYS: dict[str, str] = {key: rule.name for key, rule in FILE_KEYS.items()}


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
        if norm not in FILE_KEYS:
            near = difflib.get_close_matches(norm, [*FILE_KEYS, "link", "files"], n=1, cutoff=0.6)
            hint = f"; did you mean {near[0].replace('_', '-')!r}?" if near else ""
            raise ConfigError(f"{path}: unknown option {key!r}{hint}")
        try:
            field, value = from_file(key, value, path.parent)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        values[field] = value
    return values


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
