"""One-file checkpoints: format version, config, weights, anchors.

A checkpoint is a plain dict saved with ``torch.save`` and read with
``torch.load(weights_only=True)``: tensors, numbers, strings, lists and
dicts only, so loading one never runs code. Everything that can go wrong
with a file a user hands us ends in a :class:`CheckpointError` with one
sentence.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from .config import LoopConfig
from .errors import CheckpointError

FORMAT = "vamen-checkpoint"
VERSION = 1


def save(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (without format keys) atomically to ``path``.

    The file appears whole or not at all, so a crash or Ctrl-C while saving
    never leaves a truncated checkpoint behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "version": VERSION, **payload}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint; raise :class:`CheckpointError` on any problem.

    Returns
    -------
    dict with keys ``config`` (a :class:`LoopConfig`), ``weights`` (state dict),
    ``anchors`` (dict with ``names`` list and ``latents`` tensor [N, D]) and
    whatever else was saved (``training``, ``meta``).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(
                f"{path} holds Python objects beyond plain data; refusing to load it as code"
            ) from None
        raise CheckpointError(f"{path} is not a vamen checkpoint (unreadable pickle)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        if zipfile.is_zipfile(path) or "zip" in str(exc).lower() and path.stat().st_size > 0:
            raise CheckpointError(f"{path} is truncated or corrupt") from None
        raise CheckpointError(f"{path} is not a vamen checkpoint (not a PyTorch file)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a vamen checkpoint")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path} has no valid format version")
    if version > VERSION:
        raise CheckpointError(
            f"{path} was written by a newer vamen (format {version}; this vamen reads up to {VERSION})"
        )
    try:
        data["config"] = LoopConfig.from_dict(data.get("config"))
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path} has a bad config: {exc}") from None
    weights = data.get("weights")
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{path} has no weights")
    anchors = data.get("anchors") or {"names": [], "latents": torch.zeros(0, data["config"].latent_dim)}
    names, latents = anchors.get("names"), anchors.get("latents")
    if (not isinstance(names, list) or not isinstance(latents, torch.Tensor)
            or latents.dim() != 2 or latents.shape != (len(names), data["config"].latent_dim)
            or not all(isinstance(n, str) for n in names) or not torch.isfinite(latents).all()):
        raise CheckpointError(f"{path} has malformed anchors")
    data["anchors"] = {"names": names, "latents": latents.float()}
    return data
