"""Circular STFT and inverse STFT for loops, in torch.

A loop repeats, so its spectrogram wraps around: frame ``k`` is centred on
sample ``k * hop`` and the frames near the end see the start of the loop.
Griffin-Lim on circular frames yields audio that loops without a click at
the seam, which a performer would hear every bar otherwise.

All functions work on any leading batch shape, on CPU or CUDA.
"""
from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=64)
def _window(n_fft: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, device=device, dtype=dtype)


# One entry per hop, and the hop follows the tempo: an index is a few MB, so
# a tempo that wanders (autopilot scenes, glides) must not keep dozens of them
# alive. Rebuilding one costs about a millisecond, a render tens.
PER_HOP_CACHE = 4


@lru_cache(maxsize=PER_HOP_CACHE)
def _ola_index(n_frames: int, n_fft: int, hop: int, device: str) -> torch.Tensor:
    """Loop sample index of every (frame, tap) pair, shape (n_frames * n_fft,)."""
    length = n_frames * hop
    starts = torch.arange(n_frames, device=device) * hop - n_fft // 2
    taps = torch.arange(n_fft, device=device)
    return ((starts[:, None] + taps[None, :]) % length).reshape(-1)


@lru_cache(maxsize=PER_HOP_CACHE)
def _envelope(n_frames: int, n_fft: int, hop: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    """Sum of squared windows at each loop sample; what the inverse divides by."""
    win = _window(n_fft, device, dtype)
    index = _ola_index(n_frames, n_fft, hop, device)
    env = torch.zeros(n_frames * hop, device=device, dtype=dtype)
    env.index_add_(0, index, (win * win).repeat(n_frames))
    return env.clamp_min(1e-8)


def frame_count(length: int, hop: int) -> int:
    if length % hop:
        raise ValueError(f"loop length {length} is not a multiple of the hop {hop}")
    return length // hop


def stft(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Circular STFT with a periodic Hann window.

    Parameters
    ----------
    audio : torch.Tensor [shape=(..., L)]
        Loops; ``L`` must be a multiple of ``hop``.
    n_fft, hop : int

    Returns
    -------
    torch.Tensor, complex [shape=(..., n_fft // 2 + 1, L // hop)]
    """
    return stft_frames(audio, n_fft, hop).transpose(-1, -2)


def stft_frames(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """:func:`stft`, frame-major: complex [shape=(..., L // hop, n_fft // 2 + 1)]."""
    length = audio.shape[-1]
    n_frames = frame_count(length, hop)
    pad = n_fft // 2
    reps = -(-pad // length)  # loops shorter than half a window still wrap
    wrapped = audio.repeat(*([1] * (audio.dim() - 1)), 2 * reps + 1) if reps > 1 else None
    if wrapped is None:
        padded = torch.cat([audio[..., length - pad:], audio, audio[..., :pad]], dim=-1)
    else:
        start = reps * length - pad
        padded = wrapped[..., start:start + length + 2 * pad]
    frames = padded.unfold(-1, n_fft, hop)[..., :n_frames, :]
    win = _window(n_fft, str(audio.device), audio.dtype)
    return torch.fft.rfft(frames * win, dim=-1)


def istft(spec: torch.Tensor, hop: int) -> torch.Tensor:
    """Inverse of :func:`stft` by weighted overlap-add, wrapping around the loop.

    Parameters
    ----------
    spec : torch.Tensor, complex [shape=(..., n_fft // 2 + 1, n_frames)]
    hop : int
        Synthesis hop; a hop other than the analysis hop time-stretches.

    Returns
    -------
    torch.Tensor [shape=(..., n_frames * hop)]
    """
    return istft_frames(spec.transpose(-1, -2), hop)


def istft_frames(spec: torch.Tensor, hop: int) -> torch.Tensor:
    """:func:`istft` of a frame-major spectrum [shape=(..., n_frames, n_fft // 2 + 1)].

    Griffin-Lim goes back and forth between audio and spectrum dozens of
    times per loop; keeping its spectra frame-major saves two transposing
    copies of the whole spectrum per pass.
    """
    n_fft = 2 * (spec.shape[-1] - 1)
    n_frames = spec.shape[-2]
    batch = spec.shape[:-2]
    real_dtype = spec.real.dtype
    device = str(spec.device)
    win = _window(n_fft, device, real_dtype)
    frames = torch.fft.irfft(spec, n=n_fft, dim=-1) * win
    out = torch.zeros(*batch, n_frames * hop, device=spec.device, dtype=real_dtype)
    out.index_add_(-1, _ola_index(n_frames, n_fft, hop, device), frames.reshape(*batch, -1))
    return out / _envelope(n_frames, n_fft, hop, device, real_dtype)


def resample_loop(audio: torch.Tensor, length: int) -> torch.Tensor:
    """Resample loops to ``length`` samples in the Fourier domain.

    Treats each loop as one period of a periodic signal, which it is, so
    there is no edge effect at the seam. Used both to change sample rate and
    to absorb the last fraction of a hop when time-stretching.

    Parameters
    ----------
    audio : torch.Tensor [shape=(..., L)]
    length : int

    Returns
    -------
    torch.Tensor [shape=(..., length)]
    """
    n = audio.shape[-1]
    if n == length:
        return audio
    spec = torch.fft.rfft(audio, dim=-1)
    keep = min(spec.shape[-1], length // 2 + 1)
    out = torch.zeros(*spec.shape[:-1], length // 2 + 1, dtype=spec.dtype, device=spec.device)
    out[..., :keep] = spec[..., :keep]
    if length < n and length % 2 == 0:
        # the new Nyquist bin must be real or irfft drops half of it
        out[..., -1] = out[..., -1].real.clone()
    return torch.fft.irfft(out, n=length, dim=-1) * (length / n)
