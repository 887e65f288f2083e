"""A training corpus of real recorded drums, all CC0: the default model's diet.

Debian's ``sonic-pi-samples`` ships recordings that its copyright file
(``/usr/share/doc/sonic-pi-samples/copyright``) lists one by one as CC0:
breakbeat loops (an Amen among them) and acoustic drum one-shots in two
velocities. Two kinds of loop are made from them:

- **re-chops of the recorded breaks**, the trick of the VAmEn project
  (thousands of randomised chops of the Amen): each bar of each loop, its
  sixteenths re-arranged at random, sometimes pitched the way a sampler
  pitches a break (faster and higher, or slower and lower);
- **the classic break patterns of** :mod:`vamen.model.synth` **played on the
  recorded one-shots**: hard and soft strokes, the open hat choked by the
  next stroke, swing, ghosts and fills, in a small room.

Every loop then goes through a random high shelf (:func:`tone`), because
real breaks differ most in how bright they were mastered, and the one-shots
alone are darker than the breaks performers bring.

Functions
---------
find_samples    the sample folder, or one line naming the package to install
SampleBank      the recordings used, read once at one sample rate
write_dataset   a folder of one-bar loops as 16-bit WAV files, with a manifest
"""
from __future__ import annotations

import functools
import json
import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import VamenError

SAMPLES_DIR = Path("/usr/share/sonic-pi/samples")
COPYRIGHT = Path("/usr/share/doc/sonic-pi-samples/copyright")
APT_PACKAGE = "sonic-pi-samples"
LICENCE = "CC0-1.0"

#: The recorded breaks and how many bars each holds (counted by ear: the
#: duration alone also fits half the tempo, which the bar splitter prefers
#: for some). ``loop_industrial`` is half a bar: it is played twice.
LOOP_BARS = {"loop_amen": 1, "loop_amen_full": 4, "loop_breakbeat": 1, "loop_compus": 4,
             "loop_garzul": 4, "loop_mika": 4, "loop_safari": 4, "loop_industrial": 1}
LOOPS = tuple(LOOP_BARS)

#: Which one-shots play which voice of a kit. Acoustic kits only take the
#: acoustic recordings; an electronic snare or kick is mixed in now and then.
ONE_SHOTS = {
    "kick": ("drum_bass_hard", "drum_bass_soft", "drum_heavy_kick"),
    "kick_alt": ("bd_ada", "bd_boom", "bd_fat", "bd_haus", "bd_klub", "bd_pure", "bd_zum"),
    "snare": ("drum_snare_hard",),
    "snare_alt": ("sn_dolf", "sn_dub", "sn_zome", "elec_snare", "elec_hi_snare"),
    "ghost": ("drum_snare_soft",),
    "hat": ("drum_cymbal_closed", "drum_cymbal_pedal"),
    "open_hat": ("drum_cymbal_open",),
    "ride": ("drum_cymbal_soft", "drum_cymbal_closed"),
    "crash": ("drum_splash_hard", "drum_splash_soft", "drum_cymbal_hard"),
    "tom": ("drum_tom_hi_hard", "drum_tom_mid_hard", "drum_tom_lo_hard"),
}
#: One-shots longer than this are faded out: a loop folds its tails round,
#: and a 4 s cymbal would wash over the whole bar.
MAX_SHOT_S = 1.2


def find_samples(folder: str | Path | None = None) -> Path:
    """The folder of CC0 recordings, checked; raise one line when it is missing."""
    path = Path(folder) if folder is not None else SAMPLES_DIR
    missing = [n for n in LOOPS + ("drum_snare_hard",) if not (path / f"{n}.flac").is_file()]
    if missing:
        hint = (f" (install the Debian package: apt-get install {APT_PACKAGE})"
                if folder is None else "")
        raise VamenError(f"no CC0 drum recordings at {path}: {missing[0]}.flac is missing{hint}")
    return path


def _read(path: Path, sample_rate: int) -> np.ndarray:
    from .audio import read_audio

    return read_audio(path, sample_rate).astype(np.float64)


