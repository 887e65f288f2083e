"""Fast Griffin-Lim phase reconstruction and tempo-synced loop rendering.

Fast Griffin-Lim (Perraudin, Balazs and Soendergaard, 2013) adds a momentum
term to the classic projection loop and converges in far fewer iterations.
Everything is batched torch and runs wherever the tensors live.
"""
from __future__ import annotations

import torch

from .config import LoopConfig
from .features import MelFrontEnd
from .stft import istft_frames, resample_loop, stft_frames


def griffin_lim(
    magnitude: torch.Tensor,
    hop: int,
    iterations: int = 32,
    momentum: float = 0.99,
    phase: torch.Tensor | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recover a loop from a circular STFT magnitude.

    Parameters
    ----------
    magnitude : torch.Tensor [shape=(..., n_freqs, n_frames)]
    hop : int
        Synthesis hop in samples. The loop comes out ``n_frames * hop`` long,
        so a hop other than the analysis hop time-stretches without changing
        pitch.
    iterations : int
        Projection steps; 0 returns the initial phase's inverse.
    momentum : float
        The fast Griffin-Lim momentum (0 gives the classic algorithm).
    phase : torch.Tensor, complex [shape=magnitude.shape], optional
        Warm start: unit phasors from an earlier, similar loop.
    seed : int
        Seeds the random initial phase when ``phase`` is not given, so the
        same mel always renders to the same audio.

    Returns
    -------
    audio : torch.Tensor [shape=(..., n_frames * hop)]
    phase : torch.Tensor, complex [shape=magnitude.shape]
        The final unit phasors, for warm-starting the next loop.
    """
    n_fft = 2 * (magnitude.shape[-2] - 1)
    if phase is None:
        # one draw per seed, shared by every loop in the batch: a loop sounds
        # the same whether it is rendered alone or with others
        gen = torch.Generator(device="cpu").manual_seed(seed)
        angles = torch.rand(magnitude.shape[-2:], generator=gen) * (2 * torch.pi)
        phase = torch.polar(torch.ones_like(angles), angles).to(magnitude.device)
        phase = phase.expand(magnitude.shape)
    else:
        phase = phase.to(magnitude.device)
    # the classic update weighs the previous projection by momentum / (1 + momentum)
    beta = momentum / (1.0 + momentum)
    # frame-major inside the loop: no transposing copy of the spectrum per pass
    mag = magnitude.transpose(-1, -2)
    phase = phase.transpose(-1, -2)
    previous = torch.zeros_like(phase)
    for _ in range(iterations):
        rebuilt = stft_frames(istft_frames(mag * phase, hop), n_fft, hop)
        # sgn is z/|z| in one native op, several times cheaper than dividing
        phase = torch.sgn(torch.add(rebuilt, previous, alpha=-beta))
        previous = rebuilt
    return istft_frames(mag * phase, hop), phase.transpose(-1, -2)


def spectral_convergence(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Spectral convergence in dB, ``20 log10(||est - ref||_F / ||ref||_F)``.

    Parameters
    ----------
    estimate, reference : torch.Tensor [shape=(..., n_freqs, n_frames)]
        Linear magnitudes. Lower (more negative) is better.

    Returns
    -------
    torch.Tensor [shape=(...)]
    """
    num = torch.linalg.vector_norm(estimate - reference, dim=(-2, -1))
    den = torch.linalg.vector_norm(reference, dim=(-2, -1)).clamp_min(1e-12)
    return 20.0 * torch.log10(num / den + 1e-12)


class LoopRenderer:
    """Normalised mel loops -> audio at any tempo and output sample rate.

    Parameters
    ----------
    config : LoopConfig
    iterations : int
        Default Griffin-Lim iterations (``/vamen/quality``).
    refine : int
        Non-negative refinement steps for mel -> magnitude.
    """

    def __init__(self, config: LoopConfig, iterations: int = 32, refine: int = 0,
                 momentum: float = 0.99):
        self.config = config
        self.front = MelFrontEnd(config)
        self.iterations = iterations
        self.refine = refine
        self.momentum = momentum

    def synthesis_hop(self, tempo: float) -> int:
        return self.config.hop_for(self.config.loop_samples(tempo))

    @torch.no_grad()
    def render(
        self,
        mel: torch.Tensor,
        tempo: float | None = None,
        sample_rate: int | None = None,
        iterations: int | None = None,
        phase: torch.Tensor | None = None,
        seed: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Render loops that last exactly ``bars * 4 * 60 / tempo`` seconds.

        Parameters
        ----------
        mel : torch.Tensor [shape=(B, n_mels, frames)], normalised
        tempo : float, optional
            BPM; default the model's reference tempo.
        sample_rate : int, optional
            Output rate; default the model's. Resampling and the sub-hop
            length correction happen in one Fourier-domain step.
        iterations, phase, seed
            See :func:`griffin_lim`.

        Returns
        -------
        audio : torch.Tensor [shape=(B, round(seconds * sample_rate))], float32
        phase : torch.Tensor, complex [shape=(B, n_freqs, frames)]
        """
        c = self.config
        tempo = tempo or c.tempo
        sample_rate = sample_rate or c.sample_rate
        mag = self.front.magnitude(mel, self.refine)
        hop = self.synthesis_hop(tempo)
        audio, phase = griffin_lim(
            mag, hop, self.iterations if iterations is None else iterations,
            self.momentum, phase, seed,
        )
        audio = resample_loop(audio, c.loop_samples(tempo, sample_rate))
        return audio, phase
