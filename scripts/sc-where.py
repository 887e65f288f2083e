#!/usr/bin/env python3
"""Where a model's spectral convergence on real breaks is lost: the hits' timing, or their tone.

    python scripts/sc-where.py DATA_DIR [MODEL]

For each bar of DATA_DIR, what ``/vamen/encode`` plays (the fitted point,
decoded and rendered, as ``vamen eval`` measures it) is compared with the
bar, and again after two oracles that see the answer:

- timing: the model's spectrogram shifted, frame by frame, by whichever of
  -4..4 frames (about ±23 ms) fits the bar best, for the whole bar and
  for each quarter, eighth and sixteenth of it; a drummer's push and pull
  against the model's grid would show here;
- tone: each linear bin scaled by its least-squares gain over the bar; a
  kick tuned elsewhere, a snare that rings at another pitch, a room of
  another colour would show here.

The gains are upper bounds (they are fitted to the answer), to say where
the distance lies, not figures anything plays.
"""
from __future__ import annotations

import sys

import numpy as np
import torch


def sc_db(model_mag: np.ndarray, real_mag: np.ndarray) -> float:
    return float(20.0 * np.log10(np.linalg.norm(model_mag - real_mag) / np.linalg.norm(real_mag)))


def best_shifts(model_mag: np.ndarray, real_mag: np.ndarray, pieces: int, reach: int = 4) -> np.ndarray:
    """The model's spectrogram with each of ``pieces`` spans shifted to fit best."""
    frames = real_mag.shape[1]
    out = np.empty_like(model_mag)
    edges = np.linspace(0, frames, pieces + 1).astype(int)
    for a, b in zip(edges[:-1], edges[1:]):
        tries = [np.roll(model_mag, k, axis=1)[:, a:b] for k in range(-reach, reach + 1)]
        out[:, a:b] = min(tries, key=lambda t: np.linalg.norm(t - real_mag[:, a:b]))
    return out


def main(data: str, model_path: str | None = None) -> None:
    from pathlib import Path

    from vamen.model.dataset import load_folder
    from vamen.model.features import MelFrontEnd
    from vamen.model.fitting import FIT_STEPS
    from vamen.model.loopmodel import LoopModel
    from vamen.model.stft import stft

    model = LoopModel.load(Path(model_path) if model_path else None)
    c = model.config
    front = MelFrontEnd(c)
    held = load_folder(Path(data), c)
    columns = ("as played", "timing: bar", "quarters", "eighths", "sixteenths", "tone: per-bin gain")
    rows = []
    for name, bar, tempo in zip(held.names, held.bars, held.tempos):
        audio = torch.from_numpy(np.ascontiguousarray(bar))[None]
        fitted, hop = front.fit_loop(audio)
        real = stft(fitted, c.n_fft, hop).abs()[0].numpy()
        mel = front.normalise(front.power_mel(audio))
        played, _ = model.renderer.render(model.decode(model.encode(mel, FIT_STEPS)).cpu(), tempo=tempo)
        ours = stft(front.fit_loop(played)[0], c.n_fft, hop).abs()[0].numpy()
        gain = (ours * real).sum(axis=1) / np.maximum((ours * ours).sum(axis=1), 1e-12)
        rows.append([sc_db(ours, real)] + [sc_db(best_shifts(ours, real, n), real) for n in (1, 4, 8, 16)]
                    + [sc_db(ours * gain[:, None], real)])
        print(f"{name:<28}" + "".join(f"{v:>10.2f}" for v in rows[-1]), flush=True)
    print(f"{'mean (dB of SC)':<28}" + "".join(f"{v:>10.2f}" for v in np.mean(rows, axis=0)))
    print("columns: " + ", ".join(columns))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.split("\n\n")[1])
    main(*sys.argv[1:])
