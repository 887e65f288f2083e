"""The listening figures tell a crisp break from a washed-out one, as an ear would."""
from __future__ import annotations

import numpy as np

from vamen.model.listening import loop_figures, onset_correlation

SR = 44100


def hats(rng, wash: float = 0.0, step: int = 8) -> np.ndarray:
    """A bar of short noise bursts on every ``step``-th sixteenth, with a wash between."""
    n = 2 * SR
    out = wash * rng.standard_normal(n)
    burst = rng.standard_normal(int(0.02 * SR)) * np.exp(-np.arange(int(0.02 * SR)) / 200.0)
    for k in range(0, 16, step // 4 or 1):
        start = k * n // 16
        out[start:start + len(burst)] += burst
    return out


def test_a_wash_between_the_hits_shrinks_both_ranges(rng):
    crisp, washed = loop_figures(hats(rng), SR), loop_figures(hats(rng, wash=0.05), SR)
    assert crisp["dynamic_range_db"] > washed["dynamic_range_db"] + 10
    assert crisp["hats_range_db"] > washed["hats_range_db"] + 10


def test_air_is_the_share_above_8_khz(rng):
    t = np.arange(2 * SR) / SR
    low, high = np.sin(2 * np.pi * 200 * t), np.sin(2 * np.pi * 12000 * t)
    assert loop_figures(low, SR)["air"] < 1e-3
    assert loop_figures(high, SR)["air"] > 0.99
    assert 0.4 < loop_figures(low + high, SR)["air"] < 0.6


def test_onsets_in_the_same_places_correlate_and_moved_ones_do_not(rng):
    a = hats(rng)
    assert onset_correlation(a, a, SR) > 0.99
    assert onset_correlation(a, 0.5 * a, SR) > 0.95  # quieter, same hits
    moved = np.roll(a, len(a) // 32)  # every hit half a sixteenth late
    assert onset_correlation(a, moved, SR) < 0.3
