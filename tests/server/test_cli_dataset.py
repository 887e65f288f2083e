"""``vamen dataset synth``: a folder of readable, reproducible loops from one command."""
from __future__ import annotations

import json
import re

import soundfile as sf
from click.testing import CliRunner

from vamen.server.cli import main

NAME = re.compile(r"synth-(\d{5})-(\d+\.\d{2})bpm\.wav")


def run(*args: str):
    return CliRunner().invoke(main, ["dataset", "synth", *args])


def test_synth_writes_count_wavs_named_by_tempo(tmp_path):
    out = tmp_path / "corpus"  # does not exist yet: the command creates it
    result = run(str(out), "--count", "5", "--seed", "3")
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.wav"))
    assert len(files) == 5
    assert json.loads((out / "vamen-dataset.json").read_text())["seed"] == 3
    for i, path in enumerate(files):
        m = NAME.fullmatch(path.name)
        assert m and int(m.group(1)) == i
        audio, rate = sf.read(path)
        assert rate == 22050 and audio.ndim == 1
        assert len(audio) == round(240 / float(m.group(2)) * 22050)  # one bar at that tempo
        assert 0.05 < abs(audio).max() <= 0.98
    assert "5 loops" in result.stdout
    assert result.stdout.count("\n") == 1


def test_the_same_seed_writes_the_same_files(tmp_path):
    assert run(str(tmp_path / "a"), "--count", "5", "--seed", "3").exit_code == 0
    assert run(str(tmp_path / "b"), "--count", "5", "--seed", "3").exit_code == 0
    assert run(str(tmp_path / "c"), "--count", "5", "--seed", "4").exit_code == 0
    a, b, c = (sorted((tmp_path / d).glob("*.wav")) for d in "abc")
    assert [p.name for p in a] == [p.name for p in b]
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_json_summary(tmp_path):
    result = run(str(tmp_path), "-n", "3", "--seed", "1", "--sample-rate", "16000", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["files"] == 3 and summary["sample_rate"] == 16000
    tempos = [float(NAME.fullmatch(p.name).group(2)) for p in tmp_path.glob("*.wav")]
    assert summary["tempo_min"] == min(tempos) and summary["tempo_max"] == max(tempos)
    assert abs(summary["seconds"] - sum(240 / t for t in tempos)) < 0.01
    assert all(sf.info(p).samplerate == 16000 for p in tmp_path.glob("*.wav"))


def test_count_below_one_is_one_line_not_a_traceback(tmp_path):
    result = run(str(tmp_path / "x"), "--count", "0")
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--count" in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "taken.wav"
    target.write_bytes(b"not a folder")
    result = run(str(target), "--count", "2")
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "taken.wav" in lines[0]
    assert target.read_bytes() == b"not a folder"


def test_dataset_is_a_registered_command():
    result = CliRunner().invoke(main, ["dataset", "synth", "--help"])
    assert result.exit_code == 0
    assert "--count" in result.output and "--seed" in result.output
