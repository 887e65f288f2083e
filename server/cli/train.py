"""``vamen train``: train a model on a folder of breaks."""
from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import click

from vamen.server.options import FiniteRange

from .common import stderr_bar


SKIPPED_SHOWN = 20
#: Options that shape the model: a resumed run keeps the checkpoint's.
SHAPE = ("latent_dim", "channels", "sample_rate", "features")


def _check_resume(out: Path, asked: dict) -> None:
    """Refuse --resume with a model shape other than the checkpoint's, in one line."""
    from vamen.model import checkpoint
    from vamen.model.errors import CheckpointError

    ctx = click.get_current_context()
    if not out.exists():
        raise CheckpointError(f"nothing to resume: {out} does not exist")
    saved = checkpoint.load(out)["config"]
    for name in SHAPE:
        source = ctx.get_parameter_source(name)
        if source is click.core.ParameterSource.COMMANDLINE and getattr(saved, name) != asked[name]:
            flag = "--" + name.replace("_", "-")
            raise CheckpointError(f"{out} was trained with {flag} {getattr(saved, name)}; "
                                  f"--resume keeps it (drop {flag} {asked[name]}, or train anew)")


class _Quiet:
    """A progress bar that shows nothing: for every process of a torchrun job but the first."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, _n: int) -> None:
        pass

    def render_finish(self) -> None:
        pass


def _say_resuming(step: int, epoch: int) -> None:
    click.echo(f"resuming from step {step} (epoch {epoch})", err=True)


@click.command("train")
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint to write (saved periodically, on Ctrl-C and at the end).")
@click.option("--epochs", type=click.IntRange(1), default=60, show_default=True)
@click.option("--latent-dim", type=click.IntRange(8, 32), default=16, show_default=True)
@click.option("--channels", type=click.IntRange(8, 1024), default=128, show_default=True,
              help="Width of the encoder and decoder.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True,
              help="Loops per step, over all processes of a torchrun job.")
@click.option("--lr", type=FiniteRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option("--lr-warmup", type=click.IntRange(0), default=0, show_default=True,
              help="Steps over which the learning rate rises from zero (wide models need it).")
@click.option("--beta", type=FiniteRange(min=0), default=2e-4, show_default=True,
              help="KL weight after warm-up.")
@click.option("--free-bits", type=FiniteRange(min=0), default=0.25, show_default=True,
              help="Nats per latent dimension that cost nothing (fights collapse).")
@click.option("--flux", type=FiniteRange(min=0), default=1.0, show_default=True,
              help="Weight of the loss on the spectrum's frame-to-frame change (sharp hits).")
@click.option("--balance", type=FiniteRange(min=0), default=0.0, show_default=True,
              help="Weight of a loss on each band's energy over the bar: brighter prior draws, "
                   "hits less in place (0.5 tried; off by default).")
@click.option("--convergence", type=FiniteRange(min=0), default=0.0, show_default=True,
              help="Weight of the magnitudes' spectral convergence (the loud bins' error, "
                   "linear, as `vamen eval` scores it) beside the log-spectral loss.")
@click.option("--sample-rate", type=click.Choice(["22050", "44100", "48000"]), default="44100",
              show_default=True, help="The model's sample rate (new models only).")
@click.option("--features", type=click.Choice(["linear", "mel"]), default="linear",
              show_default=True,
              help="What the decoder makes: every STFT bin (full detail) or 128 mel bands.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None, help="torch device (default: cuda when present, else cpu).")
@click.option("--resume", is_flag=True, help="Continue from the training state saved in --out.")
@click.option("--half", is_flag=True, help="Store the final weights as float16 (half the size).")
@click.option("--no-report", is_flag=True, help="Skip the report folder next to the model.")
def command(data_dir, out, epochs, latent_dim, channels, batch_size, lr, lr_warmup, beta, free_bits, flux,
            balance, convergence, sample_rate, features, seed, device, resume, half, no_report):
    """Train a model on DATA_DIR (wav, flac, aiff, ogg, mp3; cut into bars)."""
    import torch

    from vamen.model.config import LoopConfig
    from vamen.model.train import TrainOptions

    if resume:
        _check_resume(out, {"latent_dim": latent_dim, "channels": channels,
                            "sample_rate": int(sample_rate), "features": features})
    options = TrainOptions(epochs=epochs, batch_size=batch_size, learning_rate=lr, lr_warmup=lr_warmup, beta=beta,
                           free_bits=free_bits, flux=flux, balance=balance, convergence=convergence,
                           seed=seed)
    legacy = {} if features == "linear" else {"db_min": -80.0, "db_max": 30.0}
    config = None if resume else LoopConfig(latent_dim=latent_dim, channels=channels,
                                            sample_rate=int(sample_rate), features=features,
                                            **legacy)
    dev = torch.device(device) if device else None
    dev, rank = _join_torchrun(dev)
    try:
        _train(data_dir, out, options, config, resume, dev, rank, epochs, half, no_report)
    finally:
        if rank is not None:
            import torch.distributed as dist

            dist.destroy_process_group()


def _join_torchrun(dev):
    """Join the torchrun job this process belongs to, if any: (device, rank or None).

    NCCL on GPUs (one per local rank), gloo on CPUs; torchrun sets the
    rendezvous in the environment (RANK, WORLD_SIZE, MASTER_ADDR, ...).
    """
    import os

    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return dev, None
    import torch.distributed as dist

    cuda = torch.cuda.is_available() and (dev is None or dev.type == "cuda")
    if cuda:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    elif dev is None:
        dev = torch.device("cpu")
    dist.init_process_group("nccl" if cuda else "gloo")
    return dev, dist.get_rank()


def _train(data_dir, out, options, config, resume, dev, rank, epochs, half, no_report):
    from vamen.model.audio import find_audio
    from vamen.model.report import write_report
    from vamen.model.train import train_folder

    lead = rank in (None, 0)  # only the first process shows progress and writes
    files = len(find_audio(data_dir)) if Path(data_dir).is_dir() else 0
    with ExitStack() as stack:
        reading = stack.enter_context(stderr_bar(files, "reading") if lead else _Quiet())
        training = []

        def progress(p):
            if not training:  # the first step: reading is over
                reading.render_finish()
                training.append(stack.enter_context(stderr_bar(p.total_steps, "training")))
                training[0].update(p.step - 1)
            training[0].label = (f"epoch {p.epoch}/{epochs} loss {p.loss:.4f} "
                                 f"error {p.recon_db:.2f} dB kl {p.kl:.1f}")
            training[0].update(1)

        trainer = train_folder(data_dir, out, options, config, resume, dev,
                               progress if lead else None, reading.update,
                               resumed=_say_resuming if lead else None)
    if not lead:
        return
    if half:
        model = trainer.model()
        model.meta.update(trainer.meta)
        model.save(out, half=True)
    last = trainer.history.epochs[-1] if trainer.history.epochs else {}
    click.echo(f"saved {out}: {trainer.step} steps, {len(trainer.train_set)} training loops, "
               f"{last.get('active_dims', '?')}/{trainer.config.latent_dim} active dimensions, "
               f"reconstruction error {last.get('recon_db', float('nan')):.2f} dB")
    if trainer.bad_steps:
        click.echo(f"{trainer.bad_steps} steps skipped: their loss was not finite", err=True)
    skipped = trainer.skipped
    for path, reason in skipped[:SKIPPED_SHOWN]:
        click.echo(f"skipped {path}: {reason}", err=True)
    if len(skipped) > SKIPPED_SHOWN:
        click.echo(f"... and {len(skipped) - SKIPPED_SHOWN} more skipped files "
                   f"(all listed in the report)", err=True)
    if not no_report:
        folder = write_report(trainer, out)
        click.echo(f"report: {folder}", err=True)
    sys.stdout.flush()
