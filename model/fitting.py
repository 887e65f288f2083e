"""Encoding by fitting: a few gradient steps on the latent point of a real bar.

The encoder is one pass, trained to be good on average over its training
loops (the amortisation gap). On a break it never heard it lands near, not
on, the point the decoder would need. Starting there, ``steps`` steps of
Adam on the point alone close much of that gap. The loss is the training's
(:class:`~vamen.model.hearing.Hearing`) with the onset flux weighed ten
times, plus half of the magnitudes' spectral convergence: the loud bins'
error in linear magnitude, which the ear and ``vamen eval`` hear, while the
onsets keep the hits in place.

The weights were chosen on fresh loops of the training kind (``vamen
eval``'s default held-out set, 48 loops), by spectral convergence, keeping
the onset correlation within 0.02 of what it was. With the full-band
default model, 30 steps: -6.09 dB for the encoder alone; -6.73 dB (onsets
0.926) with the earlier weights (flux 3, convergence 0.05, 20 steps);
-7.33 dB (0.911) with these; convergence 1.0 reached -7.45 dB but cost
onsets 0.020. On the real breaks (``vamen eval --data``) the same change
took what ``/vamen/encode`` plays from -3.78 to -4.13 dB, every bar closer,
onsets 0.770 to 0.743 (median of five bars). 30 steps take 0.47 s a bar on
one idle CPU core (20 took 0.35, 40 took 0.66).

The weights are untouched (only the point's gradient is taken), so a fit
may run beside the render worker on the same model. A small pull towards
the origin keeps fitted points near where the VAE's prior lives, so they
interpolate and walk like any other. (The checkpoint's own prior, where the
training loops lie, has its centre near it: 0.17 on average per dimension
for the default model; the pull is too weak for the difference to tell.)
"""
from __future__ import annotations

import torch

from .hearing import Hearing
from .vae import LoopVAE

#: Steps that ``/vamen/encode``, ``vamen render --encode`` and the follower take.
FIT_STEPS = 30
FIT_RATE = 0.2
BETAS = (0.9, 0.999)
#: The loss's weights: onset flux ten times the training's, and half of the
#: magnitudes' spectral convergence (what the ear and ``vamen eval`` compare).
FIT_FLUX = 10.0
FIT_CONVERGENCE = 0.5
#: Weight of the pull towards the origin (per dimension, squared).
PRIOR_PULL = 1e-3


def fit_latent(vae: LoopVAE, hearing: Hearing, spec: torch.Tensor, start: torch.Tensor,
               steps: int = FIT_STEPS) -> torch.Tensor:
    """Latent points [B, latent_dim] refined so their decodes match ``spec``.

    Parameters
    ----------
    vae : LoopVAE
    hearing : Hearing
        The loss, on the vae's device.
    spec : torch.Tensor [shape=(B, bins, frames)]
        Normalised spectra of the real bars.
    start : torch.Tensor [shape=(B, latent_dim)]
        The encoder's means.
    steps : int
        Steps of Adam; 0 returns ``start``.
    """
    z = start.detach().clone()
    if steps <= 0:
        return z
    target = spec.detach()
    first = torch.zeros_like(z)
    second = torch.zeros(z.shape[0], 1, dtype=z.dtype, device=z.device)
    with torch.enable_grad():
        for step in range(1, steps + 1):
            z.requires_grad_(True)
            recon = vae.decode(z).clamp(0.0, 1.0)
            loss = (hearing.loss(recon, target, flux_weight=FIT_FLUX, detail=0.0)
                    + FIT_CONVERGENCE * hearing.convergence(recon, target)
                    + PRIOR_PULL * z.pow(2).mean())
            (grad,) = torch.autograd.grad(loss, [z])
            z = z.detach()
            if not torch.isfinite(grad).all():  # a bar no spectrum can be fitted to: keep the last point
                break
            # Adam's moments, the second one shared by a point's dimensions: each
            # step is the gradient's direction, not its signs, so a dimension the
            # bar does not care about stays where the encoder put it
            first = BETAS[0] * first + (1 - BETAS[0]) * grad
            second = BETAS[1] * second + (1 - BETAS[1]) * grad.pow(2).mean(dim=1, keepdim=True)
            size = (second / (1 - BETAS[1] ** step)).sqrt() + 1e-12
            moved = z - FIT_RATE * first / (1 - BETAS[0] ** step) / size
            if not torch.isfinite(moved).all():
                break
            z = moved
    return z.detach()
