"""Write a trained model's prior (where its training loops lie in latent space) into its checkpoint.

    python scripts/fit-prior.py MODEL DATA_DIR

``vamen train`` saves the prior itself (``vamen.model.loopmodel.latent_prior``
of the training loops' posteriors). This adds it to a checkpoint trained
before it did, from the same folder it was trained on: the same loops, the
same held-out split, the same encodings, so the file ends up as a retrain
would have written it. The shipped default model got its prior this way
(``make default-model`` writes the folder: ``build/default-model/breaks``).
"""
from __future__ import annotations

import sys

import click
import torch


@click.command()
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--holdout", type=float, default=None,
              help="Share held out from training (default: the model's own, else 0.05).")
def main(model_path: str, data_dir: str, holdout: float | None) -> None:
    from vamen.model import checkpoint
    from vamen.model.dataset import MelBatches, load_folder, split_holdout
    from vamen.model.errors import VamenError
    from vamen.model.loopmodel import LoopModel, latent_prior
    from vamen.model.train import TrainOptions

    try:
        model = LoopModel.load(model_path, "cpu")
        loops = load_folder(data_dir, model.config)
    except VamenError as exc:
        sys.exit(f"vamen: {exc}")
    if holdout is None:
        holdout = model.meta.get("options", {}).get("holdout", TrainOptions.holdout)
    train, _ = split_holdout(loops.names, holdout)
    clean = MelBatches(loops.subset(train), model.config, 0.0).clean
    means, logvars = [], []
    with torch.no_grad():
        for start in range(0, len(clean), 64):
            mean, logvar = model.vae.encode(clean[start:start + 64])
            means.append(mean)
            logvars.append(logvar)
    model.prior_mean, model.prior_std = latent_prior(torch.cat(means), torch.cat(logvars))
    weights = checkpoint.load(model_path)["weights"].values()
    half = all(v.dtype == torch.float16 for v in weights if v.is_floating_point())  # as it was stored
    model.save(model_path, half=half)
    click.echo(f"{model_path}: prior of {len(clean)} training loops written "
               f"(mean |centre| {float(model.prior_mean.abs().mean()):.3f}, "
               f"std {float(model.prior_std.min()):.2f}..{float(model.prior_std.max()):.2f})")


if __name__ == "__main__":
    main()
