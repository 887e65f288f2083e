"""Reading audio files and cutting them into bars."""
import numpy as np
import pytest
import soundfile as sf

from vamen.model.audio import read_audio, split_bars, tempo_from_name
from vamen.model.errors import AudioFileError


def test_reads_any_rate_and_channels_as_mono_model_rate(tmp_path, rng):
    path = tmp_path / "stereo.flac"
    sf.write(path, rng.uniform(-0.5, 0.5, (44100, 2)), 44100)
    audio = read_audio(path, 22050)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - 22050) <= 1


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunk", b"hello world" * 100])
def test_unreadable_files_are_one_line_errors(tmp_path, content):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError) as info:
        read_audio(path, 22050)
    assert "\n" not in str(info.value) and "bad.wav" in str(info.value)


def test_silent_and_missing_files_are_refused(tmp_path):
    sf.write(tmp_path / "silence.wav", np.zeros(22050), 22050)
    with pytest.raises(AudioFileError, match="silent"):
        read_audio(tmp_path / "silence.wav", 22050)
    with pytest.raises(AudioFileError, match="no audio file"):
        read_audio(tmp_path / "missing.wav", 22050)


def test_tempo_in_the_name():
    assert tempo_from_name("synth-00017-137.42bpm.wav") == pytest.approx(137.42)
    assert tempo_from_name("amen 170 BPM.wav") == 170
    assert tempo_from_name("kick.wav") is None


def test_synthetic_bars_split_at_the_named_tempo():
    from vamen.model.synth import synth_break

    one, info = synth_break(5, sample_rate=22050, tempo=137.0)
    cut = split_bars(np.concatenate([one, one, one]), 22050, 137.0)
    assert len(cut.bars) == 3 and cut.tempo == pytest.approx(137.0, abs=0.05)
    assert all(abs(len(b) - len(one)) <= 1 for b in cut.bars)


def test_the_amen_break_is_three_bars_near_152_bpm(breaks_dir):
    audio = read_audio(breaks_dir / "breaks152" / "000_AMEN.WAV", 22050)
    cut = split_bars(audio, 22050)
    assert len(cut.bars) == 3
    assert 145 < cut.tempo < 160


def test_a_sixteenth_slice_is_not_a_bar(breaks_dir):
    slice_ = next((breaks_dir / "amencutup").glob("*.wav"))
    with pytest.raises(AudioFileError, match="shorter than one bar"):
        split_bars(read_audio(slice_, 22050), 22050)
