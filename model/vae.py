"""The convolutional VAE over (mel x frames).

Mel bands are channels and convolutions run along time with circular
padding, because a loop's last frame is followed by its first. The encoder
halves time four times, then a linear layer sees the whole bar at once, so
the latent code knows where in the bar each hit sits.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .config import LoopConfig

DOWNSAMPLINGS = 4


def padded_frames(frames: int) -> int:
    """Frames rounded up so every downsampling halves time exactly."""
    step = 2 ** DOWNSAMPLINGS
    return -(-frames // step) * step


class _Block(nn.Module):
    """Conv1d with circular padding, then LeakyReLU, plus a residual conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1, padding_mode="circular")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.leaky_relu(self.conv(x), 0.2)


class LoopVAE(nn.Module):
    """Encoder q(z | mel) and decoder p(mel | z).

    Parameters
    ----------
    config : LoopConfig
        Uses ``n_bins``, ``frames``, ``channels`` and ``latent_dim``.
    """

    def __init__(self, config: LoopConfig):
        super().__init__()
        self.config = config
        c, n_mels = config.channels, config.n_bins
        self.frames = config.frames
        self.inner = padded_frames(self.frames)
        bottleneck = self.inner // 2 ** DOWNSAMPLINGS
        self.bottleneck = bottleneck

        enc: list[nn.Module] = [nn.Conv1d(n_mels, c, 3, padding=1, padding_mode="circular"),
                                nn.LeakyReLU(0.2)]
        for _ in range(DOWNSAMPLINGS):
            enc += [nn.Conv1d(c, c, 4, stride=2, padding=1, padding_mode="circular"),
                    nn.LeakyReLU(0.2), _Block(c)]
        self.encoder = nn.Sequential(*enc)
        self.to_posterior = nn.Linear(c * bottleneck, 2 * config.latent_dim)

        self.from_latent = nn.Linear(config.latent_dim, c * bottleneck)
        dec: list[nn.Module] = []
        for _ in range(DOWNSAMPLINGS):
            dec += [nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv1d(c, c, 3, padding=1, padding_mode="circular"),
                    nn.LeakyReLU(0.2), _Block(c)]
        dec += [nn.Conv1d(c, n_mels, 3, padding=1, padding_mode="circular")]
        self.decoder = nn.Sequential(*dec)

    def encode(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior of normalised mel loops.

        Parameters
        ----------
        mel : torch.Tensor [shape=(B, n_bins, frames)]

        Returns
        -------
        mean, logvar : torch.Tensor [shape=(B, latent_dim)]
        """
        extra = self.inner - self.frames
        if extra:
            mel = torch.cat([mel, mel[..., :extra]], dim=-1)
        h = self.encoder(mel).flatten(1)
        mean, logvar = self.to_posterior(h).chunk(2, dim=-1)
        return mean, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised mel loops from latent points.

        Parameters
        ----------
        z : torch.Tensor [shape=(B, latent_dim)]

        Returns
        -------
        torch.Tensor [shape=(B, n_bins, frames)]; unclipped, roughly [0, 1]
        """
        h = self.from_latent(z).view(z.shape[0], self.config.channels, self.bottleneck)
        return self.decoder(h)[..., : self.frames]

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, logvar = self.encode(mel)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return self.decode(z), mean, logvar


def kl_per_dim(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, in nats, shape (B, D)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
