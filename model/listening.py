"""Figures that say what a loop sounds like, so a model is judged by ear's proxies.

A lower loss proves nothing a performer hears. These do, each comparable
between a real loop and the model's version of it, at the model's rate:

- ``dynamic_range_db``: p95 − p10 of the energy of 5.8 ms frames. A break
  has hits and silence between them; a blurry model fills the gaps, and the
  range shrinks.
- ``hats_range_db``: the same in the 4–11 kHz band, where hats and cymbals
  live, and where the wash of a blurry model shows first.
- ``air``: share of energy above 8 kHz: dull (too little) or hissy (too much).
- ``onset_correlation``: Pearson correlation of two loops' onset-strength
  envelopes: 1 when the hits fall in the same places with the same weight.

Functions take mono loops as float arrays [shape=(n,)] at ``sample_rate``.
"""
from __future__ import annotations

import numpy as np

FRAME_S = 256 / 44100  # 5.8 ms: one hop of the full-band models
HATS_BAND = (4000.0, 11000.0)
AIR_HZ = 8000.0


def _frame_power(loop: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin frequencies [F], power [F, frames]) of 5.8 ms frames, loop wrapped round."""
    hop = max(1, int(round(FRAME_S * sample_rate)))
    n_fft = 2 * hop
    x = np.concatenate([loop[-hop:], loop, loop[:hop]]).astype(np.float64)
    count = len(loop) // hop
    idx = np.arange(count)[:, None] * hop + np.arange(n_fft)[None, :]
    frames = x[idx] * np.hanning(n_fft)[None, :]
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    return np.fft.rfftfreq(n_fft, 1.0 / sample_rate), power.T


def _range_db(energy: np.ndarray) -> float:
    db = 10.0 * np.log10(energy + 1e-12)
    return float(np.percentile(db, 95) - np.percentile(db, 10))


def loop_figures(loop: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Dynamic range overall and of the hats' band, and the share of air, of one loop."""
    freqs, power = _frame_power(loop, sample_rate)
    band = (freqs >= HATS_BAND[0]) & (freqs < min(HATS_BAND[1], sample_rate / 2))
    total = float(power.sum()) + 1e-12
    return {
        "dynamic_range_db": _range_db(power.sum(axis=0)),
        "hats_range_db": _range_db(power[band].sum(axis=0)) if band.any() else 0.0,
        "air": float(power[freqs >= AIR_HZ].sum()) / total,
    }


def onset_envelope(loop: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset strength of a loop played twice, second pass only [shape=(frames,)]."""
    import librosa

    hop = max(1, int(round(FRAME_S * sample_rate)))
    twice = np.concatenate([loop, loop]).astype(np.float32)
    env = librosa.onset.onset_strength(y=twice, sr=sample_rate, hop_length=hop)
    n = len(loop) // hop
    return env[n:2 * n]


def onset_correlation(real: np.ndarray, other: np.ndarray, sample_rate: int) -> float:
    """Correlation of the onset envelopes of two loops of the same length."""
    a, b = onset_envelope(real, sample_rate), onset_envelope(other, sample_rate)
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def median_figures(figures: list[dict[str, float]]) -> dict[str, float]:
    """Median of each figure over loops, rounded for reports."""
    if not figures:
        return {}
    return {k: round(float(np.median([f[k] for f in figures])), 4) for k in figures[0]}
