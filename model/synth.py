"""Procedural drum breaks: a training corpus for any machine, with no download.

A loop is one of the classic break patterns below, played on a kit drawn at
random (:mod:`vamen.model.drums`), varied, swung and humanised, recorded into
a small room, sometimes re-chopped the way jungle producers chopped the Amen
(:mod:`vamen.model.chopping`), and finished on a gentle bus compressor,
sometimes with a little vinyl or sampler grit (:mod:`vamen.model.studio`).
Everything is drawn from one seed, so a seed is a loop.

Loops are cyclic: whatever rings past the end of the bar (decays, the room)
wraps round to its start, so a loop repeats without a seam.

Functions
---------
synth_break     one loop as audio plus a :class:`BreakInfo`
write_dataset   a folder of one-bar loops as 16-bit WAV files

The patterns are 16-step reductions of the records, written from common
transcriptions: the feel (where the kicks push, where the ghosts sit) rather
than a note-for-note copy.
"""
from __future__ import annotations

import json

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vamen.model.chopping import PREROLL_S, chop
from vamen.model.drums import Kit
from vamen.model.studio import finish, fold, room

STEPS_PER_BAR = 16
TEMPO_RANGE = (80.0, 175.0)
MAX_SWING = 0.33
MAX_JITTER_S = 0.005
P_RECHOP = 0.35


@dataclass(frozen=True)
class BreakInfo:
    """What a synthetic loop contains, for tests, evaluation and file names.

    Attributes
    ----------
    tempo : float
        Tempo in BPM (two decimals).
    pattern : str
        The pattern played, one of :data:`PATTERNS`.
    swing : float
        Fraction of a 16th by which odd 16ths are delayed (0 = straight).
    onsets : tuple of float
        Every hit's time in seconds within the loop, ``0 <= t < duration``,
        after swing, humanising and re-chopping; sorted. Simultaneous hits of
        different voices each appear.
    voices : tuple of str
        The voice of each onset (``kick``, ``snare``, ``ghost``, ``hat``,
        ``open_hat``, ``ride``, ``crash``, ``tom``), parallel to ``onsets``.
    rechopped : bool
        Whether the bar's 16th-note slices were re-arranged.
    bars : int
        Loop length in bars of 4/4.
    """

    tempo: float
    pattern: str
    swing: float
    onsets: tuple[float, ...]
    voices: tuple[str, ...] = ()
    rechopped: bool = False
    bars: int = 1


@dataclass(frozen=True)
class Pattern:
    """A break as one-bar 16-step grids, one per variant, with its natural feel.

    Grid rows are ``kick``, ``snare``, ``hat``, ``ride``, ``crash``, ``tom``.
    Letters: ``X`` accent, ``x`` hit, ``g`` ghost stroke (snare row), ``o``/``O``
    open hat (hat row), ``h``/``m``/``l`` high, mid, low tom; ``.`` rest.
    """

    name: str
    bars: tuple[dict[str, str], ...]
    tempo: tuple[float, float]
    swing: tuple[float, float]


