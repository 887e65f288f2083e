"""Where the losses listen: one reconstruction loss for training and for fitting.

Training a model (:mod:`vamen.model.train`) and fitting a latent point to a
real bar (:mod:`vamen.model.fitting`) compare a decoded spectrogram with the
real one the same way, so what the encoder was taught and what a fit
refines are one measure.

For linear features (every STFT bin) the comparison is made through mel
bands. An L1 loss over 513 linear bins spends four fifths of its weight
above 4 kHz, on noise texture no latent code can predict, and little on the
kicks and snares that carry a break's rhythm and most of its energy. Pooled
into mel bands, each band of hearing weighs the same, and the noise of the
top octaves averages out into the envelope it really is. The linear bins
keep a share (``detail``), for what lies between mel bands. Mel models are
compared in their own bands.

Blur is costed by ``flux``, an L1 term on the frame-to-frame change of the
spectrum: an attack spread over three frames, or a gap that does not fall
silent, differs from the real loop's change at every frame it touches.
``balance`` compares each band's energy over the whole bar, in the power
domain, so the hats' share of the bar counts even where their place is a
guess. ``convergence`` is the magnitudes' spectral convergence (linear, so
the loud bins weigh most, as they do for the ear and for ``vamen eval``);
training and fitting both add a share of it.
"""
from __future__ import annotations

import torch

from .config import LoopConfig

MEL_BANDS = 128
# where the power domain stops: float32 overflows near 385 dB
POWER_CEILING_DB = 300.0


def flux(spec: torch.Tensor) -> torch.Tensor:
    """Frame-to-frame change of spectra [..., bins, frames], wrapping round the loop."""
    return spec - torch.roll(spec, 1, dims=-1)


class Hearing:
    """The reconstruction loss of normalised spectra [B, bins, frames] of one config.

    Parameters
    ----------
    config : LoopConfig
    device : torch.device or str
        Where the mel filterbank lives (the spectra's device).
    pooled : bool
        Listen to linear spectra through mel bands (``False``: bin by bin).
    """

    def __init__(self, config: LoopConfig, device: torch.device | str = "cpu", pooled: bool = True):
        self.config = config
        self.span = config.db_max - config.db_min
        self.linear = config.features == "linear" and pooled
        self._fb: torch.Tensor | None = None
        self._device = torch.device(device)

    def bands(self, spec: torch.Tensor) -> torch.Tensor:
        """Normalised linear log spectra -> log-mel in dB/span units (otherwise unchanged)."""
        if not self.linear:
            return spec
        c = self.config
        if self._fb is None:
            import librosa

            fb = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=MEL_BANDS)
            self._fb = torch.from_numpy(fb).to(self._device)
        # The ceiling is far above any real spectrum (db_max is 50 dB), so for every
        # decode in range this is the identity and no training's numbers move. A decode
        # far out of range (5.5, i.e. 590 dB, after 643 steps of bf16 training on CUDA)
        # overflows float32 here, and 0 x inf in the filterbank then made the loss NaN
        # for every batch until training stopped.
        db = (spec * self.span + c.db_min).clamp(max=POWER_CEILING_DB)
        power = torch.pow(10.0, db / 10.0)
        return 10.0 * torch.log10(self._fb @ power + 1e-10) / self.span

    def balance(self, heard: torch.Tensor) -> torch.Tensor:
        """Each band's energy over the bar, in dB/span units [B, bands]."""
        power = torch.pow(10.0, heard * (self.span / 10.0)).mean(dim=-1)
        return 10.0 * torch.log10(power + 1e-10) / self.span

    def convergence(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Spectral convergence of the magnitudes, mean over the batch (a 0-d tensor)."""
        c = self.config
        a = torch.pow(10.0, (recon * self.span + c.db_min) / 20.0).flatten(1)
        b = torch.pow(10.0, (target * self.span + c.db_min) / 20.0).flatten(1)
        return (torch.linalg.vector_norm(a - b, dim=1) / torch.linalg.vector_norm(b, dim=1).clamp_min(1e-8)).mean()

    def loss(self, recon: torch.Tensor, target: torch.Tensor, flux_weight: float = 1.0,
             detail: float = 0.5, balance: float = 0.0) -> torch.Tensor:
        """Mean reconstruction loss of ``recon`` against ``target`` (a 0-d tensor)."""
        heard, real = self.bands(recon), self.bands(target)
        loss = (heard - real).abs().mean()
        if self.linear and detail:
            loss = loss + detail * (recon - target).abs().mean()
        if flux_weight:
            loss = loss + flux_weight * (flux(heard) - flux(real)).abs().mean()
        if balance:
            loss = loss + balance * (self.balance(heard) - self.balance(real)).abs().mean()
        return loss
