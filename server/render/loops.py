"""Putting rendered one-bar loops one after another without clicks."""
from __future__ import annotations

import numpy as np


def crossfade_ramp(samples: int) -> np.ndarray:
    """Equal-power fade-in ramp [shape=(samples,)], float32."""
    t = (np.arange(samples, dtype=np.float32) + 0.5) / max(samples, 1)
    return np.sin(0.5 * np.pi * t).astype(np.float32)


def join_bars(loops: np.ndarray, fade: int) -> np.ndarray:
    """Concatenate loops [shape=(bars, n)] into one signal [shape=(bars * n,)].

    At each bar line the old loop carries on into its own start for ``fade``
    samples while the new one fades in, which is what the live player does
    when a change lands: the groove keeps its place in the bar.
    """
    bars, n = loops.shape
    out = loops.reshape(-1).copy()
    fade = min(fade, n)
    if fade == 0:
        return out
    up = crossfade_ramp(fade)
    down = np.sqrt(np.clip(1.0 - up * up, 0.0, 1.0))
    for i in range(1, bars):
        start = i * n
        out[start:start + fade] = loops[i, :fade] * up + loops[i - 1, :fade] * down
    return out
