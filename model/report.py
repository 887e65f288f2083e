"""The training report: figures as JSON, loss curves and latent plots as PNG.

PNGs need matplotlib (the ``report`` extra); without it only JSON is written.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def report_folder(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + "-report")


def write_report(trainer, model_path: Path) -> Path:
    """Write ``<model>-report/`` next to the model and return its path."""
    folder = report_folder(Path(model_path))
    folder.mkdir(parents=True, exist_ok=True)
    means, _, _ = trainer._means(trainer.batches)
    variance = means.var(dim=0).tolist() if len(means) > 1 else []
    figures = {
        "history": trainer.history.epochs,
        "latent_variance": [round(v, 5) for v in variance],
        "active_dims": int(sum(v > 0.01 for v in variance)),
        "latent_dim": trainer.config.latent_dim,
        "train_loops": len(trainer.train_set),
        "heldout_loops": len(trainer.held_set),
        "config": trainer.config.to_dict(),
        "meta": {k: v for k, v in trainer.meta.items() if k != "heldout_names"},
        "skipped": [{"file": f, "reason": r} for f, r in getattr(trainer, "skipped", [])],
    }
    (folder / "report.json").write_text(json.dumps(figures, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return folder
    _plot_losses(plt, trainer.history.epochs, folder / "loss.png")
    _plot_latents(plt, means.numpy(), np.asarray(variance), folder / "latent.png")
    return folder


def _plot_losses(plt, history: list[dict], path: Path) -> None:
    if not history:
        return
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    axes[0].plot(epochs, [h["recon_db"] for h in history], label="train")
    if "heldout_recon_db" in history[0]:
        axes[0].plot(epochs, [h["heldout_recon_db"] for h in history], label="held out")
    axes[0].set(title="mel error (dB)", xlabel="epoch")
    axes[0].legend()
    axes[1].plot(epochs, [h["kl"] for h in history])
    axes[1].set(title="KL (nats)", xlabel="epoch")
    axes[2].plot(epochs, [h["active_dims"] for h in history])
    axes[2].set(title="active latent dimensions", xlabel="epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_latents(plt, means: np.ndarray, variance: np.ndarray, path: Path) -> None:
    if len(means) < 2:
        return
    order = np.argsort(variance)[::-1]
    pairs = [(order[i], order[i + 1]) for i in range(0, min(6, len(order) - 1), 2)]
    fig, axes = plt.subplots(1, len(pairs) + 1, figsize=(4 * (len(pairs) + 1), 3.6))
    axes[0].bar(range(len(variance)), variance)
    axes[0].axhline(0.01, color="red", lw=0.8)
    axes[0].set(title="variance of posterior means", xlabel="dimension", yscale="log")
    for ax, (a, b) in zip(axes[1:], pairs):
        ax.scatter(means[:, a], means[:, b], s=6, alpha=0.6)
        ax.set(title=f"z{a} vs z{b}", xlabel=f"z{a}", ylabel=f"z{b}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
