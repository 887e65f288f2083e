"""Circular STFT, mel features and loop resampling."""
import librosa
import numpy as np
import pytest
import torch

from vamen.model.config import LoopConfig
from vamen.model import stft as stft_mod
from vamen.model.features import MelFrontEnd
from vamen.model.stft import istft, resample_loop, stft


@pytest.mark.parametrize("hop", [128, 150, 256, 333, 512])
def test_istft_inverts_stft_at_any_hop(rng, hop):
    x = torch.from_numpy(rng.standard_normal((2, 40 * hop)).astype(np.float32))
    y = istft(stft(x, 1024, hop), hop)
    assert y.shape == x.shape
    assert torch.allclose(x, y, atol=1e-4)


def test_stft_wraps_around_the_loop(rng):
    # a loop rotated by whole hops has the same frames, rotated: the seam is invisible
    x = torch.from_numpy(rng.standard_normal(64 * 256).astype(np.float32))
    a = stft(x, 1024, 256).abs()
    b = stft(torch.roll(x, 5 * 256), 1024, 256).abs()
    assert torch.allclose(torch.roll(a, 5, dims=-1), b, atol=1e-3)


#: The 22.05 kHz mel models that came before the full-band ones: still loaded and played.
MEL = LoopConfig(features="mel", sample_rate=22050, db_min=-80.0, db_max=30.0)


def test_mel_matches_librosa_away_from_the_seam(rng):
    c = MEL
    front = MelFrontEnd(c)
    n = c.frames * c.hop_length
    x = rng.standard_normal(n).astype(np.float32) * 0.1
    ours = front.power_mel(torch.from_numpy(x)[None])[0].numpy()
    ref = librosa.feature.melspectrogram(y=x, sr=c.sample_rate, n_fft=c.n_fft,
                                         hop_length=c.hop_length, n_mels=c.n_mels)
    inner = slice(4, c.frames - 4)  # librosa pads edges by reflection, we wrap
    np.testing.assert_allclose(ours[:, inner], ref[:, inner], rtol=1e-3, atol=1e-6)


def test_linear_features_are_librosa_stft_power_to_the_top_of_the_band(rng):
    c = LoopConfig()
    assert c.features == "linear" and c.sample_rate == 44100 and c.n_bins == c.n_fft // 2 + 1
    front = MelFrontEnd(c)
    n = c.frames * c.hop_length
    x = rng.standard_normal(n).astype(np.float32) * 0.1
    ours = front.power_mel(torch.from_numpy(x)[None])[0].numpy()
    ref = np.abs(librosa.stft(x, n_fft=c.n_fft, hop_length=c.hop_length)) ** 2
    inner = slice(4, c.frames - 4)
    np.testing.assert_allclose(ours[:, inner], ref[:, inner], rtol=1e-3, atol=1e-4)
    # and the magnitude comes back from the features with nothing lost in between
    mag = front.magnitude(front.normalise(torch.from_numpy(ours)))
    loud = ours > 10 ** (c.db_min / 10)
    np.testing.assert_allclose(mag.numpy()[loud] ** 2, ours[loud], rtol=1e-3)


@pytest.mark.parametrize("length", [1000, 1600, 2205, 4411])
def test_resample_loop_keeps_pitch_of_whole_cycles(length):
    # 7 whole cycles in the loop stay 7 whole cycles: frequency scales with length
    n = 2000
    t = np.arange(n) / n
    x = torch.from_numpy(np.sin(2 * np.pi * 7 * t).astype(np.float32))
    y = resample_loop(x, length).numpy()
    expected = np.sin(2 * np.pi * 7 * np.arange(length) / length)
    np.testing.assert_allclose(y, expected, atol=1e-4)


def test_normalised_mel_is_in_unit_range_and_inverts(rng):
    c = LoopConfig()
    front = MelFrontEnd(c)
    x = torch.from_numpy(rng.standard_normal((1, c.frames * c.hop_length)).astype(np.float32))
    mel = front.loop_mel(x)
    assert mel.shape == (1, c.n_bins, c.frames)
    assert 0.0 <= float(mel.min()) and float(mel.max()) <= 1.0
    power = front.power_mel(x)
    back = front.denormalise(front.normalise(power))
    inside = (power > 10 ** (c.db_min / 10)) & (power < 10 ** (c.db_max / 10))
    assert torch.allclose(back[inside], power[inside], rtol=1e-3)


def test_loops_of_any_tempo_give_the_same_frame_count():
    c = LoopConfig()
    front = MelFrontEnd(c)
    for tempo in (60, 97.3, 120, 174, 200):
        x = torch.randn(1, c.loop_samples(tempo))
        assert front.loop_mel(x).shape[-1] == c.frames


def test_a_wandering_tempo_keeps_a_bounded_cache(rng):
    """Every hop (tempo) has its overlap-add index, a few MB each: an installation
    whose scenes wander through tempos must not keep one per tempo it ever played
    (at 64 entries the server grew by 130 MB over an autopilot soak)."""
    n_fft = 512
    for hop in range(64, 64 + 3 * stft_mod.PER_HOP_CACHE):
        audio = torch.from_numpy(rng.standard_normal(16 * hop).astype(np.float32))
        back = stft_mod.istft(stft_mod.stft(audio, n_fft, hop), hop)
        assert torch.allclose(back, audio, atol=1e-4)
    assert stft_mod._ola_index.cache_info().currsize <= stft_mod.PER_HOP_CACHE
    assert stft_mod._envelope.cache_info().currsize <= stft_mod.PER_HOP_CACHE
