#!/usr/bin/env python3
"""Spectrograms of audio files side by side, on one dB scale, to look at.

    python scripts/spectrograms.py OUT.png real.wav model.wav [more.wav ...]

Each file gets a panel: its first 2.5 s, 0 to 22.05 kHz, 5.8 ms hops, the
same colour range for all (the loudest file's peak down 80 dB), so a wash
between hits or a missing top octave shows as it would to an ear.
Needs matplotlib (the ``report`` extra).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(out: str, *files: str) -> None:
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sr = 44100
    specs = []
    for name in files:
        y, _ = librosa.load(name, sr=sr, mono=True, duration=2.5)
        s = np.abs(librosa.stft(y, n_fft=1024, hop_length=256)) ** 2
        specs.append(10 * np.log10(s + 1e-12))
    top = max(float(s.max()) for s in specs)
    fig, axes = plt.subplots(1, len(files), figsize=(4.2 * len(files), 4), sharey=True)
    for ax, s, name in zip(np.atleast_1d(axes), specs, files):
        t = np.arange(s.shape[1]) * 256 / sr
        f = np.fft.rfftfreq(1024, 1 / sr) / 1000
        ax.pcolormesh(t, f, s, vmin=top - 80, vmax=top, shading="auto", cmap="magma")
        ax.set_title(Path(name).name, fontsize=9)
        ax.set_xlabel("s")
    np.atleast_1d(axes)[0].set_ylabel("kHz")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], *sys.argv[2:])
