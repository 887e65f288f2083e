"""``midi-learned.toml``: the knobs MIDI learn bound, kept beside the config file.

vamen never rewrites a performer's ``vamen.toml`` (its comments and layout
are theirs). What learn binds goes to a file vamen owns entirely, in the
same format as the config's ``[midi.cc]`` table, so an entry can be copied
over by hand::

    # Written by vamen's MIDI learn; ...
    [midi.cc]
    21 = { target = "latent/3", min = -3.0, max = 3.0, channel = 0 }

It sits beside the config file (``--config`` or ``./vamen.toml``), or beside
the presets when there is none. Its entries win over the config's for the
same CC. It is written atomically (:func:`vamen.model.files.atomic_open`); an
unreadable file or entry is skipped with a warning, never fatal.

TOML has no writer in the standard library; :func:`toml_value` writes the
few value types a mapping holds (strings, whole numbers, finite floats,
booleans) and the tests read every file it writes back with ``tomllib``.
"""
from __future__ import annotations

import json
import logging
import math
import tomllib
from pathlib import Path
from typing import Any, Mapping

from vamen.model.files import atomic_open

from .mapping import CCMapping, parse_cc

log = logging.getLogger("vamen")
FILENAME = "midi-learned.toml"
HEADER = ("# Written by vamen's MIDI learn (vamen midi learn TARGET, or /vamen/midi/learn).\n"
          "# vamen rewrites this file whenever it learns; copy entries into vamen.toml's\n"
          "# [midi.cc] to edit them by hand. Entries here win over vamen.toml's.\n")


def learned_path(config: Path | None, presets: Path | None = None) -> Path:
    """Where learned mappings live: beside ``config``, else beside the presets."""
    if config is not None:
        return Path(config).with_name(FILENAME)
    from vamen.server.ops.session import session_path

    return session_path(presets).with_name(FILENAME)


def toml_value(value: Any) -> str:
    """One TOML value: string, bool, int or finite float."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value}")
        return repr(value)
    if isinstance(value, str):
        # JSON's escapes are TOML's; DEL is a control character TOML wants escaped too
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    raise TypeError(f"no TOML form for {type(value).__name__}")


def inline_table(table: Mapping[str, Any]) -> str:
    return "{ " + ", ".join(f"{key} = {toml_value(v)}" for key, v in table.items()) + " }"


def dumps(mappings: Mapping[int, CCMapping]) -> str:
    lines = [HEADER, "[midi.cc]"]
    lines += [f"{n} = {inline_table(m.to_table())}" for n, m in sorted(mappings.items())]
    return "\n".join(lines) + "\n"


def write_learned(path: Path, mappings: Mapping[int, CCMapping]) -> None:
    """Replace ``path`` with ``mappings``, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(dumps(mappings))


def read_learned(path: Path, latent_dim: int | None = None) -> dict[int, CCMapping]:
    """The mappings in ``path``; nothing (with a warning) where it is unreadable."""
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))["midi"]["cc"]
        if not isinstance(table, dict):
            raise ValueError("[midi.cc] is not a table")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        log.warning("ignoring learned MIDI mappings in %s (%s)", path, exc)
        return {}
    mappings = {}
    for key, entry in table.items():
        try:
            if not str(key).isdigit() or not 0 <= int(key) <= 127:
                raise ValueError(f"{key!r} is not a CC number")
            mappings[int(key)] = parse_cc(int(key), entry, latent_dim)
        except ValueError as exc:
            log.warning("%s: skipping CC %s: %s", path, key, exc)
    return mappings