@dataclass
class SampleBank:
    """The recordings used, as mono float64 at one sample rate.

    Attributes
    ----------
    sample_rate : int
    shots : dict[str, np.ndarray]
        One-shot name -> audio [shape=(n,)], peak 1, faded out by ``MAX_SHOT_S``.
    bars : list[tuple[str, float, np.ndarray]]
        (name, tempo in BPM, one bar of audio) for every bar of every loop.
    folder : Path
    """

    sample_rate: int
    shots: dict[str, np.ndarray]
    bars: list[tuple[str, float, np.ndarray]]
    folder: Path

    @classmethod
    def load(cls, folder: str | Path | None = None, sample_rate: int = 44100) -> "SampleBank":
        from .audio import split_bars

        folder = find_samples(folder)
        shots = {}
        fade = int(0.05 * sample_rate)
        for name in sorted({n for names in ONE_SHOTS.values() for n in names}):
            x = _read(folder / f"{name}.flac", sample_rate)
            x = x[:int(MAX_SHOT_S * sample_rate)].copy()
            if len(x) > 2 * fade:
                x[-fade:] *= np.linspace(1.0, 0.0, fade)
            shots[name] = x / max(1e-9, float(np.abs(x).max()))
        bars = []
        for name in LOOPS:
            x = _read(folder / f"{name}.flac", sample_rate)
            if len(x) < 1.2 * sample_rate:
                x = np.concatenate([x, x])
            cut = split_bars(x, sample_rate, 240.0 * LOOP_BARS[name] * sample_rate / len(x))
            # each bar is cut on its own downbeat: its own length is its tempo
            bars += [(f"{name}#{i + 1}", 240.0 * sample_rate / len(bar), bar)
                     for i, bar in enumerate(cut.bars)]
        return cls(sample_rate, shots, bars, folder)

    def kit(self, rng: np.random.Generator, sample_rate: int, voices: frozenset[str]):
        """A :class:`~vamen.model.drums.Kit` of recorded one-shots, for ``synth_break``.

        Each voice is pitched by up to a semitone either way (a drummer's
        tuning); kick and snare are now and then an electronic sample.
        """
        from .drums import Kit

        if sample_rate != self.sample_rate:
            raise ValueError(f"the bank was read at {self.sample_rate} Hz, not {sample_rate}")

        def pick(voice: str) -> str:
            pool = ONE_SHOTS[voice]
            alt = ONE_SHOTS.get(f"{voice}_alt")
            if alt and rng.random() < 0.2:
                pool = alt
            return pool[int(rng.integers(len(pool)))]

        def tuned(name: str, spread: float = 1.0) -> np.ndarray:
            return _pitch(self.shots[name], 2.0 ** (rng.uniform(-1, 1) * spread / 12.0))

        snare = pick("snare")
        ghost = snare if snare not in ONE_SHOTS["snare"] else "drum_snare_soft"
        shots = {
            "kick": (tuned(pick("kick")),),
            "snare": (tuned(snare),),
            "ghost": (tuned(ghost),),
            "hat": tuple(tuned(n, 0.5) for n in ONE_SHOTS["hat"]),
            "open_hat": (tuned("drum_cymbal_open", 0.5),),
            "ride": (tuned(pick("ride"), 0.5),),
            "crash": (tuned(pick("crash"), 0.5),),
            "tom": tuple(tuned(n) for n in ONE_SHOTS["tom"]),
        }
        levels = {
            "kick": rng.uniform(0.55, 0.85), "snare": rng.uniform(0.6, 0.9),
            "ghost": rng.uniform(0.35, 0.6), "hat": rng.uniform(0.2, 0.4),
            "open_hat": rng.uniform(0.15, 0.3), "ride": rng.uniform(0.12, 0.25),
            "crash": rng.uniform(0.1, 0.2), "tom": rng.uniform(0.4, 0.7),
        }
        return Kit(sample_rate=sample_rate, shots={k: v for k, v in shots.items()},
                   levels=levels)


def _pitch(x: np.ndarray, ratio: float) -> np.ndarray:
    """Play ``x`` ``ratio`` times faster, as a sampler does (higher and shorter)."""
    if abs(ratio - 1.0) < 1e-4:
        return x
    n = max(2, int(round(len(x) / ratio)))
    return np.interp(np.arange(n) * ratio, np.arange(len(x)), x)


