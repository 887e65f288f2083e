"""The command line as a user meets it."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from vamen.server.cli import main

COMMANDS = ("serve", "render", "train", "dataset", "eval", "bench", "devices")


def vamen(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "vamen.server.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name}" in result.output
    for name in COMMANDS:
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0


def test_render_writes_bars_at_the_tempo(tiny_model, tmp_path):
    out = tmp_path / "out.wav"
    run = vamen("render", out, "--model", tiny_model, "--bars", 4, "--seed", 1, "--tempo", 100)
    assert run.returncode == 0, run.stderr
    audio, rate = sf.read(out)
    assert rate == 44100  # a model's own rate: the full-band models run at 44.1 kHz
    assert len(audio) == 4 * round(4 * 60 / 100 * 44100)
    assert np.sqrt(np.mean(audio ** 2)) > 1e-3
    assert np.abs(audio).max() <= 0.99


def test_render_encode_plays_every_bar_of_a_real_break_at_its_own_tempo(tiny_model, breaks_dir,
                                                                      tmp_path):
    amen = breaks_dir / "breaks152" / "000_AMEN.WAV"
    out = tmp_path / "amen-model.wav"
    run = vamen("render", out, "--model", tiny_model, "--encode", amen)
    assert run.returncode == 0, run.stderr
    audio, rate = sf.read(out)
    original, original_rate = sf.read(amen)
    # three bars, as long as the file's three bars, at the model's rate
    assert "3 bars" in run.stdout and "model's version of 000_AMEN.WAV" in run.stdout
    assert abs(len(audio) / rate - len(original) / original_rate) < 0.02
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio")
    bad = vamen("render", tmp_path / "x.wav", "--model", tiny_model, "--encode", notes)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert not (tmp_path / "x.wav").exists()


def test_render_same_seed_same_file_and_walks_move(tiny_model, tmp_path):
    a, b, w = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "w.wav"
    for path in (a, b):
        assert vamen("render", path, "--model", tiny_model, "--bars", 2, "--seed", 4).returncode == 0
    assert sf.read(a)[0].tolist() == sf.read(b)[0].tolist()
    assert vamen("render", w, "--model", tiny_model, "--bars", 2, "--seed", 4,
                 "--walk", 2.0, "--walk-rate", 2).returncode == 0
    audio = sf.read(w)[0]
    half = len(audio) // 2
    assert np.abs(audio[:half] - audio[half:]).mean() > 1e-4  # bar 2 differs from bar 1


def test_render_morph_and_latent(tiny_model, tmp_path):
    out = tmp_path / "m.wav"
    run = vamen("render", out, "--model", tiny_model, "--bars", 3, "--morph", 0, "random",
                "--sample-rate", 48000)
    assert run.returncode == 0, run.stderr
    assert sf.info(out).samplerate == 48000
    run = vamen("render", out, "--model", tiny_model, "--latent", "1,0,-1")
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("args", [["--latent", "1,x"], ["--latent", ",".join(["1"] * 99)],
                                  ["--morph", "0", "no-such-anchor"], ["--bars", "0"]])
def test_render_refuses_bad_arguments(tiny_model, tmp_path, args):
    run = vamen("render", tmp_path / "x.wav", "--model", tiny_model, *args)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "x.wav").exists()


def test_bench_render_reports_both_contenders():
    run = vamen("bench", "render", "--json", "--loops", 2, "--librosa-loops", 1, "--batch", 1,
                "--iterations", 8)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    assert figures["vamen"]["1"]["realtime"] > 0 and figures["librosa"]["realtime"] > 0
    assert np.isfinite(figures["sc_gap_db"]) and figures["iterations"] == 8
    assert "bench: librosa" in run.stderr  # progress is shown


def test_render_checks_the_output_name_before_any_work(tiny_model, tmp_path):
    # an extension libsndfile cannot write, none at all, a folder that is not there
    for out in (tmp_path / "out.xyz", tmp_path / "out", tmp_path / "no" / "such" / "x.wav"):
        run = vamen("render", out, "--model", tiny_model, "--bars", 200)
        assert run.returncode == 2, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and str(out) in run.stderr
        assert not out.exists() and not (tmp_path / "no").exists()
    if "MP3" in sf.available_formats():  # libsndfile 1.1+ writes MP3: a render can be one
        out = tmp_path / "out.mp3"
        run = vamen("render", out, "--model", tiny_model, "--bars", 1)
        assert run.returncode == 0, run.stderr
        audio, rate = sf.read(out)
        assert rate == 44100 and abs(len(audio) - 88200) < 4096  # the codec pads a little
        assert "1 bar at" in run.stdout


def test_resume_keeps_the_model_shape_says_where_it_resumes_and_names_skipped_files(
        synth_dir, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for wav in sorted(synth_dir.glob("*.wav"))[:6]:
        (data / wav.name).write_bytes(wav.read_bytes())
    (data / "notes.wav").write_text("not audio")
    out = tmp_path / "m.pt"
    first = vamen("train", data, "--out", out, "--epochs", 1, "--latent-dim", 8,
                  "--channels", 16, "--no-report")
    assert first.returncode == 0, first.stderr
    assert f"skipped {data / 'notes.wav'}: cannot read" in first.stderr
    refused = vamen("train", data, "--out", out, "--epochs", 2, "--latent-dim", 16, "--resume")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"vamen: {out} was trained with --latent-dim 8; --resume keeps it "
        f"(drop --latent-dim 16, or train anew)"]
    again = vamen("train", data, "--out", out, "--epochs", 2, "--resume", "--no-report")
    assert again.returncode == 0, again.stderr
    assert "resuming from step 1 (epoch 1)" in again.stderr


def test_render_morph_takes_an_anchor_by_its_file_name(tiny_model, tmp_path):
    from vamen.model.loopmodel import LoopModel

    name = LoopModel.load(tiny_model, "cpu").anchor_names[0]
    run = vamen("render", tmp_path / "m.wav", "--model", tiny_model, "--bars", 2,
                "--morph", f"{name}.wav", "random")
    assert run.returncode == 0, run.stderr
    typo = vamen("render", tmp_path / "t.wav", "--model", tiny_model, "--morph", name + "x", "0")
    assert typo.returncode == 2 and f"did you mean {name!r}" in typo.stderr
