"""Fast Griffin-Lim and tempo-synced rendering."""
import numpy as np
import pytest
import torch

from vamen.model.config import LoopConfig
from vamen.model.features import MelFrontEnd
from vamen.model.inversion import LoopRenderer, griffin_lim, spectral_convergence
from vamen.model.stft import stft


def _tone_loop(c: LoopConfig, freq: float, tempo: float) -> torch.Tensor:
    n = c.loop_samples(tempo)
    t = np.arange(n) / c.sample_rate
    env = np.exp(-((t * 4 * tempo / 60) % 1.0) * 6)  # a hit on every beat
    return torch.from_numpy((0.5 * env * np.sin(2 * np.pi * freq * t)).astype(np.float32))


def test_more_iterations_converge_closer(rng):
    x = torch.from_numpy(rng.standard_normal((1, 64 * 256)).astype(np.float32))
    x = x * torch.from_numpy(np.exp(-np.linspace(0, 30, 64 * 256) % 3).astype(np.float32))
    mag = stft(x, 1024, 256).abs()
    scores = []
    for its in (0, 8, 32):
        y, _ = griffin_lim(mag, 256, its)
        scores.append(float(spectral_convergence(stft(y, 1024, 256).abs(), mag)))
    assert scores[0] > scores[1] > scores[2]
    assert scores[2] < -10.0


def test_momentum_beats_classic_griffin_lim(rng):
    x = torch.from_numpy(rng.standard_normal((1, 64 * 256)).astype(np.float32))
    mag = stft(x * torch.linspace(0, 1, 64 * 256) ** 2, 1024, 256).abs()
    fast, _ = griffin_lim(mag, 256, 24, momentum=0.99)
    slow, _ = griffin_lim(mag, 256, 24, momentum=0.0)
    sc = lambda y: float(spectral_convergence(stft(y, 1024, 256).abs(), mag))  # noqa: E731
    assert sc(fast) < sc(slow)


def test_same_seed_same_audio_and_batch_matches_single():
    c = LoopConfig()
    front = MelFrontEnd(c)
    mels = front.loop_mel(torch.stack([_tone_loop(c, f, 120.0) for f in (220.0, 330.0)]))
    r = LoopRenderer(c, iterations=8)
    a, _ = r.render(mels, seed=3)
    b, _ = r.render(mels, seed=3)
    one, _ = r.render(mels[1:], seed=3)
    assert torch.equal(a, b)
    assert a.shape == (2, c.loop_samples())
    # batching changes nothing a listener could hear
    spec = lambda y: stft(front.fit_loop(y)[0], 1024, 256).abs()  # noqa: E731
    assert float(spectral_convergence(spec(one), spec(a[1:]))) < -20


@pytest.mark.parametrize("tempo", [60.0, 90.0, 120.0, 174.0, 200.0])
def test_bar_lasts_exactly_one_bar_at_the_same_pitch(tempo):
    c = LoopConfig()
    front = MelFrontEnd(c)
    mel = front.loop_mel(_tone_loop(c, 440.0, 120.0)[None])
    audio, _ = LoopRenderer(c, iterations=16).render(mel, tempo=tempo, sample_rate=48000)
    assert audio.shape[-1] == round(4 * 60 / tempo * 48000)
    spectrum = np.abs(np.fft.rfft(audio[0].numpy()))
    peak_hz = np.argmax(spectrum) * 48000 / audio.shape[-1]
    # a 1024-point analysis resolves 21.5 Hz at 22050 Hz; the pitch stays put
    assert abs(peak_hz - 440.0) < 22.0


def test_warm_start_phase_helps():
    c = LoopConfig()
    front = MelFrontEnd(c)
    x = _tone_loop(c, 180.0, 120.0) + 0.05 * torch.randn(c.loop_samples())
    mel = front.loop_mel(x[None])
    r = LoopRenderer(c)
    _, phase = r.render(mel, iterations=32, seed=1)
    cold, _ = r.render(mel, iterations=2, seed=2)
    warm, _ = r.render(mel, iterations=2, phase=phase)
    mag = r.front.magnitude(mel)
    hop = c.hop_for(c.loop_samples())
    sc = lambda y: float(spectral_convergence(  # noqa: E731
        stft(front.fit_loop(y)[0], c.n_fft, hop).abs(), mag))
    assert sc(warm) < sc(cold) - 3.0
