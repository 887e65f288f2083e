"""Audio to normalised log spectrograms (linear bins or mel bands) and back.

With ``features == "linear"`` (the full-band models) the features are the
power of every STFT bin; with ``"mel"`` they are librosa's Slaney mel bands,
so they match ``librosa.feature.melspectrogram`` computed with the same hop.
Either way power is turned into dB and mapped from the config's fixed dB
range onto [0, 1], the range the VAE sees. The method names say "mel" for
history: they mean "the model's features" whichever kind those are.
"""
from __future__ import annotations

import numpy as np
import torch

from .config import LoopConfig
from .stft import resample_loop, stft


class MelFrontEnd:
    """Log-mel analysis and its inverse for one :class:`LoopConfig`.

    Holds the filter bank and its pseudo-inverse per device; cheap to build.
    """

    def __init__(self, config: LoopConfig):
        import librosa  # imported here: librosa takes a second to import

        self.config = config
        fb = librosa.filters.mel(
            sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels,
            fmin=config.fmin, fmax=config.mel_fmax, htk=False, norm="slaney",
        ).astype(np.float32)
        self._fb = torch.from_numpy(fb)
        self._pinv = torch.from_numpy(np.linalg.pinv(fb).astype(np.float32))
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def filters(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(mel filter bank [n_mels, n_freqs], its pseudo-inverse [n_freqs, n_mels])."""
        key = str(device)
        if key not in self._cache:
            self._cache[key] = (self._fb.to(device), self._pinv.to(device))
        return self._cache[key]

    # -- analysis ---------------------------------------------------------
    def fit_loop(self, audio: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Resample loops of any length to ``frames * hop`` samples.

        Parameters
        ----------
        audio : torch.Tensor [shape=(..., L)] at the model sample rate, one loop each

        Returns
        -------
        (torch.Tensor [shape=(..., frames * hop)], hop)
        """
        hop = self.config.hop_for(audio.shape[-1])
        return resample_loop(audio, self.config.frames * hop), hop

    def project(self, power: torch.Tensor) -> torch.Tensor:
        """STFT power [..., n_freqs, frames] -> feature power [..., n_bins, frames]."""
        if self.config.features == "linear":
            return power
        fb, _ = self.filters(power.device)
        return fb @ power

    def power_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Feature power of loops, [..., L] -> [..., n_bins, frames]."""
        fitted, hop = self.fit_loop(audio)
        spec = stft(fitted, self.config.n_fft, hop)
        return self.project(spec.real ** 2 + spec.imag ** 2)

    def normalise(self, power_mel: torch.Tensor) -> torch.Tensor:
        c = self.config
        db = 10.0 * torch.log10(power_mel.clamp_min(1e-12))
        return ((db - c.db_min) / (c.db_max - c.db_min)).clamp(0.0, 1.0)

    def denormalise(self, mel: torch.Tensor) -> torch.Tensor:
        """Normalised mel [0, 1] back to power mel. Values below 0 are silence."""
        c = self.config
        db = mel.clamp(0.0, 1.0) * (c.db_max - c.db_min) + c.db_min
        power = torch.pow(10.0, db / 10.0)
        # the bottom of the range means "nothing here", not -80 dB of hiss
        return torch.where(mel <= 0.0, torch.zeros_like(power), power)

    def loop_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel of loops.

        Parameters
        ----------
        audio : torch.Tensor [shape=(..., L)]
            Loops at the model sample rate, each exactly ``bars`` bars long at
            whatever tempo it was played.

        Returns
        -------
        torch.Tensor [shape=(..., n_bins, frames)], values in [0, 1]
        """
        return self.normalise(self.power_mel(audio))

    # -- inversion --------------------------------------------------------
    def magnitude(self, mel: torch.Tensor, refine: int = 0) -> torch.Tensor:
        """Linear STFT magnitude from normalised features.

        Linear features are the magnitude already (``refine`` is ignored).
        For mel features: the pseudo-inverse of the filter bank, clipped at zero, then
        optionally ``refine`` multiplicative non-negative least-squares
        updates (Lee and Seung), which sharpen the spectrum between mel
        band centres.

        Parameters
        ----------
        mel : torch.Tensor [shape=(..., n_bins, frames)]
        refine : int

        Returns
        -------
        torch.Tensor [shape=(..., n_fft // 2 + 1, frames)]
        """
        target = self.denormalise(mel)
        if self.config.features == "linear":
            return target.sqrt()
        fb, pinv = self.filters(mel.device)
        power = (pinv @ target).clamp_min(0.0)
        if refine > 0:
            power = power + 1e-10
            numer = fb.T @ target
            for _ in range(refine):
                power = power * numer / (fb.T @ (fb @ power) + 1e-12)
        return power.sqrt()
