"""What a trained model is worth: reconstruction, inversion, latent use, rhythm.

The figures (see :func:`evaluate`):

- ``recon_mel_l1_db``: mean absolute mel error, in dB, of held-out loops
  passed through encoder and decoder;
- ``spectral_convergence_db``: their decoded mels rendered by Griffin-Lim,
  compared with the original audio's STFT magnitude (lower is better). The
  points are fitted as ``/vamen/encode`` fits them (:mod:`vamen.model.fitting`);
  ``encoder_alone`` has this figure and the onset correlation for the
  encoder's one pass;
- ``active_dims``: latent dimensions whose posterior mean varies over the
  held-out loops (variance above 0.01);
- ``rhythm``: the share of onsets within 20 ms of the sixteenth-note grid
  (the best swing for each loop counts), for loops drawn from the prior and
  for the held-out loops themselves; their ratio says whether the latent
  space keeps the groove;
- ``renderer_sc_db``: the held-out loops' own features rendered, with no
  model in between: what the renderer alone costs;
- ``onset_correlation``: median correlation of the onset envelopes of each
  held-out loop and its encode → decode → render version;
- ``listening``: median dynamic range, hats' range and share of air (see
  :mod:`vamen.model.listening`) of the real held-out loops, of their
  reconstructions and of the prior draws, side by side.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .dataset import LoopSet
from .features import MelFrontEnd
from .fitting import FIT_STEPS
from .inversion import spectral_convergence
from .listening import loop_figures, median_figures, onset_correlation
from .loopmodel import LoopModel
from .stft import stft

GRID_TOLERANCE = 0.020
SWINGS = np.linspace(0.0, 1.0 / 3.0, 12)


def onset_times(loop: np.ndarray, sample_rate: int) -> np.ndarray:
    """Onset times in seconds within one loop [shape=(n,)].

    The loop is played twice and only the second pass counts, so a hit on
    the downbeat has the loop's tail before it, as it does when looping.
    """
    import librosa

    twice = np.concatenate([loop, loop])
    hop = 128
    times = librosa.onset.onset_detect(y=twice, sr=sample_rate, hop_length=hop, units="time")
    length = len(loop) / sample_rate
    edge = 2 * hop / sample_rate
    keep = times[(times >= length - edge) & (times < 2 * length - edge)] - length
    return np.where(keep < 0, keep + length, keep)


def grid_share(onsets: np.ndarray, tempo: float, tolerance: float = GRID_TOLERANCE) -> float:
    """Share of onsets within ``tolerance`` s of the sixteenth grid, best swing.

    Swing delays every other sixteenth by a fraction (0 to 1/3) of a
    sixteenth; the fraction that fits the loop best is used.
    """
    if len(onsets) == 0:
        return 0.0
    sixteenth = 15.0 / tempo
    best = 0.0
    for swing in SWINGS:
        k = np.floor(onsets / sixteenth)
        candidates = np.stack([k - 1, k, k + 1, k + 2])
        grid = candidates * sixteenth + (candidates % 2 == 1) * swing * sixteenth
        err = np.abs(grid - onsets[None]).min(axis=0)
        best = max(best, float((err <= tolerance).mean()))
    return best


def evaluate(model: LoopModel, held_out: LoopSet, prior_loops: int = 64, seed: int = 0,
             iterations: int | None = None, fit: int = FIT_STEPS,
             progress: Callable[[int], None] | None = None) -> dict:
    """Evaluate ``model`` on ``held_out`` loops and on draws from its prior.

    Returns
    -------
    dict of figures (see module docstring); ``progress(1)`` is called per loop.
    """
    c = model.config
    front = MelFrontEnd(c)
    span = c.db_max - c.db_min
    l1, sc, sc_alone, means, real_share, onset_r = [], [], [], [], [], []
    sc_plain, onset_plain = [], []
    real_fig, recon_fig = [], []
    for bar, tempo in zip(held_out.bars, held_out.tempos):
        audio = torch.from_numpy(np.ascontiguousarray(bar))[None]
        fitted, hop = front.fit_loop(audio)
        reference = stft(fitted, c.n_fft, hop).abs()
        mel = front.normalise(front.power_mel(audio))
        mean = model.encode(mel)

        def played(point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
            decoded = model.decode(point).cpu()
            audio_out, _ = model.renderer.render(decoded, tempo=tempo, iterations=iterations)
            audio_out = front.fit_loop(audio_out)[0]
            return decoded, audio_out, float(spectral_convergence(
                stft(audio_out, c.n_fft, hop).abs(), reference))

        _, plain, plain_sc = played(mean)
        sc_plain.append(plain_sc)
        onset_plain.append(onset_correlation(fitted[0].numpy(), plain[0].numpy(), c.sample_rate))
        decoded, rendered, fitted_sc = played(model.encode(mel, fit) if fit else mean)
        l1.append(float((decoded - mel).abs().mean()) * span)
        sc.append(fitted_sc)
        alone, _ = model.renderer.render(mel, tempo=tempo, iterations=iterations)
        alone = front.fit_loop(alone)[0]
        sc_alone.append(float(spectral_convergence(stft(alone, c.n_fft, hop).abs(), reference)))
        real_loop, model_loop = fitted[0].numpy(), rendered[0].numpy()
        onset_r.append(onset_correlation(real_loop, model_loop, c.sample_rate))
        real_fig.append(loop_figures(real_loop, c.sample_rate))
        recon_fig.append(loop_figures(model_loop, c.sample_rate))
        means.append(mean[0])
        real_share.append(grid_share(onset_times(bar, c.sample_rate), tempo))
        if progress:
            progress(1)
    means_t = torch.stack(means)
    variance = means_t.var(dim=0) if len(means_t) > 1 else torch.zeros(c.latent_dim)
    rng = np.random.default_rng(seed)
    prior_share, prior_fig = [], []
    for start in range(0, prior_loops, 16):
        z = model.prior_draws(min(16, prior_loops - start), rng)
        audio, _ = model.render(z, iterations=iterations)
        for loop in audio:
            prior_share.append(grid_share(onset_times(loop, c.sample_rate), c.tempo))
            prior_fig.append(loop_figures(loop, c.sample_rate))
            if progress:
                progress(1)
    real, prior = float(np.mean(real_share)), float(np.mean(prior_share))
    return {
        "heldout_loops": len(held_out),
        "recon_mel_l1_db": round(float(np.mean(l1)), 3),
        "spectral_convergence_db": round(float(np.mean(sc)), 3),
        "renderer_sc_db": round(float(np.mean(sc_alone)), 3),
        "onset_correlation": round(float(np.median(onset_r)), 4),
        "fit_steps": fit,
        "encoder_alone": {"spectral_convergence_db": round(float(np.mean(sc_plain)), 3),
                          "onset_correlation": round(float(np.median(onset_plain)), 4)},
        "sample_rate": c.sample_rate,
        "features": c.features,
        "listening": {"real": median_figures(real_fig),
                      "reconstructed": median_figures(recon_fig),
                      "prior": median_figures(prior_fig)},
        "active_dims": int((variance > 0.01).sum()),
        "latent_dim": c.latent_dim,
        "latent_variance": [round(float(v), 4) for v in variance],
        "rhythm": {
            "tolerance_s": GRID_TOLERANCE,
            "prior_loops": prior_loops,
            "prior_on_grid": round(prior, 4),
            "heldout_on_grid": round(real, 4),
            "ratio": round(prior / real, 4) if real > 0 else None,
        },
    }
