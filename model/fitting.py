"""Encoding by fitting: a few gradient steps on the latent point of a real bar.

The encoder is one pass, trained to be good on average over its training
loops (the amortisation gap). On a break it never heard it lands near, not
on, the point the decoder would need. Starting there, ``steps`` steps of
Adam on the point alone close much of that gap. The loss is the training's
(:class:`~vamen.model.hearing.Hearing`) with the onset flux weighed thrice,
plus a little of the magnitudes' spectral convergence; those weights were
chosen on fresh loops of the training kind (``vamen eval``'s default
held-out set: -4.20 dB for the encoder alone, -4.30 with the training loss
and -5.25 with these, under plain Adam; -5.14 with the steps below), not on
the real breaks the model is judged on. There, with the default model, what ``/vamen/encode`` plays went from -1.40 to
-2.36 dB spectral convergence and its onset correlation from 0.40 to 0.63.
20 steps take 0.3 to 0.65 s a bar on one CPU core (idle to busy); 40 gained
nothing more.

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
FIT_STEPS = 20
FIT_RATE = 0.2
BETAS = (0.9, 0.999)
#: The loss's weights: onset flux thrice the training's, plus a little of the
#: magnitudes' spectral convergence (what the ear and ``vamen eval`` compare).
FIT_FLUX = 3.0
FIT_CONVERGENCE = 0.05
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
