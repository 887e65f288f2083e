"""Training a LoopVAE from a folder of breaks.

Posterior collapse, where the decoder learns to ignore the latent code and
every point sounds the same, is the failure published spectral VAEs show.
Two guards: the KL weight warms up from zero, and free bits leave each
latent dimension its first ``free_bits`` nats without penalty. The number of
active dimensions is measured and reported every epoch.

Under ``torchrun`` (``torch.distributed`` initialised by the caller) one
Trainer runs per process: DistributedDataParallel averages the gradients,
each process takes its share of every batch (the batch size is the total
over processes) and draws its own re-chops, and process 0 alone writes
checkpoints.

Blur is the other failure: an L1 loss on log spectra alone is content to
smear a hit over a few frames and to fill the gaps between hats with a wash
of noise, the average of where the hats might be. The reconstruction loss
(:class:`~vamen.model.hearing.Hearing`) listens through mel bands and adds a
term on the spectrum's frame-to-frame change (``flux``) that costs exactly
that.

Darkness is the third: where the decoder is unsure whether a hat falls on a
sixteenth, the L1 answer in dB is the median, silence, and a prior draw
loses most of its air. An optional term (``balance``, off by default)
compares each mel band's energy over the whole bar, in the power domain, so
the hats' share of the bar is kept even where their place is a guess. It
costs hit placement: at 0.5 the default recipe's prior draws kept 0.33x the
real breaks' air rather than 0.28x, but encode -> render on them fell from
-1.40 to -0.12 dB spectral convergence and its onset correlation from 0.40
to 0.37, so the default model leaves it out.

Dullness where it is loud is the fourth. An L1 loss on log spectra weighs a
kick's body 6 dB short the same as a hiss 6 dB short, and where it is
unsure it answers the median, which is quieter than the mean. What a
listener hears, and what spectral convergence measures, is the loud bins'
error in linear magnitude. ``convergence`` adds that measure
(:meth:`~vamen.model.hearing.Hearing.convergence`) to the loss. The default
recipe weighs it 0.25 (see the README, "The default model", for what it did
to the shared real breaks).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import checkpoint
from .config import LoopConfig
from .dataset import LoopSet, MelBatches, load_folder, split_holdout
from .errors import CheckpointError, VamenError
from .hearing import Hearing
from .loopmodel import LoopModel, default_device, latent_prior
from .vae import LoopVAE, kl_per_dim

ACTIVE_THRESHOLD = 0.01  # variance of the posterior mean over data (Burda et al. 2016)
MAX_ANCHORS = 128


@dataclass
class TrainOptions:
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 1e-3
    # the rate falls along half a cosine to this share of itself by the last step
    lr_floor: float = 0.1
    # the rate rises linearly from zero over this many first steps (0: none);
    # a wide model's first steps at the full rate can blow the loss up
    lr_warmup: int = 0
    beta: float = 2e-4
    free_bits: float = 0.25
    flux: float = 1.0
    hearing: bool = True
    hearing_detail: float = 0.5
    balance: float = 0.0
    convergence: float = 0.0
    warmup: float = 0.3
    rechop_prob: float = 0.5
    rechop_amount: float = 0.3
    holdout: float = 0.05
    seed: int = 0
    save_every: int = 500

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainOptions":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Progress:
    """What a progress display needs after each step."""

    step: int
    total_steps: int
    epoch: int
    loss: float
    recon_db: float
    kl: float
    active: int | None = None


class TrainingInterrupted(VamenError):
    """Ctrl-C during training; the checkpoint was saved first."""


class TrainingDiverged(VamenError):
    """The loss or its gradient stayed NaN or infinite; the weights were never updated with it."""


# steps in a row whose loss or gradient is not finite before training gives up
MAX_BAD_STEPS = 20


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)


def world_position() -> tuple[int, int]:
    """(rank, world size) of this process in a torchrun job; (0, 1) alone."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def active_dims(means: torch.Tensor) -> tuple[int, list[float]]:
    """Active latent dimensions: variance of posterior means over the data above 0.01."""
    var = means.var(dim=0, unbiased=True) if len(means) > 1 else torch.zeros(means.shape[1])
    return int((var > ACTIVE_THRESHOLD).sum()), [round(float(v), 5) for v in var]