def rechop_bar(bar: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A re-chop of a recorded bar: sixteenths (or eighths) re-arranged, maybe pitched.

    The downbeat stays; 2 ms fades at each join keep the cuts from clicking.
    The pitch changes the bar's length, and so its tempo, as a sampler does.
    """
    from .dataset import rechop

    slices = 16 if rng.random() < 0.75 else 8
    out = rechop(bar.astype(np.float32), rng, float(rng.uniform(0.15, 0.7)), slices)
    if rng.random() < 0.5:
        out = _pitch(out.astype(np.float64), 2.0 ** (rng.uniform(-2.0, 2.0) / 12.0))
    return np.asarray(out, dtype=np.float64)


#: The range of the tone control, in dB at the top of the band: real breaks
#: come off records mastered bright or dull, and sampled ones are often
#: brightened again; the one-shots alone are darker than most.
TONE_DB = (-2.0, 10.0)


def tone(x: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """``x`` through a random high shelf: 0 dB below 2 kHz, ``TONE_DB`` at 8 kHz and up.

    The shelf rises smoothly over log frequency (a raised cosine from 2 to
    8 kHz), applied in one FFT over the whole loop, so it has no phase of its
    own and the hits keep their attack.
    """
    gain_db = rng.uniform(*TONE_DB)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1.0 / sample_rate)
    ramp = np.clip(np.log2(np.maximum(freqs, 1.0) / 2000.0) / 2.0, 0.0, 1.0)
    shelf = 10.0 ** (gain_db * 0.5 * (1.0 - np.cos(np.pi * ramp)) / 20.0)
    return np.fft.irfft(spectrum * shelf, n=len(x))


def _level(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (x / max(1e-9, float(np.abs(x).max())) * rng.uniform(0.5, 0.95)).astype(np.float32)


def licence_note(folder: Path) -> str:
    """What the copyright file says of the recordings used, in one line."""
    text = COPYRIGHT.read_text(errors="replace") if COPYRIGHT.is_file() else ""
    names = sorted({n for v in ONE_SHOTS.values() for n in v} | set(LOOPS))
    # each stanza: "Files: etc/samples/NAME.flac" ... "License: X"
    found = {}
    for stanza in text.split("\n\n"):
        lines = dict(line.split(":", 1) for line in stanza.splitlines()
                     if ":" in line and not line.startswith(" "))
        files, lic = lines.get("Files", "").strip(), lines.get("License", "").strip()
        if files.startswith("etc/samples/"):
            found[Path(files).stem] = lic
    licences = {found.get(n, "unknown") for n in names}
    return (f"{len(names)} recordings from Debian {APT_PACKAGE} ({folder}), "
            f"licence per {COPYRIGHT}: {', '.join(sorted(licences))}")


def _write_loop(bank: SampleBank, out: Path, seed: int, chops: float, i: int) -> Path:
    """Write loop ``i`` of the corpus ``seed``: it follows from ``(seed, i)`` alone."""
    import soundfile as sf

    from .synth import loop_seed, synth_break

    s = loop_seed(seed, i)
    rng = np.random.default_rng(s)
    if rng.random() < chops:
        name, tempo, bar = bank.bars[int(rng.integers(len(bank.bars)))]
        audio = rechop_bar(bar, rng)
        tempo = tempo * len(bar) / len(audio)
        path = out / f"chop-{i:05d}-{name.replace('#', '.')}-{tempo:.2f}bpm.wav"
    else:
        audio, info = synth_break(s, sample_rate=bank.sample_rate, kit=bank.kit)
        tempo = info.tempo
        path = out / f"kit-{i:05d}-{info.pattern}-{tempo:.2f}bpm.wav"
    sf.write(path, _level(tone(audio, rng, bank.sample_rate), rng), bank.sample_rate,
             subtype="PCM_16")
    return path


def write_dataset(out_dir: str | Path, count: int, seed: int = 0, *, sample_rate: int = 44100,
                  chops: float = 0.4, folder: str | Path | None = None, jobs: int = 1,
                  progress: Callable[[int], None] | None = None) -> list[Path]:
    """Write ``count`` one-bar loops of recorded drums as 16-bit WAV files.

    A share ``chops`` of them are re-chops of the recorded breaks
    (``chop-00017-loop_amen#1-137.42bpm.wav``); the rest are the break
    patterns played on recorded one-shots (``kit-00018-120.11bpm.wav``).
    Loop ``i`` follows from ``(seed, i)`` alone, so a dataset is reproducible
    and growing ``count`` keeps the loops already written.

    Parameters
    ----------
    out_dir : str or Path
    count : int >= 1
    seed : int >= 0
    sample_rate : int
    chops : float in [0, 1]
    folder : path, optional
        Where the recordings are; default ``/usr/share/sonic-pi/samples``.
    jobs : int >= 1
        Processes that write loops at once. Each loop follows from
        ``(seed, i)`` alone, so the files are the same for any ``jobs``.
    progress : callable, optional
        Called with 1 after each file.

    Returns
    -------
    list of Path, the files written in loop order.

    Raises
    ------
    VamenError
        The recordings are missing (names the package to install).
    """
    bank = SampleBank.load(folder, sample_rate)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write = functools.partial(_write_loop, bank, out, seed, chops)
    paths = []
    # forked workers share the bank read above; imap keeps loop order
    pool = multiprocessing.get_context("fork").Pool(min(jobs, count)) if jobs > 1 else None
    try:
        for path in (pool.imap(write, range(count), chunksize=4) if pool else map(write, range(count))):
            paths.append(path)
            if progress is not None:
                progress(1)
    finally:
        if pool is not None:
            pool.terminate()
    # training copies this into the checkpoint, so a model says what it learnt from
    (out / "vamen-dataset.json").write_text(json.dumps({
        "generator": "vamen dataset recorded", "seed": seed, "count": count,
        "sample_rate": sample_rate, "chops": chops, "tone_db": list(TONE_DB), "licence": LICENCE,
        "sources": licence_note(bank.folder),
        "loops": list(LOOPS), "one_shots": sorted({n for v in ONE_SHOTS.values() for n in v}),
    }))
    return paths
