"""Drum voices for the procedural break synthesiser: one-shots from numpy alone.

Each voice function draws its own tuning, decay and brightness from the
``rng`` it is given and returns one-shots as float64 arrays at ``sample_rate``,
with peak 1, starting at their attack. A :class:`Kit` bundles the voices of
one loop and draws their mix levels, so that every hit of one loop comes from
the same drums, as it does on a record.

Filtering happens in the frequency domain (one ``rfft``/``irfft`` pair per
voice) because the sources are noise or decaying tones, where the circular wrap
of an FFT filter is inaudible, and because it is much faster in numpy than any
sample-by-sample recursion.

See Also
--------
vamen.model.synth : patterns, arrangement, re-chops and mixing built on these voices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The six square-wave frequencies of the TR-808 cymbal and hi-hat circuit, in Hz.
METAL_808 = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)

#: Every voice a kit can play.
VOICES = frozenset(("kick", "snare", "ghost", "hat", "open_hat", "ride", "crash", "tom"))

#: Rise time of every attack: short enough to read as a hit, long enough that
#: no hit starts with a digital step, so a hit on the downbeat never clicks at
#: the loop seam.
ATTACK_S = 0.0006


def fast_len(n: int) -> int:
    """The smallest 5-smooth length >= ``n`` (and >= 256).

    numpy's FFT falls back to Bluestein's algorithm on large prime factors,
    ten times slower, and bar lengths in samples are often prime.
    """
    n = max(int(n), 256)
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _band(x: np.ndarray, sample_rate: int, low: float = 0.0, high: float = 0.0,
          order: int = 2) -> np.ndarray:
    """Butterworth-shaped magnitude band-pass of ``x`` [shape=(n,)], zero phase.

    ``low`` and ``high`` are the -3 dB edges in Hz; 0 leaves that side open.
    """
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1.0 / sample_rate)
    gain = np.ones_like(f)
    if low > 0:
        gain /= np.sqrt(1.0 + (low / np.maximum(f, 1e-3)) ** (2 * order))
    if 0 < high < sample_rate / 2:
        gain /= np.sqrt(1.0 + (f / high) ** (2 * order))
    return np.fft.irfft(spec * gain, n=x.size)


def _shape(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Give a one-shot its attack ramp and a fade at its end, normalised to peak 1."""
    n_att = max(2, int(ATTACK_S * sample_rate))
    x = x.copy()
    x[:n_att] *= np.sin(0.5 * np.pi * np.arange(n_att) / n_att) ** 2
    # Voices end 35 to 50 dB below their peak; the fade hides the cut.
    n_fade = max(4, x.size // 8)
    x[-n_fade:] *= np.cos(0.5 * np.pi * np.arange(n_fade) / n_fade) ** 2
    peak = np.max(np.abs(x))
    return x / peak if peak > 0 else x


def _squares(freqs: np.ndarray, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Sum of ``n`` samples of square waves at ``freqs`` (Hz), random phases, in -1..1.

    Each wave is a 32-bit phase accumulator whose top bit is the square:
    integer wrap-around does the modulo for free, several times faster than
    floating-point phases.
    """
    step = np.round(np.asarray(freqs) / sample_rate * 2.0 ** 32).astype(np.uint32)
    start = (rng.random(len(step)) * 2.0 ** 32).astype(np.uint32)
    k = np.arange(n, dtype=np.uint32)
    high = np.zeros(n, dtype=np.uint32)
    for inc, offset in zip(step, start):
        high += (k * inc + offset) >> np.uint32(31)
    return high * (2.0 / len(step)) - 1.0


def kick(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Bass drum: a sine with a fast pitch drop, a beater click and soft saturation.

    Returns
    -------
    np.ndarray [shape=(n,)]
        The one-shot at ``sample_rate``, peak 1; ``n`` follows the drawn decay.
    """
    f_end = rng.uniform(42.0, 68.0)
    f_start = f_end * rng.uniform(2.5, 6.0)
    sweep = rng.uniform(0.010, 0.040)
    decay = rng.uniform(0.04, 0.12)
    n = fast_len(int(decay * 5.0 * sample_rate))
    t = np.arange(n) / sample_rate
    freq = f_end + (f_start - f_end) * np.exp(-t / sweep)
    body = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate) * np.exp(-t / decay)
    # The batter head's own knock, a few times the fundamental: the part of an
    # acoustic kick that small speakers and sampled breaks actually carry.
    knock_f = f_end * rng.uniform(2.2, 4.0)
    knock = np.sin(2 * np.pi * knock_f * t + rng.uniform(0, 2 * np.pi))
    body += rng.uniform(0.3, 0.8) * knock * np.exp(-t / rng.uniform(0.015, 0.045))
    # The beater: a few milliseconds of band-passed noise, what makes a kick
    # cut through a mix on small speakers.
    click = _band(rng.standard_normal(n), sample_rate, rng.uniform(1000, 2500),
                  rng.uniform(4000, 9000))
    click *= np.exp(-t / rng.uniform(0.0008, 0.004)) * rng.uniform(0.15, 0.6)
    drive = rng.uniform(1.0, 2.0)
    return _shape(np.tanh(drive * (body + click)) / np.tanh(drive), sample_rate)


def snare(rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Snare drum: two tuned shell modes plus band-passed wire noise.

    One time in four the drum is played as a rimshot: a third, higher mode and
    a harder crack.

    Returns
    -------
    hit, ghost : np.ndarray [shape=(n,)], np.ndarray [shape=(m,)]
        A full stroke and a ghost stroke of the same drum (shorter, darker),
        both at ``sample_rate`` with peak 1.
    """
    f0 = rng.uniform(160.0, 280.0)
    modes = [(f0, rng.uniform(0.02, 0.07), 1.0),
             (f0 * rng.uniform(1.45, 1.8), rng.uniform(0.01, 0.045), rng.uniform(0.3, 0.8))]
    # Higher modes of a circular membrane (Bessel ratios 2.14, 2.30, 2.65):
    # they fill the 400 Hz - 1 kHz "body" a sine pair leaves empty.
    modes += [(f0 * ratio * rng.uniform(0.98, 1.02), rng.uniform(0.008, 0.03), rng.uniform(0.2, 0.5))
              for ratio in (2.14, 2.30, 2.65)]
    rimshot = rng.random() < 0.25
    if rimshot:
        modes.append((rng.uniform(650.0, 1100.0), rng.uniform(0.008, 0.02), rng.uniform(0.6, 1.2)))
    wires = rng.uniform(0.025, 0.08)
    low, high = rng.uniform(300.0, 1200.0), rng.uniform(4000.0, 9000.0)
    snappy = rng.uniform(0.45, 0.85)
    bend = rng.uniform(1.0, 1.15)  # heads sound sharp for the first milliseconds
    n = fast_len(int(max(wires, modes[0][1]) * 5.0 * sample_rate))
    t = np.arange(n) / sample_rate
    noise = rng.standard_normal(n)

    def stroke(length: float, brightness: float) -> np.ndarray:
        body = np.zeros(n)
        for freq, dec, amp in modes:
            pitch = freq * (1.0 + (bend - 1.0) * np.exp(-t / 0.01))
            ring = np.sin(2 * np.pi * np.cumsum(pitch) / sample_rate)
            body += amp * ring * np.exp(-t / (dec * length))
        hiss = _band(noise, sample_rate, low, high * brightness)
        hiss *= np.exp(-t / (wires * length)) / (np.std(hiss[: n // 8]) + 1e-12)
        crack = (0.5 if rimshot else 0.2) * noise * np.exp(-t / 0.0015)
        mix = (1 - snappy) * body / len(modes) * 2 + snappy * 0.35 * hiss + crack
        return _shape(mix, sample_rate)

    return stroke(1.0, 1.0), stroke(rng.uniform(0.35, 0.6), rng.uniform(0.45, 0.75))


def hats(rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hi-hat: high-passed noise and, on most kits, an 808-style square-wave cluster.

    Closed and open strokes share one source, as the same pair of cymbals
    would.

    Returns
    -------
    closed, closed_alt, open : np.ndarray [shape=(n,)] each (own lengths)
        Two closed strokes (different noise, for round-robin) and an open
        stroke, at ``sample_rate`` with peak 1.
    """
    d_closed = rng.uniform(0.008, 0.03)
    d_open = rng.uniform(0.10, 0.35)
    n_closed = fast_len(int(d_closed * 6.0 * sample_rate))
    n_open = fast_len(int(d_open * 5.0 * sample_rate))
    n = n_open + 2 * n_closed
    t = np.arange(n) / sample_rate
    metal = rng.random() < 0.65
    src = rng.standard_normal(n)
    if metal:
        freqs = np.asarray(METAL_808) * rng.uniform(0.8, 1.7) * rng.uniform(0.97, 1.03, 6)
        src = (rng.uniform(0.3, 0.7) * src
               + _squares(freqs, n, sample_rate, rng) * rng.uniform(1.0, 2.0))
    src = _band(src, sample_rate, rng.uniform(3500.0, 7500.0), rng.uniform(8000.0, 14000.0),
                order=3)
    src /= np.std(src) + 1e-12

    def cut(start: int, length: int, decay: float) -> np.ndarray:
        tt = t[:length]
        return _shape(src[start:start + length] * np.exp(-tt / decay), sample_rate)

    return (cut(n_open, n_closed, d_closed), cut(n_open + n_closed, n_closed, d_closed),
            cut(0, n_open, d_open))


def ride(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Ride cymbal: an inharmonic square-wave cluster with a bell and a long wash.

    Returns
    -------
    np.ndarray [shape=(n,)]
        The one-shot at ``sample_rate``, peak 1.
    """
    decay = rng.uniform(0.35, 0.9)
    n = fast_len(int(decay * 4.0 * sample_rate))
    t = np.arange(n) / sample_rate
    freqs = rng.uniform(300.0, 1400.0, 8)
    wash = _band(_squares(freqs, n, sample_rate, rng) + 0.4 * rng.standard_normal(n), sample_rate,
                 rng.uniform(3000.0, 6000.0), rng.uniform(10000.0, 16000.0), order=3)
    wash /= np.std(wash) + 1e-12
    bell_f = rng.uniform(500.0, 900.0)
    bell = np.sin(2 * np.pi * bell_f * t) + 0.6 * np.sin(2 * np.pi * bell_f * 2.76 * t)
    ping = np.exp(-t / rng.uniform(0.005, 0.02))
    x = (wash * np.exp(-t / decay) * (0.5 + ping)
         + rng.uniform(0.1, 0.6) * bell * np.exp(-t / (decay * 0.5)))
    return _shape(x, sample_rate)


def crash(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Crash cymbal: dense bright noise with metal, a soft swell and a long decay.

    Returns
    -------
    np.ndarray [shape=(n,)]
        The one-shot at ``sample_rate``, peak 1.
    """
    decay = rng.uniform(0.5, 1.2)
    n = fast_len(int(decay * 4.0 * sample_rate))
    t = np.arange(n) / sample_rate
    freqs = np.asarray(METAL_808) * rng.uniform(1.5, 3.0)
    x = _band(rng.standard_normal(n) + 0.5 * _squares(freqs, n, sample_rate, rng), sample_rate,
              rng.uniform(2500.0, 5000.0), rng.uniform(10000.0, 16000.0))
    x *= np.exp(-t / decay) * (1.0 - 0.6 * np.exp(-t / 0.01))
    return _shape(x, sample_rate)


def tom(rng: np.random.Generator, sample_rate: int, pitch: float) -> np.ndarray:
    """Tom (or a bongo, when ``pitch`` is high): a sine with a small pitch drop and a stick.

    Parameters
    ----------
    pitch : float
        Settling frequency of the head in Hz.

    Returns
    -------
    np.ndarray [shape=(n,)]
        The one-shot at ``sample_rate``, peak 1.
    """
    decay = rng.uniform(0.06, 0.2) * min(1.0, 150.0 / pitch) ** 0.5
    n = fast_len(int(decay * 5.0 * sample_rate))
    t = np.arange(n) / sample_rate
    freq = pitch * (1.0 + rng.uniform(0.2, 0.7) * np.exp(-t / rng.uniform(0.01, 0.04)))
    body = np.sin(2 * np.pi * np.cumsum(freq) / sample_rate) * np.exp(-t / decay)
    stick = _band(rng.standard_normal(n), sample_rate, 1500.0, 6000.0) * np.exp(-t / 0.003) * 0.3
    return _shape(np.tanh(1.5 * (body + stick)), sample_rate)


@dataclass(frozen=True)
class Kit:
    """The drums of one loop: every voice's one-shots at one sample rate.

    Attributes
    ----------
    sample_rate : int
        Sample rate of every one-shot, in Hz.
    shots : dict[str, tuple[np.ndarray, ...]]
        Voice name → one or more one-shots [shape=(n,)], peak 1. Voices are
        ``kick``, ``snare``, ``ghost``, ``hat`` (two round-robin strokes),
        ``open_hat``, ``ride``, ``crash`` and ``tom`` (high, mid, low).
    levels : dict[str, float]
        Voice name → linear mix level.
    """

    sample_rate: int
    shots: dict[str, tuple[np.ndarray, ...]]
    levels: dict[str, float]

    @classmethod
    def draw(cls, rng: np.random.Generator, sample_rate: int, *,
             voices: frozenset[str] | None = None) -> "Kit":
        """Draw a kit. ``voices`` limits the work to the voices a pattern uses.

        Each voice draws from its own child generator, so that whether a
        voice is rendered never changes how the others sound.
        """
        want = voices or VOICES
        names = ("kick", "snare", "hat", "ride", "crash", "tom", "levels")
        seeds = rng.integers(0, 2**63, len(names))
        streams = {k: np.random.default_rng(int(s)) for k, s in zip(names, seeds)}
        shots: dict[str, tuple[np.ndarray, ...]] = {}
        if "kick" in want:
            shots["kick"] = (kick(streams["kick"], sample_rate),)
        if want & {"snare", "ghost"}:
            hit, ghost = snare(streams["snare"], sample_rate)
            shots["snare"], shots["ghost"] = (hit,), (ghost,)
        if want & {"hat", "open_hat"}:
            closed, closed_alt, opened = hats(streams["hat"], sample_rate)
            shots["hat"], shots["open_hat"] = (closed, closed_alt), (opened,)
        if "ride" in want:
            shots["ride"] = (ride(streams["ride"], sample_rate),)
        if "crash" in want:
            shots["crash"] = (crash(streams["crash"], sample_rate),)
        if "tom" in want:
            r = streams["tom"]
            base = r.uniform(90.0, 330.0)
            shots["tom"] = tuple(tom(r, sample_rate, base * k) for k in (1.6, 1.25, 1.0))
        r = streams["levels"]
        levels = {
            "kick": r.uniform(0.4, 0.7), "snare": r.uniform(0.7, 1.0), "ghost": r.uniform(0.5, 0.8),
            "hat": r.uniform(0.22, 0.45), "open_hat": r.uniform(0.15, 0.3),
            "ride": r.uniform(0.12, 0.25),
            "crash": r.uniform(0.07, 0.15), "tom": r.uniform(0.4, 0.7),
        }
        return cls(sample_rate=sample_rate, shots=shots, levels=levels)
