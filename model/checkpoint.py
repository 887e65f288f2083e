"""One-file checkpoints: format version, config, weights, anchors, prior.

A checkpoint is a plain dict saved with ``torch.save`` and read with
``torch.load(weights_only=True)``: tensors, numbers, strings, lists and
dicts only, so loading one never runs code. Everything that can go wrong
with a file a user hands us ends in a :class:`CheckpointError` with one
sentence.
"""
from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from .config import LoopConfig
from .errors import CheckpointError
from .files import atomic_open

FORMAT = "vamen-checkpoint"
VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive


def save(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (without format keys) atomically to ``path``.

    The file appears whole or not at all, so a crash or Ctrl-C while saving
    never leaves a truncated checkpoint behind.
    """
    data = {"format": FORMAT, "version": VERSION, **payload}
    with atomic_open(path) as fh:
        torch.save(data, fh)


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint; raise :class:`CheckpointError` on any problem.

    Returns
    -------
    dict with keys ``config`` (a :class:`LoopConfig`), ``weights`` (state dict),
    ``anchors`` (dict with ``names`` list and ``latents`` tensor [N, D]),
    ``prior`` (dict of ``mean`` and ``std`` tensors [D]; a standard normal
    where the file has none) and whatever else was saved (``training``,
    ``meta``).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        with warnings.catch_warnings():  # torch's own warnings would bury our one line
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only names what it refused: a GLOBAL (a class or function)
        # is code; any other complaint (an opcode it does not know) is a
        # file that is no PyTorch file, such as text or a bare pickle.
        if "unsupported global" in str(exc).lower():
            raise CheckpointError(
                f"{path} holds Python objects beyond plain data; refusing to load it as code"
            ) from None
        if head[:1] == b"\x80":  # a pickle's protocol opcode, outside torch's zip
            raise CheckpointError(
                f"{path} is a plain Python pickle, not a vamen checkpoint; refusing to load it as code"
            ) from None
        raise CheckpointError(f"{path} is not a vamen checkpoint (not a PyTorch file)") from None
    except Exception:  # torch raises many types for files it cannot read
        if head == ZIP_MAGIC:  # a PyTorch file, cut short or damaged
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
    anchors = data.get("anchors")
    if anchors is None:
        anchors = {"names": [], "latents": torch.zeros(0, data["config"].latent_dim)}
    if not isinstance(anchors, dict):
        raise CheckpointError(f"{path} has malformed anchors")
    names, latents = anchors.get("names"), anchors.get("latents")
    if (not isinstance(names, list) or not isinstance(latents, torch.Tensor)
            or latents.dim() != 2 or latents.shape != (len(names), data["config"].latent_dim)
            or not all(isinstance(n, str) for n in names) or not torch.isfinite(latents).all()):
        raise CheckpointError(f"{path} has malformed anchors")
    data["anchors"] = {"names": names, "latents": latents.float()}
    data["prior"] = _prior(data.get("prior"), data["config"].latent_dim, path)
    if not isinstance(data.get("meta", {}), dict):
        raise CheckpointError(f"{path} has malformed meta (facts about the model, a table)")
    return data


def _prior(prior: Any, dim: int, path: Path) -> dict[str, torch.Tensor]:
    """The checked ``prior``: where the training loops lie in latent space (mean, std)."""
    if prior is None:  # checkpoints from before it was saved: the VAE's nominal prior
        return {"mean": torch.zeros(dim), "std": torch.ones(dim)}
    mean = prior.get("mean") if isinstance(prior, dict) else None
    std = prior.get("std") if isinstance(prior, dict) else None
    if (not isinstance(mean, torch.Tensor) or not isinstance(std, torch.Tensor)
            or mean.shape != (dim,) or std.shape != (dim,) or not mean.is_floating_point()
            or not std.is_floating_point() or not torch.isfinite(mean).all() or not torch.isfinite(std).all()
            or not (std > 0).all() or mean.abs().max() > 100 or std.max() > 100):
        raise CheckpointError(f"{path} has a malformed prior (a finite mean and a positive std "
                              f"of {dim} numbers each)")
    return {"mean": mean.float(), "std": std.float()}
