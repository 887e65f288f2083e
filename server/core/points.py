"""Where a command can send the loop: anchors, presets, fresh random draws.

A *point* in a command (:data:`vamen.server.core.commands.Point`) is an anchor
index, an anchor or preset name, ``"random"``, or (from inside the server:
the autopilot, a restart) coordinates. :class:`Points` turns any of them
into coordinates, or refuses with the one line the sender will read; and it
saves presets under names it checks first. It is the control thread's, like
:class:`~vamen.server.core.control.Control`, which owns one.

Contents
--------
Points          ``resolve(*points)``, ``draw(spread, seed)``, ``save(name, point)``
Refused         a command that cannot be carried out; its message goes to the sender
first_line      an exception as the one line a sender or log gets
preset_name_for a valid preset name from an audio file's name
validate_name   check a preset name, return it or raise ValueError
anchor_index    an anchor's index by its name, given with or without its file's extension
near_names      "; did you mean 'x'?" for a name not found, from the names there are
"""
from __future__ import annotations

import difflib
import os
import unicodedata
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from vamen.server.core import commands as c
from vamen.server.core import motion

if TYPE_CHECKING:  # the store itself is operations' (vamen.server.ops.presets): files
    from vamen.server.ops.presets import PresetStore

MAX_NAME = 64  # characters in a preset name
#: An anchor is named after its training file without the extension; these are accepted on it.
AUDIO_SUFFIXES = (".wav", ".flac", ".aiff", ".aif", ".ogg", ".mp3")


def anchor_index(name: str, names: list[str]) -> int | None:
    """The index of anchor ``name`` in ``names``, or None.

    Anchors are named after the training files without their extension
    (``synth-00003-94.89bpm``); the file's name (``synth-00003-94.89bpm.wav``)
    is accepted too, as a user copying it from a folder listing gives it.
    """
    if name in names:
        return names.index(name)
    stem, dot, suffix = name.rpartition(".")
    if dot and "." + suffix.lower() in AUDIO_SUFFIXES and stem in names:
        return names.index(stem)
    return None


def near_names(name: str, names, n: int = 3) -> str:
    """``"; did you mean 'a' or 'b'?"`` for an unknown name, or ``""`` when nothing is close."""
    stem = name.rpartition(".")[0] if "." + name.rpartition(".")[2].lower() in AUDIO_SUFFIXES else name
    near = difflib.get_close_matches(stem, list(names), n=n, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(x) for x in near)}?" if near else ""


class Refused(Exception):
    """A command that cannot be carried out; its message goes to the sender."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, or its type's name when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def validate_name(name: object) -> str:
    """Return ``name`` if it is a usable preset name, else raise ValueError.

    A name is 1 to 64 characters with no path separators and no control
    characters: it travels in OSC strings, TOML files and file names.
    """
    if not isinstance(name, str):
        raise ValueError(f"a preset name must be a string, got {type(name).__name__}")
    if not name or not name.strip():
        raise ValueError("a preset name must not be empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"a preset name must be at most {MAX_NAME} characters, got {len(name)}")
    if "/" in name or "\\" in name or os.sep in name:
        raise ValueError(f"a preset name must not contain path separators: {name!r}")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ValueError(f"a preset name must not contain control characters: {name!r}")
    return name


def preset_name_for(path: str) -> str:
    """A valid preset name from an audio file's name: its stem, cleaned and shortened."""
    stem = PurePath(path.replace("\\", "/")).stem
    stem = "".join("_" if unicodedata.category(ch).startswith("C") else ch for ch in stem)
    return stem.strip()[:64] or "encoded"


class Points:
    """The anchors of a model, its presets, and the random draws.

    Parameters
    ----------
    latent_dim : int
    anchors : mapping of str to array_like [shape=(latent_dim,)]
        Named points from the checkpoint, in order: index i is the i-th.
    presets : PresetStore
    seed : int, optional
        Seeds the draws for ``random`` without a seed, for reproducible runs.
    prior : (mean, std), optional
        Where random points are drawn (the model's ``prior``); a standard normal without.
    """

    def __init__(self, latent_dim: int, anchors: Mapping[str, Any], presets: PresetStore,
                 seed: int | None = None, prior: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.latent_dim = int(latent_dim)
        self.anchors = {str(k): motion.as_point(v, self.latent_dim) for k, v in anchors.items()}
        self._anchor_list = list(self.anchors.values())
        self._anchor_names = list(self.anchors)
        self.presets = presets
        self.rng = np.random.default_rng(seed)
        self.prior = prior

    def known(self, name: str) -> bool:
        """Whether ``name`` is a preset or an anchor."""
        return name in self.presets or name in self.anchors

    def lookup(self, point: c.Point) -> np.ndarray | None:
        """A named or indexed point, or None for ``random``; raises Refused if unknown."""
        if isinstance(point, tuple):  # coordinates, from the autopilot or a restart
            try:
                return motion.as_point(point, self.latent_dim)
            except (ValueError, TypeError) as exc:
                raise Refused(f"bad coordinates: {exc}") from None
        if isinstance(point, bool) or not isinstance(point, (int, str)):
            raise Refused(f"a point is an anchor index or a name, got {point!r}")
        if isinstance(point, c.Nth) and self._anchor_list:
            return self._anchor_list[point % len(self._anchor_list)]
        if isinstance(point, int):
            if not 0 <= point < len(self._anchor_list):
                have = f"0..{len(self._anchor_list) - 1}" if self._anchor_list else "none"
                raise Refused(f"no anchor {point}: this model's anchors are {have}")
            return self._anchor_list[point]
        if point == c.RANDOM:
            return None
        if point in self.presets:
            values = self.presets[point]
            if values.shape != (self.latent_dim,):
                raise Refused(f"preset {point!r} has {values.size} values; this model has {self.latent_dim}")
            return motion.as_point(values)
        index = anchor_index(point, self._anchor_names)
        if index is not None:
            return self._anchor_list[index]
        near = near_names(point, [*self.presets.names(), *self._anchor_names])
        raise Refused(f"unknown point {point!r}: no preset or anchor of that name{near} "
                      "(/vamen/anchor/list and /vamen/preset/list name them)")

    def resolve(self, *points: c.Point) -> list[np.ndarray]:
        """Coordinates for every point, checking every name before drawing any random one."""
        found = [self.lookup(p) for p in points]
        return [self.draw(1.0, None) if p is None else p for p in found]

    def draw(self, spread: float, seed: int | None) -> np.ndarray:
        """A point from the prior, scaled by ``spread``; without a seed, the next of this run's."""
        if seed is None:
            seed = int(self.rng.integers(2**63))
        return motion.prior_point(self.latent_dim, spread, seed, self.prior)

    def save(self, name: str, point: np.ndarray) -> None:
        """Save ``point`` as preset ``name``; raises Refused for a bad name or a failed write."""
        try:
            validate_name(name)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        if name == c.RANDOM:
            raise Refused(f"{c.RANDOM!r} is reserved for random points; choose another name")
        try:
            self.presets.save(name, point)
        except OSError as exc:
            raise Refused(f"cannot save preset {name!r}: {first_line(exc)}") from None
