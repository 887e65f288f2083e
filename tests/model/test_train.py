"""Training: progress, periodic saves, resume, Ctrl-C, report, bad data."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from vamen.model import checkpoint
from vamen.model.config import LoopConfig
from vamen.model.dataset import load_folder, rechop, split_holdout
from vamen.model.train import TrainingDiverged, TrainingInterrupted, TrainOptions, train_folder

SMALL = LoopConfig(channels=16, latent_dim=8)


def test_resume_continues_from_the_saved_step(synth_dir, tmp_path):
    out = tmp_path / "m.pt"
    first = train_folder(synth_dir, out, TrainOptions(epochs=1, batch_size=8), SMALL)
    saved = checkpoint.load(out)["training"]
    assert saved["step"] == first.step == first.steps_per_epoch and saved["epoch"] == 1
    steps = []
    again = train_folder(synth_dir, out, TrainOptions(epochs=3, batch_size=8), resume=True,
                         progress=lambda p: steps.append(p.step))
    assert steps[0] == first.step + 1  # no step is trained twice
    assert again.step == 3 * first.steps_per_epoch
    assert [h["epoch"] for h in checkpoint.load(out)["training"]["history"]] == [1, 2, 3]


def test_ctrl_c_saves_and_says_how_to_resume(synth_dir, tmp_path):
    out = tmp_path / "m.pt"

    def interrupt(p):
        if p.step == 4:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="--resume"):
        train_folder(synth_dir, out, TrainOptions(epochs=5, batch_size=4), SMALL,
                     progress=interrupt)
    assert checkpoint.load(out)["training"]["step"] == 4


def test_loss_goes_down(synth_dir, tmp_path):
    t = train_folder(synth_dir, tmp_path / "m.pt", TrainOptions(epochs=6, batch_size=4), SMALL)
    history = t.history.epochs
    assert history[-1]["recon_db"] < history[0]["recon_db"]


def test_cli_trains_with_progress_and_writes_a_report(synth_dir, tmp_path):
    out = tmp_path / "cli.pt"
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "train", str(synth_dir),
                          "--out", str(out), "--epochs", "1", "--channels", "16",
                          "--latent-dim", "8", "--batch-size", "8", "--convergence", "0.25"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "training" in run.stderr and "epoch 1/1" in run.stderr
    assert "saved" in run.stdout
    # the recipe is in the checkpoint, so a model says how it was trained
    assert checkpoint.load(out)["meta"]["options"]["convergence"] == 0.25
    report = out.with_name("cli-report")
    figures = json.loads((report / "report.json").read_text())
    assert figures["history"][0]["epoch"] == 1 and "active_dims" in figures
    assert (report / "loss.png").stat().st_size > 1000
    assert (report / "latent.png").stat().st_size > 1000


def test_bad_files_are_skipped_and_counted(tmp_path, synth_dir):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for src in sorted(synth_dir.glob("*.wav"))[:3]:
        (folder / src.name).write_bytes(src.read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    sf.write(folder / "click.wav", np.ones(100), 22050)  # far shorter than a bar
    loops = load_folder(folder, LoopConfig())
    assert len(loops) == 3
    assert {p.split("/")[-1] for p, _ in loops.skipped} == {"broken.wav", "click.wav"}


def test_a_folder_with_no_audio_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "readme.txt").write_text("no breaks here")
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "train", str(tmp_path),
                          "--out", str(tmp_path / "m.pt")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("vamen: no audio files")
    assert "Traceback" not in run.stderr


def test_trains_on_the_recorded_breaks(breaks_dir, tmp_path):
    loops = load_folder(breaks_dir, SMALL)
    # 3 bars of Amen + 2 one-bar breaks; the 32 Amen slices are too short to be bars
    assert len(loops) == 5 and len(loops.skipped) == 32
    t = train_folder(breaks_dir, tmp_path / "real.pt", TrainOptions(epochs=2, batch_size=2), SMALL)
    assert t.step == 2 * t.steps_per_epoch


def test_rechop_keeps_the_downbeat_and_the_length(rng):
    bar = rng.standard_normal(16 * 1000).astype(np.float32)
    out = rechop(bar, rng, amount=1.0)
    assert out.shape == bar.shape
    np.testing.assert_array_equal(out[:900], bar[:900])
    assert not np.allclose(out, bar)


def test_the_rate_rises_over_the_warmup_then_follows_the_cosine(synth_dir, tmp_path):
    options = TrainOptions(epochs=1, batch_size=8, lr_warmup=4)
    trainer = train_folder(synth_dir, tmp_path / "m.pt", options, SMALL)
    trainer.options.epochs = 50  # a run long enough that six steps are its start
    rates = []
    for trainer.step in range(6):
        rates.append(trainer.lr_now())
    cosine = [TrainOptions.learning_rate * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * s / trainer.total_steps)))
              for s in range(6)]
    assert rates[:4] == pytest.approx([cosine[s] * (s + 1) / 4 for s in range(4)])
    assert rates[4:] == pytest.approx(cosine[4:])


def test_a_loss_that_stays_nan_stops_training_with_advice_and_no_step_taken(synth_dir, tmp_path):
    from vamen.model.train import MAX_BAD_STEPS, Trainer

    trainer = Trainer(load_folder(synth_dir, SMALL), tmp_path / "m.pt", SMALL,
                      TrainOptions(epochs=50, batch_size=4))
    # what a blown-up step leaves behind: one weight that is no longer a number
    with torch.no_grad():
        trainer.vae.decoder[-1].bias[0] = float("nan")
    before = {k: v.clone() for k, v in trainer.vae.state_dict().items()}
    with pytest.raises(TrainingDiverged, match=f"{MAX_BAD_STEPS} steps in a row.*lower --lr"):
        trainer.run()
    assert trainer.bad_steps == MAX_BAD_STEPS and trainer.step == 0
    after = trainer.vae.state_dict()  # the optimiser never moved a weight
    assert all(torch.allclose(before[k], after[k], rtol=0, atol=0, equal_nan=True) for k in before)


def test_a_gradient_that_is_not_a_number_is_skipped_and_training_goes_on(synth_dir, tmp_path):
    """A finite loss with a NaN gradient: the step is skipped, so clipping never spreads
    the NaN into the weights, and training finishes."""
    from vamen.model.train import Trainer

    trainer = Trainer(load_folder(synth_dir, SMALL), tmp_path / "m.pt", SMALL,
                      TrainOptions(epochs=2, batch_size=4))
    poisoned = []

    def poison(grad):  # the first three backward passes give NaN in one bias
        if len(poisoned) < 3:
            poisoned.append(1)
            return grad * float("nan")
        return grad

    trainer.vae.decoder[-1].bias.register_hook(poison)
    trainer.run()
    assert len(poisoned) == 3 and trainer.bad_steps == 3
    assert trainer.step == 2 * trainer.steps_per_epoch - 3
    assert all(torch.isfinite(v).all() for v in trainer.vae.state_dict().values())
    assert trainer.history.epochs[-1]["nonfinite_steps"] == 3


def test_holdout_split_is_stable():
    names = [f"loop-{i}" for i in range(400)]
    train, held = split_holdout(names, 0.05)
    train2, held2 = split_holdout(names[::-1], 0.05)
    assert {names[i] for i in held} == {names[::-1][i] for i in held2}
    assert 5 <= len(held) <= 40


def test_checkpoint_stays_data_only(synth_dir, tmp_path):
    out = tmp_path / "m.pt"
    train_folder(synth_dir, out, TrainOptions(epochs=1, batch_size=8), SMALL)
    torch.load(out, weights_only=True)  # raises if anything but plain data got in


def test_the_rate_settles_and_the_balance_hears_energy_not_timing(synth_dir, tmp_path):
    trainer = train_folder(synth_dir, tmp_path / "m.pt", TrainOptions(epochs=1, batch_size=8), SMALL)
    o = trainer.options
    # the full rate at the first step, a tenth of it at the end, along half a cosine
    last = trainer.optim.param_groups[0]["lr"]  # what the last step was taken at
    assert o.learning_rate * o.lr_floor <= last < o.learning_rate
    rates = []
    for trainer.step in (0, trainer.total_steps / 2, trainer.total_steps):
        rates.append(trainer.lr_now())
    assert rates[0] == pytest.approx(o.learning_rate) and rates[2] == pytest.approx(o.learning_rate * o.lr_floor)
    assert rates[1] == pytest.approx(o.learning_rate * (1 + o.lr_floor) / 2)
    # a hat on every other frame, and the same energy smeared over all of them:
    # the frames differ, each band's energy over the bar does not
    span = SMALL.db_max - SMALL.db_min
    frames = 64
    hats = torch.full((1, 2, frames), -60.0 / span)
    hats[:, 1, ::2] = 0.0
    smeared = torch.full((1, 2, frames), -60.0 / span)
    smeared[:, 1, :] = 10 * np.log10(0.5 * (1 + 10 ** -6)) / span
    assert (hats - smeared).abs().max() > 0.01
    np.testing.assert_allclose(trainer.hearing.balance(hats), trainer.hearing.balance(smeared), atol=1e-5)
    darker = smeared.clone()
    darker[:, 1, :] -= 10.0 / span  # the hats 10 dB down: the air is gone
    assert float((trainer.hearing.balance(darker) - trainer.hearing.balance(hats))[0, 1]) == pytest.approx(-10.0 / span, abs=1e-4)


def test_the_convergence_term_hears_the_loud_bins_the_log_loss_weighs_alike():
    """A kick's body 6 dB short costs as much as a quiet hiss 6 dB short in log units;
    what a listener (and spectral convergence) hears is the kick."""
    from vamen.model.hearing import Hearing

    config = LoopConfig(channels=16, latent_dim=8, features="mel")
    hearing = Hearing(config)
    span = config.db_max - config.db_min
    target = torch.full((1, 2, 32), 0.3)
    target[:, 0] = 0.9  # a loud band (the kick's body) and a quiet one
    short_body, short_hiss = target.clone(), target.clone()
    short_body[:, 0] -= 6.0 / span
    short_hiss[:, 1] -= 6.0 / span
    log_body, log_hiss = hearing.loss(short_body, target), hearing.loss(short_hiss, target)
    assert float(log_body) == pytest.approx(float(log_hiss), rel=1e-4)
    assert float(hearing.convergence(short_body, target)) > 10 * float(hearing.convergence(short_hiss, target))


def test_a_decode_far_above_the_range_still_gives_a_finite_loss_and_gradient():
    """After 643 steps of bf16 training on CUDA the shipped recipe decoded values of 5.5
    (590 dB): the power domain overflowed, the loss was NaN for every batch, and
    training stopped. Such a decode must cost a finite loss whose gradient pulls it down,
    while a decode in range costs what it always did."""
    from vamen.model.hearing import Hearing

    config = LoopConfig(channels=16, latent_dim=8)
    hearing = Hearing(config)
    bins = config.n_fft // 2 + 1
    target = torch.rand(2, bins, 16, generator=torch.Generator().manual_seed(0))
    wild = target.clone()
    wild[0, :40, 3] = 5.5
    wild.requires_grad_(True)
    loss = hearing.loss(wild, target)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(wild.grad).all()
    assert (wild.grad[0, :40, 3] > 0).all()  # descending lowers the wild bins
    in_range = target.clamp(0.0, 1.0) * 0.9
    span = config.db_max - config.db_min
    power = torch.pow(10.0, (in_range * span + config.db_min) / 10.0)
    fb = hearing._fb
    expected = 10.0 * torch.log10(fb @ power + 1e-10) / span
    assert torch.equal(hearing.bands(in_range), expected)
