"""Presets: named latent points that survive a restart.

The store is one small JSON file::

    {"format": "vamen-presets", "version": 1,
     "presets": {"verse": [0.12, -1.3, ...], "drop": [...]}}

Every save rewrites it atomically (temporary file in the same folder, fsync,
``os.replace``, fsync of the folder), so a crash or power cut mid-save leaves
either the old file or the new one, never half of one. A file that cannot be
read as presets is never deleted: it is renamed aside
(``presets.json.corrupt-<time>``), one warning is logged, and the store starts
empty.

Contents
--------
PresetStore         name -> latent vector, persisted
default_path        ``$XDG_DATA_HOME/vamen/presets.json`` (or ``~/.local/share/...``)
validate_name       check a preset name, return it or raise ValueError
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from vamen.model.files import atomic_open
from vamen.server.core.points import validate_name  # the rule lives with the points

log = logging.getLogger(__name__)

FORMAT = "vamen-presets"
VERSION = 1


def default_path() -> Path:
    """Where presets live unless told otherwise (XDG base directory spec)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "vamen" / "presets.json"


def _vector(values: object) -> list[float]:
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError("a preset must be a non-empty list of numbers")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"a preset must hold finite numbers, got {v!r}")
        out.append(float(v))
    return out


class PresetStore:
    """Named latent vectors persisted as JSON.

    Parameters
    ----------
    path : str or Path, optional
        The JSON file; :func:`default_path` when None. It need not exist yet;
        its folder is created on the first save.

    Notes
    -----
    Owned by the control thread, like the rest of the control state: no locks.
    The file is read once, here; :meth:`save` and :meth:`delete` write it.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._presets: dict[str, list[float]] = self._read()

    def _read(self) -> dict[str, list[float]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("cannot read presets from %s (%s); starting with no presets", self.path, exc)
            return {}
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError("not a vamen presets file")
            if data.get("version") != VERSION:
                raise ValueError(f"unsupported version {data.get('version')!r}")
            presets = data.get("presets")
            if not isinstance(presets, dict):
                raise ValueError("'presets' is not an object")
            return {validate_name(k): _vector(v) for k, v in presets.items()}
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            stamp = time.strftime("%Y%m%d-%H%M%S")
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
            n = 1
            while aside.exists():  # never overwrite an earlier corrupt copy
                n += 1
                aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            try:
                os.replace(self.path, aside)
                where = f"moved aside to {aside}"
            except OSError as move_exc:
                where = f"left in place ({move_exc})"
            log.warning("presets file %s is unreadable (%s); %s; starting with no presets", self.path, exc, where)
            return {}

    def _write(self, presets: dict[str, list[float]]) -> None:
        data = {"format": FORMAT, "version": VERSION, "presets": presets}
        with atomic_open(self.path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")

    def names(self) -> list[str]:
        """Preset names, sorted case-insensitively."""
        return sorted(self._presets, key=lambda n: (n.casefold(), n))

    def __contains__(self, name: object) -> bool:
        return name in self._presets

    def __len__(self) -> int:
        return len(self._presets)

    def get(self, name: str) -> np.ndarray | None:
        """The preset as ``np.ndarray [shape=(n,), dtype=float32]``, or None if unknown."""
        values = self._presets.get(name)
        return None if values is None else np.array(values, dtype=np.float32)

    def __getitem__(self, name: str) -> np.ndarray:
        point = self.get(name)
        if point is None:
            raise KeyError(name)
        return point

    def save(self, name: str, values) -> None:
        """Store ``values`` under ``name`` (replacing any preset of that name) and write the file.

        Raises
        ------
        ValueError
            Bad name or values; nothing changes.
        OSError
            The file could not be written; the store keeps its previous contents.
        """
        name = validate_name(name)
        new = dict(self._presets)
        new[name] = _vector(values)
        self._write(new)
        self._presets = new

    def delete(self, name: str) -> bool:
        """Remove ``name``; return whether it existed. Raises OSError like :meth:`save`."""
        if name not in self._presets:
            return False
        new = {k: v for k, v in self._presets.items() if k != name}
        self._write(new)
        self._presets = new
        return True
