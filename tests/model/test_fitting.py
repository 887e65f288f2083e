"""Encoding by fitting: the point plays closer to the bar, and the model is left as it was."""
import numpy as np
import torch

from vamen.model.inversion import spectral_convergence
from vamen.model.loopmodel import LoopModel
from vamen.model.stft import stft
from vamen.model.synth import synth_break


def test_a_fitted_point_plays_closer_to_the_bar_and_leaves_the_weights_alone():
    model = LoopModel.load(device="cpu")
    c = model.config
    bar, info = synth_break(123_457, sample_rate=c.sample_rate)
    before = {k: v.clone() for k, v in model.vae.state_dict().items()}

    plain = model.encode_loops(bar[None], fit=0)[0]
    fitted = model.encode_loops(bar[None])[0]

    def convergence(point):
        audio, _ = model.render(point[None], tempo=info.tempo)
        real, hop = model.front.fit_loop(torch.from_numpy(bar)[None])
        ours = model.front.fit_loop(torch.from_numpy(audio))[0]
        return float(spectral_convergence(stft(ours, c.n_fft, hop).abs(), stft(real, c.n_fft, hop).abs()))

    assert convergence(fitted) < convergence(plain) - 0.3
    # a point like any other: near where the prior lives, not flung far out
    assert np.sqrt(np.mean(fitted ** 2)) < 3.0
    assert all(torch.equal(v, model.vae.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in model.vae.parameters())
    # the same bar fits to the same point (the follower and /vamen/encode agree)
    np.testing.assert_allclose(model.encode_loops(bar[None])[0], fitted, atol=1e-5)
