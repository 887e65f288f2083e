"""The procedural break synthesiser: loops that are the right length, differ
from seed to seed, and sound like drums playing the rhythm they claim."""
from __future__ import annotations

import re

import librosa
import numpy as np
import pytest
import soundfile as sf

from vamen.model import studio, synth
from vamen.model.drums import VOICES, Kit
from vamen.model.synth import PATTERNS, BreakInfo, loop_seed, synth_break, write_dataset

SR = 22050
#: Loops shared by the listening tests: straight and swung, plain and re-chopped.
SEEDS = tuple(range(12))


@pytest.fixture(scope="module")
def loops() -> dict[int, tuple[np.ndarray, BreakInfo]]:
    return {seed: synth_break(seed) for seed in SEEDS}


def cyclic_distance(a: np.ndarray, b: np.ndarray, period: float) -> np.ndarray:
    """|a_i - b_j| on a circle of circumference ``period``, shape (len(a), len(b))."""
    d = np.abs(np.asarray(a)[:, None] - np.asarray(b)[None, :]) % period
    return np.minimum(d, period - d)


def detect_onsets(y: np.ndarray) -> np.ndarray:
    """Onsets of a loop as it sounds when repeated.

    The loop is analysed three times over, so hits on the downbeat have
    something before them, and duplicates of one hit are merged. A 512-point
    FFT with a 128-sample hop keeps the detector's own latency near 5 ms; at
    librosa's defaults (2048/512) it is about 25 ms, more than the tolerance.
    """
    period = len(y) / SR
    env = librosa.onset.onset_strength(y=np.tile(y, 3), sr=SR, n_fft=512, hop_length=128)
    t = librosa.onset.onset_detect(onset_envelope=env, sr=SR, hop_length=128,
                                   units="time", backtrack=False)
    t = np.sort(np.mod(t[(t >= 0.5 * period) & (t < 2.5 * period)], period))
    merged: list[float] = []
    for x in t:
        if not merged or x - merged[-1] > 0.01:
            merged.append(float(x))
    if len(merged) > 1 and merged[0] + period - merged[-1] <= 0.01:
        merged.pop()
    return np.asarray(merged)


# -- shape and level --------------------------------------------------------
@pytest.mark.parametrize("tempo", [60.0, 90.0, 174.0, 200.0])
@pytest.mark.parametrize("seed", [1, 29])
def test_a_loop_lasts_exactly_one_bar(seed, tempo):
    y, info = synth_break(seed, tempo=tempo)
    assert y.shape == (round(4 * 60 / tempo * SR),)
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) <= 0.98
    assert np.sqrt(np.mean(y.astype(np.float64) ** 2)) > 0.05
    assert info.tempo == tempo


@pytest.mark.parametrize("sample_rate, bars", [(16000, 1), (44100, 1), (22050, 2)])
def test_other_rates_and_bar_counts_keep_the_length_exact(sample_rate, bars):
    y, info = synth_break(4, sample_rate=sample_rate, tempo=97.0, bars=bars)
    assert y.shape == (round(bars * 240 / 97.0 * sample_rate),)
    assert np.max(np.abs(y)) <= 0.98
    assert info.bars == bars
    assert max(info.onsets) < len(y) / sample_rate


@pytest.mark.parametrize("kwargs", [{"tempo": 0.0}, {"tempo": 1000.0}, {"bars": 0},
                                    {"sample_rate": 4000}])
def test_impossible_requests_are_refused(kwargs):
    with pytest.raises(ValueError):
        synth_break(0, **kwargs)


def test_drawn_tempi_stay_in_80_to_175_bpm():
    tempos = [synth_break(seed)[1].tempo for seed in range(100, 130)]
    assert 80.0 <= min(tempos) and max(tempos) <= 175.0
    assert all(t == round(t, 2) for t in tempos)  # the file name carries the whole tempo


# -- determinism and variety -------------------------------------------------
def test_the_same_seed_gives_the_same_loop_bit_for_bit():
    a, info_a = synth_break(1234)
    b, info_b = synth_break(1234)
    assert np.array_equal(a, b)
    assert info_a == info_b


