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


def test_a_drummer_drifting_late_is_cut_on_each_downbeat():
    """Bars played 25 and 40 ms late against the file's one tempo are cut where their hits start."""
    from vamen.model.synth import synth_break

    rate = 44100
    one, _ = synth_break(5, sample_rate=rate, tempo=137.0)
    late = [0, int(0.025 * rate), int(0.040 * rate)]
    audio = np.concatenate([one, np.zeros(late[1], np.float32), one,
                            np.zeros(late[2] - late[1], np.float32), one])
    downbeats = [0, len(one) + late[1], 2 * len(one) + late[2]]
    cut = split_bars(audio, rate, 137.0)
    assert len(cut.bars) == 3
    starts = np.cumsum([0] + [len(b) for b in cut.bars[:-1]])
    grid = [round(i * 240.0 / cut.tempo * rate) for i in range(3)]
    assert max(abs(g - d) for g, d in zip(grid, downbeats)) > 0.010 * rate  # the grid alone misses them
    assert np.abs(starts - downbeats).max() <= 0.003 * rate, (starts - downbeats) / rate


def test_a_bar_line_in_a_wash_stays_on_the_grid(rng):
    """Noise has onsets of its own flicker: none of them is a downbeat."""
    rate = 44100
    wash = (0.3 * rng.standard_normal(4 * rate)).astype(np.float32)  # two bars of a ride's wash at 120
    cut = split_bars(wash, rate, 120.0)
    assert [len(b) for b in cut.bars] == [2 * rate, 2 * rate]


def test_each_bar_of_the_amen_starts_on_its_hit(breaks_dir):
    """The real Amen drifts against its tempo: its second and third bars are cut where their hits start."""
    import librosa

    rate = 44100
    audio = read_audio(breaks_dir / "breaks152" / "000_AMEN.WAV", rate)
    cut = split_bars(audio, rate)
    assert len(cut.bars) == 3
    # onset strength peaks a few ms into a hit's attack
    peaks = librosa.onset.onset_detect(y=audio, sr=rate, hop_length=64, units="samples")

    def to_next_peak(at):
        return min(p - at for p in peaks if p >= at) / rate

    starts = np.cumsum([len(b) for b in cut.bars[:-1]])  # in the file, to within the first cut (1 ms)
    grid = [round(i * 240.0 / cut.tempo * rate) for i in (1, 2)]
    assert min(to_next_peak(g) for g in grid) > 0.025  # on the grid, the hits come 31 and 51 ms in
    assert max(to_next_peak(s) for s in starts) < 0.012, [to_next_peak(s) for s in starts]


def test_a_sixteenth_slice_is_not_a_bar(breaks_dir):
    slice_ = next((breaks_dir / "amencutup").glob("*.wav"))
    with pytest.raises(AudioFileError, match="shorter than one bar"):
        split_bars(read_audio(slice_, 22050), 22050)
