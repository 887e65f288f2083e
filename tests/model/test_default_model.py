"""The model vamen ships: it loads with no arguments and meets the bar set for it."""
import json
import subprocess
import sys

import numpy as np
import soundfile as sf

from vamen.model.loopmodel import DEFAULT_MODEL, LoopModel


def test_ships_small_and_loads_as_data():
    assert DEFAULT_MODEL.stat().st_size < 20_000_000
    model = LoopModel.load(device="cpu")
    assert model.latent_dim == 16 and len(model.anchor_names) > 0
    assert model.meta.get("dataset", {}).get("generator") == "vamen dataset synth"


def test_render_four_bars_with_no_model_argument(tmp_path):
    out = tmp_path / "out.wav"
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "render", str(out),
                          "--bars", "4", "--seed", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    audio, rate = sf.read(out)
    model = LoopModel.load(device="cpu")
    assert len(audio) == 4 * model.config.loop_samples()
    assert np.sqrt(np.mean(audio ** 2)) > 0.01  # not silent
    assert np.abs(audio).max() < 0.99  # not clipped


def test_eval_meets_the_bar(tmp_path):
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "eval", "--json",
                          "--loops", "32", "--prior", "48"], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    assert figures["active_dims"] >= 0.75 * figures["latent_dim"]
    rhythm = figures["rhythm"]
    assert rhythm["prior_on_grid"] >= 0.8 * rhythm["heldout_on_grid"]
    assert figures["recon_mel_l1_db"] < 8.0
