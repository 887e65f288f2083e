"""Checkpoints load as data, and every bad file gets one clear sentence."""
import os
import pickle
import subprocess
import sys

import pytest
import torch

from vamen.model import checkpoint
from vamen.model.errors import CheckpointError
from vamen.model.loopmodel import LoopModel


def test_round_trip_keeps_weights_config_and_anchors(tiny_model, tmp_path):
    model = LoopModel.load(tiny_model, "cpu")
    copy = tmp_path / "copy.pt"
    model.save(copy)
    again = LoopModel.load(copy, "cpu")
    assert again.config == model.config
    assert again.anchor_names == model.anchor_names
    z = torch.randn(2, model.latent_dim)
    assert torch.equal(model.decode(z), again.decode(z))


def test_half_precision_save_is_smaller_and_sounds_the_same(tiny_model, tmp_path):
    model = LoopModel.load(tiny_model, "cpu")
    half = tmp_path / "half.pt"
    model.save(half, half=True)
    assert half.stat().st_size < 0.7 * tiny_model.stat().st_size
    z = torch.randn(4, model.latent_dim)
    assert float((model.decode(z) - LoopModel.load(half, "cpu").decode(z)).abs().max()) < 0.01


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/vamen-pwned",))


def _bad_files(tmp_path, tiny_model):
    files = {}
    files["text"] = tmp_path / "notes.pt"
    files["text"].write_text("just some text\n")
    files["readme"] = tmp_path / "README.pt"  # text whose first byte is a pickle opcode torch refuses
    files["readme"].write_text("# vamen\n\nA live performance server\n")
    files["empty"] = tmp_path / "empty.pt"
    files["empty"].write_bytes(b"")
    files["truncated"] = tmp_path / "truncated.pt"
    files["truncated"].write_bytes(tiny_model.read_bytes()[:5000])
    files["foreign"] = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}}, files["foreign"])
    files["future"] = tmp_path / "future.pt"
    data = torch.load(tiny_model, weights_only=True)
    data["version"] = checkpoint.VERSION + 1
    torch.save(data, files["future"])
    files["code"] = tmp_path / "code.pt"
    with open(files["code"], "wb") as fh:
        pickle.dump(Evil(), fh)
    files["code_in_torch"] = tmp_path / "code2.pt"
    torch.save({"format": checkpoint.FORMAT, "version": 1, "x": Evil()}, files["code_in_torch"])
    files["folder"] = tmp_path
    files["missing"] = tmp_path / "nope.pt"
    for kind, prior in (("prior_nan", {"mean": torch.full((8,), float("nan")), "std": torch.ones(8)}),
                        ("prior_short", {"mean": torch.zeros(3), "std": torch.ones(3)}),
                        ("prior_zero_std", {"mean": torch.zeros(8), "std": torch.zeros(8)}),
                        ("prior_list", [0.0] * 8)):
        data = torch.load(tiny_model, weights_only=True)
        data["prior"] = prior
        files[kind] = tmp_path / f"{kind}.pt"
        torch.save(data, files[kind])
    return files


SAYS = {"text": "not a PyTorch file", "readme": "not a PyTorch file", "empty": "not a PyTorch file",
        "truncated": "truncated or corrupt", "foreign": "not a vamen checkpoint",
        "future": "newer vamen", "code": "refusing to load it as code",
        "code_in_torch": "refusing to load it as code", "folder": "is a folder", "missing": "no checkpoint",
        **{f"prior_{k}": "malformed prior" for k in ("nan", "short", "zero_std", "list")}}


@pytest.mark.parametrize("kind", sorted(SAYS))
def test_bad_checkpoint_is_one_clear_error(tmp_path, tiny_model, kind):
    path = _bad_files(tmp_path, tiny_model)[kind]
    with pytest.raises(CheckpointError) as info:
        LoopModel.load(path, "cpu")
    message = str(info.value)
    assert "\n" not in message and str(path.name) in message
    assert SAYS[kind] in message  # the sentence names what is wrong with this file
    assert not os.path.exists("/tmp/vamen-pwned")


def test_future_version_says_so(tmp_path, tiny_model):
    with pytest.raises(CheckpointError, match="newer vamen"):
        LoopModel.load(_bad_files(tmp_path, tiny_model)["future"])


@pytest.mark.parametrize("kind", ["text", "truncated", "foreign", "code"])
def test_cli_reports_bad_checkpoint_in_one_line(tmp_path, tiny_model, kind):
    path = _bad_files(tmp_path, tiny_model)[kind]
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "render", str(tmp_path / "o.wav"),
                          "--model", str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vamen: "), run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "o.wav").exists()


