"""Stand-ins the core's tests share."""
import numpy as np
import pytest


@pytest.fixture
def tonal_bar():
    """A stand-in loop maker, ``tonal_bar(rng, tempo=120.0, rate=48000)``: tuned hits on every
    8th over a held bass note.

    Tonal and smooth, so its own sample-to-sample steps are small, and a
    cut through the bass without a fade stands out above them (hats would
    hide a click).
    """
    def make(rng, tempo=120.0, rate=48000):
        n = int(round(4 * 60 / tempo * rate))
        t = np.arange(n // 8) / rate
        out = np.zeros(n)
        for k in range(8):
            hit = np.sin(2 * np.pi * rng.uniform(60, 400) * t) * np.exp(-t / 0.04) * np.minimum(1, t / 0.002)
            out[k * n // 8:k * n // 8 + len(t)] += (0.3 + 0.7 * rng.random()) * hit
        bass = 0.5 * np.sin(2 * np.pi * 55.0 * np.arange(n) / rate)
        return (out + bass).astype(np.float32)

    return make