def test_seeds_give_different_breaks(loops):
    infos = [synth_break(seed)[1] for seed in range(30, 60)]
    audio = {synth_break(seed)[0].tobytes() for seed in range(30, 36)}
    assert len(audio) == 6
    assert len({i.pattern for i in infos}) >= 6
    assert len({i.tempo for i in infos}) >= 25
    assert max(i.tempo for i in infos) - min(i.tempo for i in infos) > 40
    assert any(i.swing > 0.1 for i in infos) and any(i.swing < 0.03 for i in infos)
    assert any(i.rechopped for i in infos) and not all(i.rechopped for i in infos)
    assert {p.name for p in PATTERNS} >= {"amen", "funky_drummer", "think", "apache", "impeach",
                                          "hot_pants", "soul_pride", "billie_jean", "two_step"}


def test_info_describes_the_hits(loops):
    for y, info in loops.values():
        onsets = np.asarray(info.onsets)
        assert np.all(np.diff(onsets) >= 0)
        assert onsets.min() >= 0 and onsets.max() < len(y) / SR
        assert len(info.voices) == len(onsets)
        assert set(info.voices) <= VOICES
        assert 0.0 <= info.swing <= synth.MAX_SWING


# -- rhythm -------------------------------------------------------------------
def test_what_a_listener_hears_as_hits_are_the_hits_listed(loops):
    assert any(info.rechopped for _, info in loops.values())  # re-chops are covered too
    heard = listed = 0
    loud_found = loud = 0
    for y, info in loops.values():
        period = len(y) / SR
        detected = detect_onsets(y)
        assert len(detected) >= 4, info
        near = cyclic_distance(detected, info.onsets, period).min(axis=1) <= 0.020
        # Measured over 300 seeds: 99.8 % of detected onsets lie within 20 ms
        # of a listed hit, 92 % in the worst loop. Ghost notes and soft hats
        # may go undetected, which is fine: this checks the hits that are heard.
        assert near.mean() >= 0.85, (info.pattern, detected[~near])
        heard += near.sum()
        listed += len(detected)
        backbone = [t for t, v in zip(info.onsets, info.voices) if v in ("kick", "snare")]
        if backbone:
            found = cyclic_distance(backbone, detected, period).min(axis=1) <= 0.030
            loud_found += found.sum()
            loud += len(backbone)
    assert heard / listed >= 0.95
    assert loud_found / loud >= 0.9  # kicks and backbeats are never inaudible


def test_the_low_end_sits_on_the_kicks(loops):
    after_kick, after_snare = [], []
    for y, info in loops.values():
        period = len(y) / SR
        spec = np.abs(librosa.stft(np.tile(y, 3), n_fft=1024, hop_length=128, center=False)) ** 2
        low = spec[librosa.fft_frequencies(sr=SR, n_fft=1024) < 150].sum(axis=0)

        def energy(t: float) -> float:  # the 40 ms after t, read in the middle copy
            frame = int(round((t + period) * SR / 128)) - 4  # frame k is centred at k * 128 + 512
            return float(low[frame:frame + 8].mean())

        kicks = [t for t, v in zip(info.onsets, info.voices) if v == "kick"]
        after_kick += [energy(t) for t in kicks]
        after_snare += [energy(t) for t, v in zip(info.onsets, info.voices) if v == "snare"
                        and (not kicks or cyclic_distance([t], kicks, period).min() > 0.1)]
    assert len(after_kick) >= 10 and len(after_snare) >= 10
    assert np.median(after_kick) > 4 * np.median(after_snare)


def test_swing_delays_the_off_sixteenths():
    checked = 0
    for seed in range(200):
        y, info = synth_break(seed)
        if info.swing < 0.15 or info.rechopped:
            continue
        sixteenth = 15.0 / info.tempo
        phase = np.mod(np.asarray(info.onsets) + 0.5 * sixteenth, 2 * sixteenth) - 0.5 * sixteenth
        on_beat = np.abs(phase) <= synth.MAX_JITTER_S + 1e-4
        late = np.abs(phase - (1 + info.swing) * sixteenth) <= synth.MAX_JITTER_S + 1e-4
        assert np.all(on_beat | late), info
        assert late.any()
        checked += 1
        if checked == 3:
            break
    assert checked == 3


