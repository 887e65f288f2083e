"""Comparing recorded bars of a loop: is it the same loop, or did it change?

A loop repeats every bar, so the magnitude spectrum of any whole bar of it is
the same wherever the bar starts; two takes of an unchanged loop agree to
rounding. What a recording of a 48 kHz JACK port adds must not count:

- vamen's models run at 22050 Hz, so above 11 kHz a take holds only the
  recorder's noise floor (about -69 dB at 24 bits). One click there (a late
  ``jack_rec`` connect, an xrun on a loaded machine) reads as +60 dB, so only
  bands below 10 kHz count, and none below 60 dB under the loudest.
- ``jack_rec`` may connect a moment after it starts: leading silence is skipped.
- A take with a dropout disagrees with its neighbour: :func:`steady_take`
  records pairs until two in a row agree.
"""
from __future__ import annotations

import numpy as np

TOP_HZ = 10000.0
BANDS = 20
RANGE_DB = 60.0


def bar_bands(audio: np.ndarray, frames: int, rate: float) -> np.ndarray:
    """Band powers in dB of the ``frames`` long bar of ``audio`` [mono] from where it first sounds."""
    sounding = np.flatnonzero(np.abs(audio) > 1e-3)
    start = int(sounding[0]) + int(0.05 * rate) if len(sounding) else 0
    part = np.asarray(audio[start:start + frames], dtype=np.float64)
    assert len(part) == frames, f"less than a bar recorded after the first sound ({len(part)} of {frames})"
    power = np.abs(np.fft.rfft(part)) ** 2
    power = power[:int(len(power) * TOP_HZ / (rate / 2))]
    db = 10 * np.log10(np.array([b.sum() for b in np.array_split(power, BANDS)]) + 1e-20)
    return np.maximum(db, db.max() - RANGE_DB)


def difference(a: np.ndarray, b: np.ndarray, frames: int, rate: float) -> float:
    """Mean band difference in dB between one bar of ``a`` and one of ``b``."""
    return float(np.abs(bar_bands(a, frames, rate) - bar_bands(b, frames, rate)).mean())


def steady_take(take, frames: int, rate: float, tries: int = 4, agree_db: float = 0.5):
    """A take once two in a row agree: ``(audio, dB apart)``; ``take()`` records one.

    After ``tries`` more takes without agreement, the closest pair's later
    take and its difference.
    """
    previous = take()
    best = (previous, np.inf)
    for _ in range(tries):
        current = take()
        apart = difference(previous, current, frames, rate)
        if apart < best[1]:
            best = (current, apart)
        if apart < agree_db:
            break
        previous = current
    return best
