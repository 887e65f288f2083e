"""The deployable model: latent points in, loops out (and audio in, points out).

:class:`LoopModel` is all the server needs from a checkpoint. It exposes
encode, decode and render, and nothing of training.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint
from .audio import read_audio, split_bars, tempo_from_name
from .config import LoopConfig
from .errors import CheckpointError
from .features import MelFrontEnd
from .fitting import FIT_STEPS, fit_latent
from .hearing import Hearing
from .inversion import LoopRenderer
from .vae import LoopVAE

DEFAULT_MODEL = Path(__file__).parent / "default" / "vamen-default.pt"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class LoopModel:
    """A trained VAE with its front end, renderer and named anchors.

    Parameters
    ----------
    config : LoopConfig
    vae : LoopVAE
    anchor_names : list of str
    anchor_latents : torch.Tensor [shape=(N, latent_dim)]
    device : torch.device, optional
    meta : dict, optional
        Free-form facts saved with the checkpoint (training data, figures).
    prior : (mean, std) of torch.Tensor [shape=(latent_dim,)], optional
        Where the training loops lie in latent space (see :func:`latent_prior`):
        random points are drawn there. Without it, a standard normal.
    """

    def __init__(self, config: LoopConfig, vae: LoopVAE, anchor_names: list[str],
                 anchor_latents: torch.Tensor, device: torch.device | str | None = None,
                 meta: dict[str, Any] | None = None,
                 prior: tuple[torch.Tensor, torch.Tensor] | None = None):
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.vae = vae.to(self.device).eval()
        self.front = MelFrontEnd(config)
        self.renderer = LoopRenderer(config)
        self.hearing = Hearing(config, self.device)
        self.anchor_names = list(anchor_names)
        self.anchor_latents = anchor_latents.float().cpu()
        self.meta = dict(meta or {})
        if prior is None:
            prior = (torch.zeros(config.latent_dim), torch.ones(config.latent_dim))
        self.prior_mean, self.prior_std = (t.detach().float().cpu() for t in prior)

    # -- files --------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike | None = None,
             device: torch.device | str | None = None) -> "LoopModel":
        """Load a checkpoint (default: the model shipped with vamen)."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        data = checkpoint.load(path)
        config = data["config"]
        vae = LoopVAE(config)
        try:
            vae.load_state_dict({k: v.float() for k, v in data["weights"].items()})
        except RuntimeError:
            raise CheckpointError(f"{path}'s weights do not fit its config") from None
        anchors = data["anchors"]
        try:
            return cls(config, vae, anchors["names"], anchors["latents"], device, data.get("meta"),
                       (data["prior"]["mean"], data["prior"]["std"]))
        except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:  # the front end from the config
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointError(f"{path}'s config does not make a model: {reason}") from None

    def save(self, path: str | os.PathLike, half: bool = False,
             extra: dict[str, Any] | None = None) -> None:
        """Save as a checkpoint; ``half`` stores weights as float16 (half the size)."""
        weights = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
                   for k, v in self.vae.state_dict().items()}
        checkpoint.save(path, {
            "config": self.config.to_dict(),
            "weights": weights,
            "anchors": {"names": self.anchor_names, "latents": self.anchor_latents},
            "prior": {"mean": self.prior_mean, "std": self.prior_std},
            "meta": self.meta,
            **(extra or {}),
        })

    # -- latent space --------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def anchors(self) -> dict[str, np.ndarray]:
        """Anchor name -> latent mean, in index order."""
        return {n: self.anchor_latents[i].numpy().copy() for i, n in enumerate(self.anchor_names)}

    @property
    def prior(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of the Gaussian random points are drawn from, each [latent_dim]."""
        return self.prior_mean.numpy().copy(), self.prior_std.numpy().copy()

    def prior_draws(self, count: int, rng: np.random.Generator, spread: float = 1.0) -> np.ndarray:
        """``count`` random points where the training loops lie, ``spread`` times as far out.

        Returns
        -------
        np.ndarray [shape=(count, latent_dim), dtype=float32]
        """
        noise = rng.standard_normal((count, self.latent_dim))
        return (self.prior_mean.numpy() + spread * self.prior_std.numpy() * noise).astype(np.float32)

    def encode(self, mel: torch.Tensor, fit: int = 0) -> torch.Tensor:
        """Latent points of normalised spectra [B, bins, frames] -> [B, latent_dim].

        ``fit = 0`` gives the encoder's posterior means; more refines them by
        that many steps (see :mod:`vamen.model.fitting`).
        """
        mel = mel.to(self.device)
        with torch.no_grad():
            mean, _ = self.vae.encode(mel)
        return fit_latent(self.vae, self.hearing, mel, mean, fit).cpu()

    def encode_loops(self, audio: np.ndarray | torch.Tensor, fit: int = FIT_STEPS) -> np.ndarray:
        """Latent points of one-loop audio arrays [B, L] at the model rate -> [B, latent_dim]."""
        audio = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        with torch.no_grad():
            mel = self.front.loop_mel(audio)
        return self.encode(mel, fit).numpy()

    def encode_file(self, path: str | os.PathLike, fit: int = FIT_STEPS) -> np.ndarray:
        """The latent point of an audio file's first bar, shape (latent_dim,).

        Raises :class:`~vamen.model.errors.AudioFileError` for unusable files.
        """
        audio = read_audio(path, self.config.sample_rate)
        bars = split_bars(audio, self.config.sample_rate, tempo_from_name(path))
        return self.encode_loops(bars.bars[0][None], fit)[0]

    def encode_bars(self, path: str | os.PathLike, fit: int = FIT_STEPS) -> tuple[float, np.ndarray]:
        """Every whole bar of an audio file as latent points.

        Returns
        -------
        tempo : float
            The file's tempo in BPM (from its name, else its duration).
        points : np.ndarray [shape=(bars, latent_dim)]

        Raises :class:`~vamen.model.errors.AudioFileError` for unusable files.
        """
        audio = read_audio(path, self.config.sample_rate)
        bars = split_bars(audio, self.config.sample_rate, tempo_from_name(path))
        points = [self.encode_loops(bar[None], fit)[0] for bar in bars.bars]
        return bars.tempo, np.stack(points)

    @torch.no_grad()
    def decode(self, z: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Normalised mels [B, n_mels, frames] in [0, 1] from points [B, latent_dim]."""
        z = torch.as_tensor(np.asarray(z, dtype=np.float32)).to(self.device)
        if z.dim() == 1:
            z = z[None]
        return self.vae.decode(z).clamp(0.0, 1.0)

    @torch.no_grad()
    def render(self, z: np.ndarray | torch.Tensor, tempo: float | None = None,
               sample_rate: int | None = None, iterations: int | None = None,
               phase: torch.Tensor | None = None, seed: int = 0) -> tuple[np.ndarray, torch.Tensor]:
        """Loops for latent points, each exactly one loop long at ``tempo``.

        Parameters
        ----------
        z : array [shape=(B, latent_dim)]
        tempo, sample_rate, iterations, phase, seed
            See :meth:`LoopRenderer.render`.

        Returns
        -------
        audio : np.ndarray [shape=(B, n)], float32 at ``sample_rate``
        phase : torch.Tensor, complex; pass back to warm-start similar loops
        """
        audio, phase = self.renderer.render(self.decode(z), tempo, sample_rate, iterations,
                                            phase, seed)
        return audio.cpu().numpy().astype(np.float32, copy=False), phase


def latent_prior(means: torch.Tensor, logvars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The Gaussian of a model's training loops in latent space: (mean, std), each [latent_dim].

    A VAE's nominal prior is a standard normal, but the encoder does not
    place real loops evenly around zero: on the default model, draws from
    N(0, I) were dull (a quarter of the real breaks' energy above 8 kHz) and
    less on the grid than draws from where the loops lie. This is the
    aggregate posterior's first two moments (Ghosh et al. 2020 fit a density
    to the codes after training for the same reason): the means' average,
    and a variance of the means' spread plus the posteriors' own variance,
    so a barely trained model, whose means have not spread yet, still draws
    as widely as its posteriors.
    """
    means, variances = means.detach().float().cpu(), logvars.detach().float().cpu().exp()
    if len(means) < 2:
        return torch.zeros(means.shape[-1]), torch.ones(means.shape[-1])
    std = (means.var(dim=0, unbiased=False) + variances.mean(dim=0)).sqrt().clamp(1e-3, 100.0)
    return means.mean(dim=0).clamp(-100.0, 100.0), std
