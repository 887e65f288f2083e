"""Training loops: a folder of breaks cut into bars, plus re-chop augmentation."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .audio import find_audio, read_audio, split_bars, tempo_from_name
from .config import LoopConfig
from .errors import AudioFileError, VamenError
from .features import MelFrontEnd
from .stft import stft


@dataclass
class LoopSet:
    """Bars at the model sample rate, each with a name and its tempo."""

    names: list[str] = field(default_factory=list)
    bars: list[np.ndarray] = field(default_factory=list)
    tempos: list[float] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.bars)

    def subset(self, index: list[int]) -> "LoopSet":
        return LoopSet([self.names[i] for i in index], [self.bars[i] for i in index],
                       [self.tempos[i] for i in index])


def load_folder(folder: str | Path, config: LoopConfig,
                progress: Callable[[int], None] | None = None) -> LoopSet:
    """Read every audio file under ``folder`` and cut it into bars.

    Files that cannot be read or hold no whole bar are skipped and listed in
    ``LoopSet.skipped`` with the reason; a folder with no usable bar raises.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VamenError(f"{folder} is not a folder")
    files = find_audio(folder)
    if not files:
        raise VamenError(f"no audio files (wav, flac, aiff, ogg, mp3) under {folder}")
    loops = LoopSet()
    for path in files:
        try:
            audio = read_audio(path, config.sample_rate)
            cut = split_bars(audio, config.sample_rate, tempo_from_name(path))
        except AudioFileError as exc:
            loops.skipped.append((str(path), str(exc)))
        else:
            stem = str(path.relative_to(folder).with_suffix(""))
            for i, bar in enumerate(cut.bars):
                loops.names.append(stem if len(cut.bars) == 1 else f"{stem}#{i + 1}")
                loops.bars.append(bar)
                # each bar is cut on its own downbeat, so its own length is its tempo
                loops.tempos.append(240.0 * config.sample_rate / len(bar))
        if progress:
            progress(1)
    if not loops.bars:
        raise VamenError(f"no usable bars under {folder} ({len(loops.skipped)} files skipped)")
    return loops


def split_holdout(names: list[str], fraction: float) -> tuple[list[int], list[int]]:
    """Deterministic train/held-out split by a hash of each name.

    The same loop always lands on the same side, whatever else is in the
    folder, so resuming or adding files never leaks held-out loops.
    """
    train, held = [], []
    for i, name in enumerate(names):
        h = int.from_bytes(hashlib.sha1(name.encode()).digest()[:4], "big") / 2**32
        (held if h < fraction else train).append(i)
    if not train:
        train, held = held, []
    return train, held


def rechop(bar: np.ndarray, rng: np.random.Generator, amount: float = 0.3,
           slices: int = 16) -> np.ndarray:
    """Re-arrange a bar's sixteenth-note slices, the Amen-break trick.

    Each slice after the first is replaced by another slice of the bar with
    probability ``amount``; joins get 2 ms fades so they do not click.

    Parameters
    ----------
    bar : np.ndarray [shape=(L,)]
    rng : np.random.Generator
    amount : float in [0, 1]

    Returns
    -------
    np.ndarray [shape=(L,)]
    """
    edges = np.round(np.linspace(0, len(bar), slices + 1)).astype(int)
    order = np.arange(slices)
    swap = rng.random(slices) < amount
    swap[0] = False  # the downbeat stays where a dancer expects it
    order[swap] = rng.integers(0, slices, swap.sum())
    if not swap.any():
        return bar.copy()
    out = np.empty_like(bar)
    fade = max(1, int(0.002 * len(bar) / 2.0))
    ramp = np.linspace(0.0, 1.0, fade, dtype=bar.dtype)
    for pos, src in enumerate(order):
        a, b = edges[pos], edges[pos + 1]
        piece = bar[edges[src]:edges[src] + (b - a)]
        if len(piece) < b - a:
            piece = np.pad(piece, (0, b - a - len(piece)))
        piece = piece.copy()
        if src != pos and len(piece) > 2 * fade:
            piece[:fade] *= ramp
            piece[-fade:] *= ramp[::-1]
        out[a:b] = piece
    return out


class MelBatches:
    """Mels of a :class:`LoopSet`, with fresh re-chops each epoch."""

    def __init__(self, loops: LoopSet, config: LoopConfig, rechop_prob: float = 0.5,
                 rechop_amount: float = 0.3, device: torch.device | str = "cpu"):
        self.loops = loops
        # where batches are made: on a GPU the re-chops' spectra are computed
        # there, so the CPU does no more than cut and paste audio
        self.device = torch.device(device)
        self.front = MelFrontEnd(config)
        self.rechop_prob = rechop_prob
        self.rechop_amount = rechop_amount
        # fit every bar to frames * hop once: re-chops then need no resampling
        self.fitted = []
        for bar in loops.bars:
            fitted, hop = self.front.fit_loop(torch.from_numpy(np.ascontiguousarray(bar)))
            self.fitted.append((fitted.numpy(), hop))
        self.clean = torch.stack([self._mel(*f) for f in self.fitted])

    def _mel(self, fitted: np.ndarray, hop: int, device: torch.device | str = "cpu") -> torch.Tensor:
        spec = stft(torch.from_numpy(fitted)[None].to(device), self.front.config.n_fft, hop)
        return self.front.normalise(self.front.project(spec.real ** 2 + spec.imag ** 2))[0]

    def epoch(self, rng: np.random.Generator, batch_size: int, shard: tuple[int, int] = (0, 1),
              chop_rng: np.random.Generator | None = None):
        """Yield shuffled batches [B, n_bins, frames] for one epoch.

        Parameters
        ----------
        rng : np.random.Generator
            Orders the epoch; every process of a distributed run passes the
            same one, so together they cover each loop once.
        batch_size : int
            Loops per step, over all processes.
        shard : (rank, world)
            This process takes every ``world``-th loop of each batch, from ``rank``.
        chop_rng : np.random.Generator, optional
            Draws the re-chops (default ``rng``); seeded per rank, so that
            ranks see different chops and a run still replays exactly.
        """
        rank, world = shard
        chop_rng = chop_rng or rng
        order = rng.permutation(len(self.loops))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            # a last batch smaller than the world still gives every rank a loop:
            # each rank must take the same number of steps
            idx = idx[rank::world] if len(idx) > rank else idx[:1]
            mels = self.clean[idx].to(self.device, copy=True)
            for j, i in enumerate(idx):
                if chop_rng.random() < self.rechop_prob:
                    fitted, hop = self.fitted[i]
                    mels[j] = self._mel(rechop(fitted, chop_rng, self.rechop_amount), hop,
                                        self.device)
            yield mels

    def batches_per_epoch(self, batch_size: int) -> int:
        return -(-len(self.loops) // batch_size)