PATTERNS: tuple[Pattern, ...] = (
    Pattern("amen", (
        {"kick": "X.x.......xx....", "snare": "....X..g.g..X..g", "ride": "X.x.x.x.X.x.x.x."},
        {"kick": "X.x.......x.....", "snare": "....X..g.g....X.", "ride": "X.x.x.x.X.x.x.x."},
        {"kick": "..xx......x.....", "snare": ".g..X..g.g....X.", "ride": "X.x.x.x.X...x.x.",
         "crash": "..........X....."},
    ), (130.0, 175.0), (0.0, 0.08)),
    Pattern("funky_drummer", (
        {"kick": "X.x...x...x..x..", "snare": "....X..g.g.gX..g", "hat": "XxxxXxxoXxxxXoxx"},
        {"kick": "X.x...x...x..x..", "snare": "....X..g.g.gX..g", "hat": "XxxxXxxoXxxoXxxx"},
    ), (90.0, 110.0), (0.04, 0.2)),
    Pattern("think", (
        {"kick": "X..x.....x......", "snare": "....X.......X..g", "hat": "XxxxXxxxoxxxXxxx"},
        {"kick": "X..x.....xx.....", "snare": "....X..g....X...", "hat": "XxxxXxxxoxxxXxxx"},
    ), (105.0, 125.0), (0.0, 0.12)),
    Pattern("apache", (
        {"kick": "X..x..x.x..x..x.", "snare": "....X.......X...", "hat": "x.x.x.x.x.o.x.x.",
         "tom": "..h...l...h.l..h"},
    ), (105.0, 125.0), (0.0, 0.1)),
    Pattern("impeach", (
        {"kick": "X......xx.....x.", "snare": "....X.......X...", "hat": "x.x.x.xxx.o.x.x."},
    ), (88.0, 100.0), (0.04, 0.25)),
    Pattern("hot_pants", (
        {"kick": "X..x..x...x.....", "snare": "....X..g.g..X.g.", "hat": "XxxxXxxxXxxxXxxx"},
    ), (105.0, 120.0), (0.05, 0.2)),
    Pattern("soul_pride", (
        {"kick": "X.x...x.x.x...x.", "snare": "....X..g....X..g", "hat": "x.x.x.x.x.x.x.o."},
    ), (95.0, 115.0), (0.05, 0.2)),
    Pattern("roachclip", (
        {"kick": "X.x...x.xx......", "snare": "....X.......X...", "hat": "x.x.x.x.x.o.x.x."},
    ), (88.0, 100.0), (0.05, 0.25)),
    Pattern("levee", (
        {"kick": "Xx.....x..xx....", "snare": "....X.......X...", "hat": "X.x.X.x.X.x.X.x."},
    ), (80.0, 90.0), (0.0, 0.12)),
    Pattern("billie_jean", (
        {"kick": "X.......X.......", "snare": "....X.......X...", "hat": "X.x.X.x.X.x.X.x."},
    ), (110.0, 120.0), (0.0, 0.0)),
    Pattern("two_step", (
        {"kick": "X.........x.....", "snare": "....X.g..g..X..g", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.........xx....", "snare": "....X..g.g..X...", "hat": "x.x.x.x.x.x.x.o."},
    ), (160.0, 175.0), (0.0, 0.06)),
)

_LETTERS = {"X": 1.0, "x": 0.78, "O": 1.0, "o": 0.8, "g": 0.3, "h": 0.8, "m": 0.8, "l": 0.8}
_TOMS = {"h": 0, "m": 1, "l": 2}


@dataclass
class _Hit:
    step: int        # 16th index within the loop (bar * 16 + step)
    voice: str
    velocity: float  # 0..~1.1
    variant: int = 0


# -- arrangement ---------------------------------------------------------
def _grid_hits(grid: dict[str, str], bar: int) -> list[_Hit]:
    hits = []
    for row, cells in grid.items():
        for step, c in enumerate(cells):
            if c == ".":
                continue
            voice = row
            if row == "snare" and c == "g":
                voice = "ghost"
            elif row == "hat" and c in "oO":
                voice = "open_hat"
            hits.append(_Hit(bar * STEPS_PER_BAR + step, voice, _LETTERS[c], _TOMS.get(c, 0)))
    return hits


def _vary(hits: list[_Hit], bar: int, rng: np.random.Generator, feel: dict) -> list[_Hit]:
    """Drop, add and swap hits the way a drummer varies a groove from bar to bar."""
    base = bar * STEPS_PER_BAR
    out = []
    for h in hits:
        anchor = ((h.voice == "kick" and h.step == base)
                  or (h.voice == "snare" and h.velocity >= 1.0))
        if not anchor and rng.random() < feel["drop"]:
            continue
        if feel["timekeeper"] == "swap":
            if h.voice == "hat":
                h.voice = "ride"
            elif h.voice == "open_hat":
                h.voice, h.velocity = "ride", 1.0
            elif h.voice == "ride":
                h.voice = "hat"
        out.append(h)
    taken = {(h.step, h.voice) for h in out}
    snare_steps = {h.step for h in out if h.voice in ("snare", "ghost")}
    for s in range(base, base + STEPS_PER_BAR):
        if s not in snare_steps and (s, "kick") not in taken and rng.random() < feel["add_kick"]:
            out.append(_Hit(s, "kick", rng.uniform(0.5, 0.85)))
        if s not in snare_steps and rng.random() < feel["add_ghost"]:
            out.append(_Hit(s, "ghost", rng.uniform(0.18, 0.4)))
    keeper = "ride" if any(h.voice == "ride" for h in out) else "hat"
    if feel["density"] == "16ths":
        have = {h.step for h in out if h.voice in (keeper, "open_hat")}
        out += [_Hit(s, keeper, rng.uniform(0.35, 0.55)) for s in range(base + 1, base + 16, 2)
                if s not in have]
    elif feel["density"] == "8ths":
        out = [h for h in out if not (h.voice == keeper and h.step % 2)]
    if feel["crash"] and bar == 0:
        out.append(_Hit(base, "crash", 1.0))
    return out


def _fill(hits: list[_Hit], bar: int, rng: np.random.Generator) -> list[_Hit]:
    """Replace the last beat with a tom (or snare) fill into the next downbeat."""
    start = bar * STEPS_PER_BAR + 12 + int(rng.integers(0, 2))
    keep = [h for h in hits if h.step < start or h.voice == "kick"]
    drums = rng.choice(["toms", "snare"], p=[0.7, 0.3])
    steps = range(start, bar * STEPS_PER_BAR + 16)
    for k, s in enumerate(steps):
        if drums == "toms":
            keep.append(_Hit(s, "tom", rng.uniform(0.7, 1.0), min(2, k * 3 // len(steps))))
        else:
            keep.append(_Hit(s, "snare", 0.55 + 0.45 * (k + 1) / len(steps)))
    return keep


def _arrange(pattern: Pattern, bars: int, rng: np.random.Generator) -> list[_Hit]:
    feel = {
        "drop": rng.uniform(0.0, 0.12),
        "add_kick": rng.uniform(0.0, 0.06),
        "add_ghost": rng.uniform(0.0, 0.12),
        "timekeeper": "swap" if rng.random() < 0.15 else "keep",
        "density": rng.choice(["as is", "16ths", "8ths"], p=[0.7, 0.15, 0.15]),
        "crash": rng.random() < 0.12,
    }
    first = int(rng.integers(len(pattern.bars)))
    hits: list[_Hit] = []
    for bar in range(bars):
        grid = pattern.bars[(first + bar) % len(pattern.bars)]
        bar_hits = _vary(_grid_hits(grid, bar), bar, rng, feel)
        if bar == bars - 1 and rng.random() < 0.08:
            bar_hits = _fill(bar_hits, bar, rng)
        hits += bar_hits
    for h in hits:
        h.velocity = float(np.clip(h.velocity * np.exp(rng.normal(0.0, 0.08)), 0.05, 1.1))
        if h.voice == "hat":
            h.variant = int(rng.integers(2))
    return hits


def _times(hits: list[_Hit], tempo: float, swing: float, rng: np.random.Generator) -> np.ndarray:
    """Hit times in seconds: the swung grid, a drummer's push and drag, ±5 ms at most."""
    sixteenth = 15.0 / tempo
    steps = np.array([h.step for h in hits])
    grid = (steps + swing * (steps % 2)) * sixteenth
    spread = rng.uniform(0.0005, 0.0025)
    lean = {v: rng.uniform(-0.002, 0.002) for v in ("kick", "snare", "hat", "ride")}
    lean["ghost"] = rng.uniform(0.0, 0.003)  # ghost strokes tend to drag
    offset = np.array([lean.get(h.voice, 0.0) for h in hits]) + rng.normal(0.0, spread, len(hits))
    return grid + np.clip(offset, -MAX_JITTER_S, MAX_JITTER_S)


# -- performance -----------------------------------------------------------
def _play(hits: list[_Hit], times: np.ndarray, kit: Kit, n: int) -> np.ndarray:
    """Mix every hit into a cyclic buffer of ``n`` samples (tails wrap round)."""
    sr = kit.sample_rate
    pre = int(PREROLL_S * sr)
    longest = max(len(s) for shots in kit.shots.values() for s in shots)
    buf = np.zeros(pre + n + longest)
    starts = np.rint(times * sr).astype(int)
    never = np.iinfo(int).max
    hat_family = [i for i, h in enumerate(hits) if h.voice in ("hat", "open_hat")]
    hat_starts = np.sort(np.concatenate([starts[hat_family], [never]]))
    choke_fade = int(0.006 * sr)
    for h, start in zip(hits, starts):
        shots = kit.shots[h.voice]
        shot = shots[h.variant % len(shots)]
        if h.voice == "open_hat":
            # The next stroke on the hi-hat closes it: a held open hat is a
            # different instrument from the choked one drummers play.
            nxt = hat_starts[np.searchsorted(hat_starts, start, side="right")]
            if nxt == never:
                nxt = hat_starts[0] + n
            length = int(np.clip(nxt - start + choke_fade, choke_fade, len(shot)))
            if length < len(shot):
                shot = shot[:length].copy()
                shot[-choke_fade:] *= np.linspace(1.0, 0.0, choke_fade)
        amp = kit.levels[h.voice] * h.velocity ** 1.6
        buf[pre + start:pre + start + len(shot)] += amp * shot
    return np.roll(fold(buf, n), -pre)


# -- public -----------------------------------------------------------------
def synth_break(seed: int, *, sample_rate: int = 22050, tempo: float | None = None,
                bars: int = 1,
                kit: Callable[[np.random.Generator, int, frozenset[str]], Kit] | None = None,
                ) -> tuple[np.ndarray, BreakInfo]:
    """Synthesise one drum-break loop from a seed.

    Parameters
    ----------
    seed : int >= 0
        Everything (pattern, tempo, kit, feel, mix) follows from it: the same
        seed gives bit-identical audio.
    sample_rate : int
        Output rate in Hz (at least 8000).
    tempo : float or None
        BPM (20..400). ``None`` draws it from the seed in 80..175, mostly
        near the pattern's own tempo.
    bars : int
        Loop length in bars of 4/4.
    kit : callable, optional
        ``kit(rng, sample_rate, voices) -> Kit`` draws the drums; default
        the procedural kit (:meth:`Kit.draw`). :mod:`vamen.model.recorded`
        passes one that plays recorded one-shots.

    Returns
    -------
    audio : np.ndarray [shape=(round(bars * 240 / tempo * sample_rate),), dtype=float32]
        Mono loop at ``sample_rate``, peak at most 0.98, cyclic (its end runs
        seamlessly into its start).
    info : BreakInfo
        Pattern, tempo, swing and hit times.
    """
    if not 20.0 <= (tempo if tempo is not None else 120.0) <= 400.0:
        raise ValueError(f"tempo must be 20..400 BPM, not {tempo}")
    if bars < 1:
        raise ValueError(f"bars must be at least 1, not {bars}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000, not {sample_rate}")
    arrange_rng, kit_rng, mix_rng, chop_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))

    pattern = PATTERNS[int(arrange_rng.integers(len(PATTERNS)))]
    if arrange_rng.random() < 0.65:
        lo, hi = np.clip(pattern.tempo, *TEMPO_RANGE)
    else:
        lo, hi = TEMPO_RANGE
    drawn = round(float(arrange_rng.uniform(lo, hi)), 2)
    tempo = drawn if tempo is None else float(tempo)
    if arrange_rng.random() < 0.15:
        swing = float(arrange_rng.uniform(0.0, MAX_SWING))
    else:
        swing = float(arrange_rng.uniform(*pattern.swing))
    hits = _arrange(pattern, bars, arrange_rng)
    times = _times(hits, tempo, swing, arrange_rng)

    n = int(round(bars * 240.0 / tempo * sample_rate))
    voices_used = frozenset(h.voice for h in hits)
    drums = (kit(kit_rng, sample_rate, voices_used) if kit is not None
             else Kit.draw(kit_rng, sample_rate, voices=voices_used))
    audio = room(_play(hits, times, drums, n), sample_rate, mix_rng)
    voices = [h.voice for h in hits]
    rechopped = False
    if chop_rng.random() < P_RECHOP:
        steps = np.arange(bars * STEPS_PER_BAR)
        grid = (steps + swing * (steps % 2)) * 15.0 / tempo
        chopped = chop(audio, times, voices, grid, sample_rate, chop_rng, MAX_JITTER_S)
        if chopped is not None:
            (audio, times, voices), rechopped = chopped, True
    audio = finish(audio, sample_rate, mix_rng).astype(np.float32)

    duration = n / sample_rate
    wrapped = np.mod(times, duration)
    order = np.argsort(wrapped, kind="stable")
    info = BreakInfo(tempo=tempo, pattern=pattern.name, swing=round(swing, 4),
                     onsets=tuple(float(wrapped[k]) for k in order),
                     voices=tuple(voices[k] for k in order), rechopped=bool(rechopped), bars=bars)
    return audio, info


def loop_seed(seed: int, index: int) -> int:
    """The seed of loop ``index`` in a dataset made from ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0])


def write_dataset(out_dir, count: int, seed: int = 0, *, sample_rate: int = 22050,
                  progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write ``count`` one-bar loops as 16-bit PCM WAV files.

    Files are named ``synth-00017-137.42bpm.wav``: the loop index and its
    tempo. Loop ``i`` is ``synth_break(loop_seed(seed, i))``, so a dataset is
    reproducible from ``(seed, count)`` and growing ``count`` keeps the
    loops already written.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write to; created if missing.
    count : int >= 0
        Number of loops.
    seed : int >= 0
        Dataset seed.
    sample_rate : int
        Sample rate of the files in Hz.
    progress : callable, optional
        Called with 1 after each file is written.

    Returns
    -------
    list of Path
        The files written, in loop order.
    """
    import soundfile as sf

    if count < 0:
        raise ValueError(f"count must be at least 0, not {count}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        audio, info = synth_break(loop_seed(seed, i), sample_rate=sample_rate)
        path = out / f"synth-{i:05d}-{info.tempo:.2f}bpm.wav"
        sf.write(path, audio, sample_rate, subtype="PCM_16")
        paths.append(path)
        if progress is not None:
            progress(1)
    # training copies this into the checkpoint, so a model says what it learnt from
    (out / "vamen-dataset.json").write_text(json.dumps(
        {"generator": "vamen dataset synth", "seed": seed, "count": count,
         "sample_rate": sample_rate}))
    return paths
