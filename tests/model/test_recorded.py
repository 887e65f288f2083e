"""The recorded corpus: real CC0 drums, re-chopped and re-played, with its licence on it."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import soundfile as sf

from vamen.model.audio import split_bars, tempo_from_name
from vamen.model.listening import loop_figures
from vamen.model.recorded import LICENCE, LOOPS, TONE_DB, licence_note, tone, write_dataset
from vamen.model.synth import synth_break

SR = 44100


def test_every_recording_used_is_cc0_by_the_package_copyright(sample_bank):
    note = licence_note(sample_bank.folder)
    assert note.endswith(": CC0"), note  # one licence, and it is CC0
    assert {name.split("#")[0] for name, _, _ in sample_bank.bars} == set(LOOPS)


def test_the_recorded_breaks_are_cut_into_whole_bars_at_their_tempo(sample_bank):
    tempos = {name.split("#")[0]: tempo for name, tempo, _ in sample_bank.bars}
    assert 135 < tempos["loop_amen"] < 139  # the Amen as Sonic Pi ships it
    assert all(90 <= t <= 160 for t in tempos.values()), tempos
    for name, tempo, bar in sample_bank.bars:
        assert abs(len(bar) - 240.0 / tempo * SR) <= 1, name


def test_a_dataset_is_reproducible_and_holds_both_kinds(sample_bank, tmp_path):
    a = write_dataset(tmp_path / "a", 12, seed=3, folder=sample_bank.folder)
    # written by three processes at once: the same files, in the same order
    b = write_dataset(tmp_path / "b", 12, seed=3, folder=sample_bank.folder, jobs=3)
    assert [p.name for p in a] == [p.name for p in b]
    assert sorted(p.name for p in (tmp_path / "b").glob("*.wav")) == sorted(p.name for p in a)
    assert all(np.array_equal(sf.read(x)[0], sf.read(y)[0]) for x, y in zip(a, b))
    kinds = {p.name.split("-")[0] for p in a}
    assert kinds == {"chop", "kit"}
    for path in a:
        audio, rate = sf.read(path)
        assert rate == SR
        tempo = tempo_from_name(path)
        assert tempo is not None and len(split_bars(audio, SR, tempo).bars) == 1
    manifest = json.loads((tmp_path / "a" / "vamen-dataset.json").read_text())
    assert manifest["generator"] == "vamen dataset recorded"
    assert manifest["licence"] == LICENCE and "CC0" in manifest["sources"]


def test_recorded_one_shots_keep_the_air_the_procedural_kit_lacks(sample_bank):
    """What a listener hears first: recorded cymbals carry the band to the top."""
    recorded = [loop_figures(synth_break(s, sample_rate=SR, kit=sample_bank.kit)[0], SR)
                for s in range(6)]
    for f in recorded:
        assert f["dynamic_range_db"] > 10.0  # hits and the silence between them
    # the cymbals reach past 16 kHz: the top octave is not empty
    audio, _ = synth_break(1, sample_rate=SR, kit=sample_bank.kit)
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / SR)
    assert spectrum[freqs > 16000].sum() > 1e-5 * spectrum.sum()


def test_missing_recordings_are_one_line_naming_the_package(tmp_path):
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "dataset", "recorded",
                          str(tmp_path / "out"), "--samples", str(tmp_path / "nothing")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CC0 drum recordings" in lines[0], run.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_jobs_count_is_one_line_and_writes_nothing(tmp_path):
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "dataset", "recorded",
                          str(tmp_path / "out"), "--jobs", "0"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "--jobs" in lines[0], run.stderr
    assert not (tmp_path / "out").exists()


def test_the_tone_shelf_brightens_the_top_and_leaves_the_body(rng):
    """A random high shelf: the band below 2 kHz is untouched, 8 kHz and up moves by one gain."""
    rate = 44100
    x = rng.standard_normal(2 * rate)
    gains = []
    for seed in range(20):
        y = tone(x, np.random.default_rng(seed), rate)
        fx, fy = np.abs(np.fft.rfft(x)), np.abs(np.fft.rfft(y))
        freqs = np.fft.rfftfreq(len(x), 1 / rate)
        low, top = freqs < 2000, freqs >= 8000
        np.testing.assert_allclose(fy[low], fx[low], rtol=1e-6)
        ratio = 20 * np.log10(fy[top] / fx[top])
        assert ratio.max() - ratio.min() < 1e-6  # one gain over the whole top
        gains.append(ratio.mean())
    assert TONE_DB[0] <= min(gains) and max(gains) <= TONE_DB[1]
    assert max(gains) - min(gains) > 5  # drawn across the range, not one setting