# -- sound ---------------------------------------------------------------------
def test_a_break_is_not_a_test_tone(loops):
    freqs = librosa.fft_frequencies(sr=SR, n_fft=1024)
    for y, info in list(loops.values())[:6]:
        spec = np.abs(librosa.stft(y, n_fft=1024, hop_length=256)) ** 2
        total = spec.sum()
        assert spec[freqs < 150].sum() / total > 0.05, info  # kick and toms
        assert spec[freqs > 5000].sum() / total > 0.001, info  # hats, ride, snare wires
        centroid = librosa.feature.spectral_centroid(S=np.sqrt(spec), sr=SR)[0]
        assert np.percentile(centroid, 90) > 1.3 * np.percentile(centroid, 10), info
        flatness = librosa.feature.spectral_flatness(S=np.sqrt(spec))[0]
        assert flatness.max() > 10 * flatness.min(), info  # noisy hits and tonal decays


def test_the_loop_has_no_click_at_its_seam(loops):
    for y, info in loops.values():
        jump = abs(float(y[0]) - float(y[-1]))
        around = np.concatenate([y[-110:], y[:110]]).astype(np.float64)
        steps = np.abs(np.diff(around))
        steps = np.delete(steps, 109)  # the seam itself
        # A hit may start right at the seam, so the jump is measured against
        # the waveform's own steepness around it, not against zero.
        assert jump <= 2.0 * steps.max() + 1e-4, info


def test_tails_ring_past_the_end_of_the_bar_into_its_start():
    kit = Kit.draw(np.random.default_rng(0), SR, voices=frozenset({"kick"}))
    shot = kit.shots["kick"][0]
    n = 20000
    late = synth._Hit(step=0, voice="kick", velocity=1.0)
    y = synth._play([late], np.array([(n - 100) / SR]), kit, n)
    assert np.abs(y[:1000]).max() > 0.1 * np.abs(y).max()
    scale = kit.levels["kick"]
    assert np.isclose(y.sum(), scale * shot.sum())
    assert np.isclose((y ** 2).sum(), ((scale * shot) ** 2).sum())


def test_the_room_treats_the_loop_as_a_circle():
    x = np.random.default_rng(1).standard_normal(30011) * np.exp(-np.arange(30011) / 2000)
    a = studio.room(x, SR, np.random.default_rng(5))
    b = studio.room(np.roll(x, 7777), SR, np.random.default_rng(5))
    assert np.allclose(np.roll(a, 7777), b, atol=1e-6 * np.abs(a).max())


# -- files -----------------------------------------------------------------------
def test_write_dataset_writes_named_reproducible_wavs(tmp_path):
    calls = []
    paths = write_dataset(tmp_path / "a", 3, seed=5, progress=calls.append)
    assert calls == [1, 1, 1]
    assert [p.name[:11] for p in paths] == ["synth-00000", "synth-00001", "synth-00002"]
    for i, path in enumerate(paths):
        m = re.fullmatch(r"synth-(\d{5})-(\d+\.\d{2})bpm\.wav", path.name)
        assert m and int(m.group(1)) == i
        audio, rate = sf.read(path, dtype="float32")
        info = sf.info(path)
        assert rate == SR and info.subtype == "PCM_16" and info.channels == 1
        expected, expected_info = synth_break(loop_seed(5, i))
        assert float(m.group(2)) == expected_info.tempo
        assert np.abs(audio - expected).max() <= 1.0 / 32768 + 1e-7
    again = write_dataset(tmp_path / "b", 3, seed=5)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    other = write_dataset(tmp_path / "c", 1, seed=6)
    assert other[0].read_bytes() != paths[0].read_bytes()
