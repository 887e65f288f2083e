"""The model vamen ships: it loads with no arguments, plays full band, and meets the bar set for it."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from vamen.model.loopmodel import DEFAULT_MODEL, LoopModel


def test_ships_small_full_band_and_says_what_it_learnt_from():
    assert DEFAULT_MODEL.stat().st_size < 20_000_000
    model = LoopModel.load(device="cpu")
    assert model.config.sample_rate == 44100 and model.config.features == "linear"
    assert model.latent_dim == 32 and len(model.anchor_names) > 0
    dataset = model.meta.get("dataset", {})
    assert dataset.get("generator") == "vamen dataset recorded"
    assert dataset.get("licence") == "CC0-1.0" and "sonic-pi-samples" in dataset.get("sources", "")


def test_render_four_bars_with_no_model_argument(tmp_path):
    out = tmp_path / "out.wav"
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "render", str(out),
                          "--bars", "4", "--seed", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    audio, rate = sf.read(out)
    model = LoopModel.load(device="cpu")
    assert rate == 44100 and len(audio) == 4 * model.config.loop_samples()
    assert np.sqrt(np.mean(audio ** 2)) > 0.01  # not silent
    assert np.abs(audio).max() < 0.99  # not clipped


def band_levels_db(audio: np.ndarray, rate: int) -> np.ndarray:
    """Energy of each 1 kHz band, in dB below the loudest band."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1.0 / rate)
    bands = np.array([power[(freqs >= k * 1000) & (freqs < (k + 1) * 1000)].sum()
                      for k in range(int(rate / 2000))])
    return 10 * np.log10(bands / bands.max() + 1e-30)


def test_prior_draws_carry_the_band_to_16_khz():
    """Hats and cymbals keep their air: the 16-17 kHz band is there, as on a real break.

    On the Amen in ../shared/data/breaks it sits 42 dB below the loudest band;
    the 22.05 kHz models had nothing at all above 11 kHz.
    """
    model = LoopModel.load(device="cpu")
    rng = np.random.default_rng(0)
    audio, _ = model.render(model.prior_draws(8, rng))
    levels = [band_levels_db(loop, 44100)[16] for loop in audio]
    assert np.median(levels) > -60.0, levels


def test_eval_meets_the_bar(tmp_path):
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "eval", "--json",
                          "--loops", "32", "--prior", "48"], capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    assert figures["active_dims"] >= 0.75 * figures["latent_dim"]
    rhythm = figures["rhythm"]
    assert rhythm["prior_on_grid"] >= 0.8 * rhythm["heldout_on_grid"]
    assert figures["renderer_sc_db"] <= -15.0


@pytest.mark.slow
def test_real_breaks_it_never_heard(breaks_dir):
    """The shared recorded breaks (never trained on): what /vamen/encode plays of them."""
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "eval", "--json",
                          "--data", str(breaks_dir), "--prior", "64"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    assert figures["heldout_loops"] == 5  # the Amen's three bars, two more breaks
    # the renderer alone is no longer capped by a mel bottleneck (it was -11.9 dB)
    assert figures["renderer_sc_db"] <= -15.0
    listening = figures["listening"]
    real, heard, prior = listening["real"], listening["reconstructed"], listening["prior"]
    # what a listener hears first: hits with silence between them, not a wash
    assert heard["dynamic_range_db"] >= 0.8 * real["dynamic_range_db"], listening
    assert heard["hats_range_db"] >= 0.8 * real["hats_range_db"], listening
    assert prior["dynamic_range_db"] >= 0.8 * real["dynamic_range_db"], listening
    assert prior["hats_range_db"] >= 0.8 * real["hats_range_db"], listening
    # random points sound as bright as real breaks: neither dull nor hissy (drawn from
    # N(0, I) rather than where the training loops lie, they had a quarter of the air)
    assert 0.5 * real["air"] <= prior["air"] <= 2.0 * real["air"], listening
    # the model's version of a break it never heard, as the sound issue asks: as close
    # (-4.13 dB when the fit was last tuned) and its hits where the break's are (0.743),
    # clearly more than a draw that never heard the break; the fitted point closer than
    # the encoder's one pass (-2.58 dB), its hits no worse placed (0.716)
    alone = figures["encoder_alone"]
    assert figures["spectral_convergence_db"] <= -4.0, (figures, alone)
    assert figures["onset_correlation"] >= 0.7, (figures, alone)
    assert figures["spectral_convergence_db"] < alone["spectral_convergence_db"] - 0.5, (figures, alone)
    assert figures["onset_correlation"] >= alone["onset_correlation"], (figures, alone)
    drawn = _drawn_onset_correlation(breaks_dir)
    assert figures["onset_correlation"] > drawn + 0.15, (figures["onset_correlation"], drawn)


def _drawn_onset_correlation(breaks_dir) -> float:
    """Median onset correlation of each shared bar with prior draws played at its tempo."""
    import torch

    from vamen.model.dataset import load_folder
    from vamen.model.listening import onset_correlation

    model = LoopModel.load(device="cpu")
    held = load_folder(breaks_dir, model.config)
    rng = np.random.default_rng(0)
    per_bar = []
    for bar, tempo in zip(held.bars, held.tempos):
        real = model.front.fit_loop(torch.from_numpy(np.ascontiguousarray(bar))[None])[0][0].numpy()
        drawn, _ = model.render(model.prior_draws(8, rng), tempo=tempo)
        fitted = [model.front.fit_loop(torch.from_numpy(d)[None])[0][0].numpy() for d in drawn]
        per_bar.append(np.median([onset_correlation(real, f, 44100) for f in fitted]))
    return float(np.median(per_bar))