def test_a_22khz_mel_checkpoint_from_before_full_band_still_loads_and_plays(tmp_path):
    """Checkpoints written before ``features`` existed name every other field: they are mel."""
    from vamen.model.config import LoopConfig
    from vamen.model.vae import LoopVAE

    old = LoopConfig(features="mel", sample_rate=22050, db_min=-80.0, db_max=30.0,
                     channels=16, latent_dim=8)
    torch.manual_seed(0)
    vae = LoopVAE(old)
    config = old.to_dict()
    del config["features"]  # as format 1 wrote it
    path = tmp_path / "old.pt"
    checkpoint.save(path, {"config": config, "weights": vae.state_dict(),
                           "anchors": {"names": ["a"], "latents": torch.zeros(1, 8)}})
    model = LoopModel.load(path, "cpu")
    assert model.config.features == "mel" and model.config.sample_rate == 22050
    assert model.config.n_bins == 128
    mean, std = model.prior  # saved before there was a prior: the standard normal, as it drew then
    assert (mean == 0).all() and (std == 1).all()
    audio, _ = model.render(torch.zeros(1, 8), tempo=120.0, sample_rate=48000, iterations=4)
    assert audio.shape == (1, 96000)


def test_a_config_naming_unknown_features_is_one_sentence(tmp_path, tiny_model):
    data = torch.load(tiny_model, weights_only=True)
    data["config"]["features"] = "wavelets"
    path = tmp_path / "odd.pt"
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="features must be one of linear, mel"):
        LoopModel.load(path, "cpu")


def test_a_trained_models_random_points_are_drawn_where_its_training_loops_lie(tiny_model, synth_dir, tmp_path):
    """The prior saved by training is the Gaussian of the loops' posteriors, and survives a save."""
    import numpy as np

    from vamen.model.dataset import MelBatches, load_folder, split_holdout
    from vamen.model.loopmodel import latent_prior

    model = LoopModel.load(tiny_model, "cpu")
    loops = load_folder(synth_dir, model.config)  # what the tiny model was trained on
    train, _ = split_holdout(loops.names, 0.05)
    with torch.no_grad():
        mean, logvar = model.vae.encode(MelBatches(loops.subset(train), model.config, 0.0).clean)
    want_mean, want_std = latent_prior(mean, logvar)
    got_mean, got_std = model.prior
    np.testing.assert_allclose(got_mean, want_mean.numpy(), atol=1e-4)
    np.testing.assert_allclose(got_std, want_std.numpy(), rtol=1e-3)
    draws = model.prior_draws(4000, np.random.default_rng(0))
    np.testing.assert_allclose(draws.mean(0), got_mean, atol=4 * got_std.max() / np.sqrt(4000))
    np.testing.assert_allclose(draws.std(0), got_std, rtol=0.1)
    model.save(tmp_path / "again.pt", half=True)
    np.testing.assert_allclose(LoopModel.load(tmp_path / "again.pt", "cpu").prior[1], got_std)


def test_fit_prior_gives_an_older_checkpoint_the_prior_training_would_have_saved(tiny_model, synth_dir, tmp_path):
    """scripts/fit-prior.py (how the shipped model got its prior) agrees with what training saves."""
    from pathlib import Path

    import numpy as np

    data = torch.load(tiny_model, weights_only=True)
    del data["prior"]  # as written before checkpoints had one
    old = tmp_path / "old.pt"
    torch.save(data, old)
    assert (LoopModel.load(old, "cpu").prior[1] == 1).all()
    script = Path(__file__).resolve().parents[2] / "scripts" / "fit-prior.py"
    run = subprocess.run([sys.executable, str(script), str(old), str(synth_dir)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "prior of" in run.stdout and "training loops written" in run.stdout
    fitted, trained = LoopModel.load(old, "cpu").prior, LoopModel.load(tiny_model, "cpu").prior
    np.testing.assert_allclose(fitted[0], trained[0], atol=1e-4)
    np.testing.assert_allclose(fitted[1], trained[1], rtol=1e-3)
    again = torch.load(old, weights_only=True)
    assert all(torch.equal(again["weights"][k], data["weights"][k]) for k in data["weights"])
    (tmp_path / "empty").mkdir()
    bad = subprocess.run([sys.executable, str(script), str(old), str(tmp_path / "empty")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert torch.load(old, weights_only=True)["prior"]["std"].shape == (data["config"]["latent_dim"],)  # untouched
