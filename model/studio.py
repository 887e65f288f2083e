"""The recording chain of a synthetic break: room, tone, bus and grit.

Everything here is cyclic, because a loop repeats: the room's tail at the end
of the bar belongs at its start, and the compressor's state at the seam is the
one the loop itself leaves behind. Every random choice comes from the ``rng``
passed in, so a seed is still a loop (:mod:`vamen.model.synth`).

Functions
---------
fold      sum a longer buffer onto one loop length, wrapping it round
room      a small room plus the microphones', console's and tape's tone
compress  gentle feed-forward bus compression
finish    compression, saturation, optional vinyl and sampler grit, level
"""
from __future__ import annotations

import numpy as np

from vamen.model.drums import fast_len


def fold(buf: np.ndarray, n: int) -> np.ndarray:
    """Sum a buffer longer than ``n`` onto ``n`` samples, wrapping it round."""
    pad = -len(buf) % n
    return np.concatenate([buf, np.zeros(pad)]).reshape(-1, n).sum(axis=0)


def room(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A small room and the recording's tone, applied cyclically.

    Cyclic is exactly right here: the loop repeats, so the room's tail at the
    end of the bar belongs at its start. The convolution runs at a fast FFT
    length with room for the tail (and for the zero-phase filters' ringing
    before time 0), then folds back onto the bar.
    """
    n = len(x)
    guard = int(0.25 * sr)
    rt60 = rng.uniform(0.2, 0.8)
    length = int(rt60 * sr)
    predelay = int(rng.uniform(0.004, 0.02) * sr)
    m = fast_len(n + predelay + length + 2 * guard)
    f = np.fft.rfftfreq(m, 1.0 / sr)
    wet = np.zeros(m)
    tail = rng.standard_normal(length) * np.exp(-6.91 * np.arange(length) / (rt60 * sr))
    wet[predelay:predelay + length] = tail
    for _ in range(3):  # early reflections off the nearest walls
        at = int(rng.uniform(0.002, 0.03) * sr)
        wet[at] += rng.uniform(0.3, 1.0) * np.sqrt(np.sum(tail ** 2) / 20)
    wet *= rng.uniform(0.3, 0.8) / np.sqrt(np.sum(wet ** 2))
    damping = 1.0 / np.sqrt(1.0 + (f / rng.uniform(3000.0, 8000.0)) ** 2)
    gain = 1.0 + np.fft.rfft(wet) * damping
    gain /= np.sqrt(1.0 + (25.0 / np.maximum(f, 1e-3)) ** 4)  # no rumble, no DC
    # Microphones, console and tape of the records these breaks come from:
    # a broad lift somewhere in the mids and a soft top end.
    octaves = np.log2(np.maximum(f, 1.0) / rng.uniform(500.0, 2000.0))
    gain *= 1.0 + (10 ** (rng.uniform(2.0, 8.0) / 20) - 1.0) * np.exp(-0.5 * octaves ** 2)
    gain /= np.sqrt(1.0 + (f / rng.uniform(6000.0, 14000.0)) ** 2)
    if rng.random() < 0.35:  # a dull record, or a dusty sampler filter
        gain /= np.sqrt(1.0 + (f / rng.uniform(4500.0, 11000.0)) ** 4)
    y = np.fft.irfft(np.fft.rfft(x, m) * gain, n=m)
    out = fold(y[: m - guard], n)
    out[n - guard:] += y[m - guard:]  # what the filters put before time 0
    return out


def compress(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Gentle feed-forward bus compression, cyclic like everything else.

    The envelope follower is a recursion, so it runs over 64-sample blocks
    (about a thousand per bar) and twice round the loop, so that its state at
    the seam is the state the loop itself leaves behind.
    """
    block = 64
    n = len(x)
    nb = -(-n // block)
    padded = np.concatenate([x, x[: nb * block - n]])
    level = np.sqrt(np.mean(padded.reshape(nb, block) ** 2, axis=1) + 1e-12)
    thresh = np.max(level) * 10 ** (rng.uniform(-12.0, -4.0) / 20)
    ratio = rng.uniform(1.2, 2.5)
    att = np.exp(-block / (rng.uniform(0.005, 0.015) * sr))
    rel = np.exp(-block / (rng.uniform(0.04, 0.15) * sr))
    env = np.empty(nb)
    e = level[-1]
    for sweep in range(2):
        for i, v in enumerate(level.tolist()):
            e = (att if v > e else rel) * (e - v) + v
            env[i] = e
    gain = np.minimum(1.0, (np.maximum(env, 1e-12) / thresh) ** (1.0 / ratio - 1.0))
    centres = (np.arange(nb) + 0.5) * block
    return x * np.interp(np.arange(n), centres, gain, period=nb * block)


def finish(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Bus compression, tape-ish saturation, optional vinyl and sampler grit, level."""
    x = compress(x, sr, rng)
    x = x / (np.max(np.abs(x)) + 1e-12)
    drive = rng.uniform(0.5, 1.5)
    x = np.tanh(drive * x) / np.tanh(drive)
    n = len(x)
    if rng.random() < 0.3:
        m = fast_len(n)
        pink = np.sqrt(1 + np.fft.rfftfreq(m, 1 / sr) / 500)
        hiss = np.fft.irfft(np.fft.rfft(rng.standard_normal(m)) / pink, n=m)[:n]
        x = x + hiss / np.std(hiss) * 10 ** (rng.uniform(-60.0, -46.0) / 20)
        pops = rng.integers(0, n, int(rng.uniform(1.0, 8.0) * n / sr))
        np.add.at(x, pops, rng.uniform(-1, 1, len(pops)) * 10 ** (rng.uniform(-42.0, -34.0) / 20))
    grit = rng.random()
    if grit < 0.08:  # sample-and-hold at half the rate, with its aliasing
        x = np.repeat(x[::2], 2)[:n]
    if grit < 0.15:
        bits = 2 ** int(rng.integers(10, 13)) / 2
        x = np.round(x * bits) / bits
    target = rng.uniform(0.7, 0.95)
    return x * (target / (np.max(np.abs(x)) + 1e-12))