class Trainer:
    """Holds model, optimiser and data for one training run.

    Parameters
    ----------
    loops : LoopSet
        All bars; a deterministic share is held out for validation.
    out : Path
        Checkpoint path, written every ``save_every`` steps and at the end.
    """

    def __init__(self, loops: LoopSet, out: Path, config: LoopConfig, options: TrainOptions,
                 device: torch.device | None = None, meta: dict[str, Any] | None = None):
        self.out = Path(out)
        self.config = config
        self.options = options
        train_idx, held_idx = split_holdout(loops.names, options.holdout)
        self.train_set, self.held_set = loops.subset(train_idx), loops.subset(held_idx)
        self.device = device or default_device()
        self.batches = MelBatches(self.train_set, config, options.rechop_prob,
                                  options.rechop_amount, self.device)
        self.held = MelBatches(self.held_set, config, 0.0) if len(self.held_set) else None
        self.rank, self.world = world_position()
        torch.manual_seed(options.seed)
        self.vae = LoopVAE(config).to(self.device)
        self.hearing = Hearing(config, self.device, pooled=options.hearing)
        self.ddp = None
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.vae, device_ids=ids)
        # the reparameterisation noise differs per rank, as the data does
        torch.manual_seed(options.seed + 7919 * self.rank)
        self.optim = torch.optim.Adam(self.vae.parameters(), lr=options.learning_rate)
        self.step = 0
        self.epoch = 0
        self.history = History()
        self.meta = dict(meta or {})
        self.rng = np.random.default_rng(options.seed)
        self.skipped: list[tuple[str, str]] = list(loops.skipped)
        # steps skipped because their loss was not finite
        self.bad_steps = 0

    @property
    def steps_per_epoch(self) -> int:
        return self.batches.batches_per_epoch(self.options.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.options.epochs

    def _precision(self):
        """bf16 autocast on a CUDA device that has it (no loss scaling needed), else nothing.

        On CPU training stays float32: bf16 matmuls there are slower on
        most machines, and CI trains on CPU.
        """
        import contextlib

        if self.device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def lr_now(self) -> float:
        """Cosine decay from ``learning_rate`` to ``lr_floor`` of it over the run.

        The loss of a short run is still falling at its end; a rate that
        settles lets the last epochs refine what the first ones found, rather
        than hop around it. It follows the step, so a resumed run picks up
        where it was.
        """
        o = self.options
        done = min(1.0, self.step / max(1, self.total_steps))
        rising = min(1.0, (self.step + 1) / o.lr_warmup) if o.lr_warmup > 0 else 1.0
        return rising * o.learning_rate * (
            o.lr_floor + (1.0 - o.lr_floor) * 0.5 * (1.0 + math.cos(math.pi * done)))

    def _all_finite(self, value: torch.Tensor) -> bool:
        """Whether ``value`` (a loss, a gradient's norm) is finite in every process.

        All processes then skip the step together.
        """
        finite = torch.isfinite(value.detach()).to(torch.float32).reshape(1)
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        return bool(finite.item() > 0)

    def beta_now(self) -> float:
        warm = max(1, int(self.options.warmup * self.total_steps))
        return self.options.beta * min(1.0, self.step / warm)

    # -- resume --------------------------------------------------------------
    def restore(self) -> None:
        """Continue from the training state saved in ``out``."""
        data = checkpoint.load(self.out, map_location=self.device)
        state = data.get("training")
        if not isinstance(state, dict) or "optimizer" not in state:
            raise CheckpointError(f"{self.out} has no training state to resume from")
        if data["config"] != self.config:
            raise CheckpointError(f"{self.out} was trained with another config; cannot resume")
        self.vae.load_state_dict({k: v.float() for k, v in data["weights"].items()})
        self.optim.load_state_dict(state["optimizer"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.history.epochs = list(state.get("history", []))
        self.rng = np.random.default_rng([self.options.seed, self.epoch])

    # -- one step ------------------------------------------------------------
    def _loss(self, mel: torch.Tensor) -> tuple[torch.Tensor, float, float]:
        with self._precision():
            recon, mean, logvar = (self.ddp or self.vae)(mel)
        recon = recon.float()
        rec = (recon - mel).abs().mean()
        o = self.options
        rec_loss = self.hearing.loss(recon, mel, o.flux, o.hearing_detail, o.balance)
        if o.convergence:
            rec_loss = rec_loss + o.convergence * self.hearing.convergence(recon.clamp(0.0, 1.0), mel)
        kl = kl_per_dim(mean, logvar).mean(dim=0)
        kl_loss = torch.clamp(kl, min=self.options.free_bits).sum()
        return rec_loss + self.beta_now() * kl_loss, float(rec.detach()), float(kl.detach().sum())

    def run(self, progress: Callable[[Progress], None] | None = None) -> History:
        """Train until ``options.epochs``; Ctrl-C saves and raises TrainingInterrupted."""
        db_span = self.config.db_max - self.config.db_min
        last_save = self.step
        coded = None
        bad_run = 0
        try:
            while self.epoch < self.options.epochs:
                self.vae.train()
                sums = np.zeros(3)
                count = 0
                chops = np.random.default_rng([self.options.seed, self.epoch, self.rank])
                for mel in self.batches.epoch(self.rng, self.options.batch_size,
                                              (self.rank, self.world), chops):
                    for group in self.optim.param_groups:
                        group["lr"] = self.lr_now()
                    loss, rec, kl = self._loss(mel.to(self.device))
                    finite = self._all_finite(loss)
                    if finite:
                        self.optim.zero_grad(set_to_none=True)
                        loss.backward()
                        norm = torch.nn.utils.clip_grad_norm_(self.vae.parameters(), 5.0)
                        # a finite loss can still have a gradient that is not (the
                        # norm of an exact zero, say): clipping would then spread the
                        # NaN into every weight
                        finite = self._all_finite(norm)
                    if not finite:
                        # one bad batch must not poison the weights (or Adam's moments)
                        self.bad_steps += 1
                        bad_run += 1
                        if bad_run >= MAX_BAD_STEPS:
                            raise TrainingDiverged(
                                f"the loss or its gradient was not finite for {bad_run} steps in a "
                                f"row at step {self.step}; train again with a lower --lr or a "
                                f"longer --lr-warmup")
                        continue
                    bad_run = 0
                    self.optim.step()
                    self.step += 1
                    sums += (float(loss.detach()), rec * db_span, kl)
                    count += 1
                    if progress:
                        progress(Progress(self.step, self.total_steps, self.epoch + 1,
                                          float(loss.detach()), rec * db_span, kl))
                    if self.step - last_save >= self.options.save_every:
                        self.save(partial=True)
                        last_save = self.step
                self.epoch += 1
                # one pass over the training loops serves the figures and the save;
                # only the process that writes needs them
                if self.rank == 0:
                    *coded, _ = self._means(self.batches)
                    self.history.epochs.append(self._epoch_figures(sums / max(count, 1), coded[0]))
                self.rng = np.random.default_rng([self.options.seed, self.epoch])
                if self.epoch < self.options.epochs:
                    self.save(partial=True, coded=coded)
                    last_save = self.step
        except KeyboardInterrupt:
            self.save(partial=True)
            raise TrainingInterrupted(
                f"interrupted at step {self.step}; saved {self.out}; continue with --resume"
            ) from None
        self.save(partial=False, coded=coded)
        return self.history

    @torch.no_grad()
    def _means(self, batches: MelBatches) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Posterior means and log-variances of the loops [N, latent_dim], and the mean L1 of their decodes."""
        self.vae.eval()
        means, logvars, err = [], [], 0.0
        for start in range(0, len(batches.clean), 64):
            mel = batches.clean[start:start + 64].to(self.device)
            mean, logvar = self.vae.encode(mel)
            err += float((self.vae.decode(mean).clamp(0, 1) - mel).abs().mean(dim=(1, 2)).sum())
            means.append(mean.cpu())
            logvars.append(logvar.cpu())
        return torch.cat(means), torch.cat(logvars), err / len(batches.clean)

    def _epoch_figures(self, sums: np.ndarray, means: torch.Tensor) -> dict[str, float]:
        span = self.config.db_max - self.config.db_min
        active, _ = active_dims(means)
        figures = {"epoch": self.epoch, "step": self.step, "loss": round(float(sums[0]), 5),
                   "recon_db": round(float(sums[1]), 3), "kl": round(float(sums[2]), 3),
                   "beta": self.beta_now(), "active_dims": active}
        if self.bad_steps:
            figures["nonfinite_steps"] = self.bad_steps
        if self.held is not None:
            figures["heldout_recon_db"] = round(self._means(self.held)[2] * span, 3)
        return figures

    # -- saving --------------------------------------------------------------
    def model(self, coded: tuple[torch.Tensor, torch.Tensor] | None = None) -> LoopModel:
        """The deployable model, with up to 128 training loops as anchors and their prior.

        ``coded``: the training loops' posterior means and log-variances, where already made.
        """
        means, logvars = coded if coded is not None else self._means(self.batches)[:2]
        pick = np.linspace(0, len(means) - 1, min(MAX_ANCHORS, len(means))).round().astype(int)
        pick = sorted(set(pick.tolist()))
        return LoopModel(self.config, self.vae, [self.train_set.names[i] for i in pick],
                         means[pick], self.device, self.meta, latent_prior(means, logvars))

    def save(self, partial: bool, coded: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        """Write the checkpoint (process 0 of a distributed run; the others return)."""
        if self.rank != 0:
            return
        means, logvars = coded if coded is not None else self._means(self.batches)[:2]
        model = self.model((means, logvars))
        active, variances = active_dims(means)
        model.meta.update({"active_dims": active, "latent_variance": variances,
                           "train_loops": len(self.train_set), "heldout_loops": len(self.held_set),
                           "heldout_names": self.held_set.names, "steps": self.step,
                           "epochs": self.epoch, "options": asdict(self.options)})
        training = {"step": self.step, "epoch": self.epoch, "history": self.history.epochs,
                    "optimizer": self.optim.state_dict(), "options": asdict(self.options),
                    "complete": not partial}
        model.save(self.out, extra={"training": training})


def train_folder(data_dir: str | Path, out: str | Path, options: TrainOptions,
                 config: LoopConfig | None = None, resume: bool = False,
                 device: torch.device | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 files_progress: Callable[[int], None] | None = None,
                 resumed: Callable[[int, int], None] | None = None) -> Trainer:
    """Load ``data_dir``, train (or resume) and save ``out``; returns the Trainer.

    ``resumed(step, epoch)`` is called once the saved state is restored.
    The trainer's ``skipped`` lists the files left out, with the reason.
    """
    out = Path(out)
    if resume:
        if not out.exists():
            raise CheckpointError(f"nothing to resume: {out} does not exist")
        config = checkpoint.load(out)["config"]
    config = config or LoopConfig()
    loops = load_folder(data_dir, config, files_progress)
    meta = {"data": str(Path(data_dir).resolve().name), "skipped": len(loops.skipped)}
    manifest = Path(data_dir) / "vamen-dataset.json"
    if manifest.is_file():
        import json

        try:
            meta["dataset"] = json.loads(manifest.read_text())
        except ValueError:
            pass
    trainer = Trainer(loops, out, config, options, device, meta)
    if resume:
        trainer.restore()
        if resumed:
            resumed(trainer.step, trainer.epoch)
    trainer.run(progress)
    return trainer

