"""Reading audio files and cutting them into bars.

Loops come as files of whole bars: one bar, or a few bars of a break. The
tempo comes from the file name when it says so (``amen-137bpm.wav``),
otherwise from the duration: the bar count whose tempo is plausible and
closest to librosa's tempo estimate. Each bar is then cut where its
downbeat's hit starts, near the grid line (:func:`downbeat_starts`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AudioFileError

AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")
TEMPO_RANGE = (60.0, 200.0)
#: How far a bar line may move onto its downbeat's hit: this share of a
#: sixteenth (so it never reaches the next sixteenth's hit),
#: and never more than ``SNAP_MAX_S`` seconds.
SNAP_SIXTEENTHS = 0.5
SNAP_MAX_S = 0.06
#: Samples either side of the reach that the onset finder sees around a line.
SNAP_CONTEXT = 8192
#: A hit's onset strength against the median of the stretch around the line: the
#: Amen's weakest downbeat stands 2.7 times out, white noise's flicker 1.5 at most.
SNAP_STANDS_OUT = 2.0
_BPM_IN_NAME = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*bpm", re.IGNORECASE)


def read_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Read any soundfile-readable file as mono float32 at ``sample_rate``.

    Returns
    -------
    np.ndarray [shape=(n,)], float32

    Raises
    ------
    AudioFileError
        Missing, unreadable, empty, silent or non-finite audio.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"no audio file at {path}")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile's errors have several types across versions
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioFileError(f"cannot read {path} as audio ({reason})") from None
    if data.size == 0:
        raise AudioFileError(f"{path} holds no audio")
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise AudioFileError(f"{path} holds non-finite samples")
    if float(np.abs(mono).max()) < 1e-5:
        raise AudioFileError(f"{path} is silent")
    if rate != sample_rate:
        import librosa

        mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate)
    return np.ascontiguousarray(mono, dtype=np.float32)


def tempo_from_name(path: str | Path) -> float | None:
    match = _BPM_IN_NAME.search(Path(path).stem)
    if match:
        tempo = float(match.group(1))
        if TEMPO_RANGE[0] / 2 <= tempo <= TEMPO_RANGE[1] * 1.5:
            return tempo
    return None


@dataclass(frozen=True)
class Bars:
    """A file cut into bars: ``tempo`` BPM, and each bar's audio."""

    tempo: float
    bars: list[np.ndarray]


def split_bars(audio: np.ndarray, sample_rate: int, tempo: float | None = None) -> Bars:
    """Cut a recording of whole bars into single bars.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)] at ``sample_rate``
    tempo : float, optional
        Known tempo; otherwise chosen from the duration (see module doc).

    Raises
    ------
    AudioFileError
        Shorter than one bar at the fastest plausible tempo.
    """
    seconds = len(audio) / sample_rate
    shortest = 240.0 / TEMPO_RANGE[1]
    if seconds < shortest * 0.95:
        raise AudioFileError(
            f"audio of {seconds:.2f} s is shorter than one bar at {TEMPO_RANGE[1]:.0f} BPM"
        )
    if tempo:
        count = max(1, round(seconds * tempo / 240.0))
        exact = 240.0 * count / seconds
        # a name that rounds its tempo still means whole bars: trust the duration
        if abs(exact - tempo) / tempo < 0.04:
            tempo = exact
    else:
        count, tempo = _bars_from_duration(audio, sample_rate, seconds)
    bar = 240.0 / tempo * sample_rate
    count = max(1, int(len(audio) / bar + 0.05))
    lines = [round(i * bar) for i in range(count + 1)]
    reach = snap_reach(bar, sample_rate)
    # the file is a loop: what comes before its start is its end, and after its end its start
    pad = min(len(audio), reach + SNAP_CONTEXT)
    looped = np.concatenate([audio[len(audio) - pad:], audio, audio[:pad]])
    edges = [e - pad for e in downbeat_starts(looped, sample_rate, [line + pad for line in lines], reach)]
    bars = [looped[pad + a:pad + b] for a, b in zip(edges[:-1], edges[1:])]
    return Bars(tempo, [x for x in bars if len(x) > 0.9 * bar])


def snap_reach(frames: float, sample_rate: int) -> int:
    """Samples a bar line may move onto its downbeat, in a bar ``frames`` samples long."""
    return int(min(SNAP_SIXTEENTHS * frames / 16.0, SNAP_MAX_S * sample_rate))


def downbeat_starts(audio: np.ndarray, sample_rate: int, lines: list[int], reach: int) -> list[int]:
    """Each bar line moved to where the strongest hit within ``reach`` samples of it starts.

    A drummer's bars drift against any one tempo: cut on the grid of the
    whole file's tempo, the Amen's second and third bars start 25 and 44 ms
    before their downbeats, and a model asked for such a bar has to play
    every hit late, which no loop it learnt from does. The hits are the
    onsets librosa finds (hops of 64 samples) in the stretch around each
    line; the strongest is taken back to where its attack starts
    (:func:`attack_start`). A line with no hit starting
    within reach, or none that stands out of the stretch (a wash), stays
    where it is.
    """
    import librosa

    hop = 64
    moved = []
    for line in lines:
        lo = max(0, line - reach - SNAP_CONTEXT)
        stretch = np.asarray(audio[lo:line + reach + SNAP_CONTEXT], dtype=np.float32)
        if reach <= 0 or len(stretch) < 4 * hop:
            moved.append(int(line))
            continue
        strength = librosa.onset.onset_strength(y=stretch, sr=sample_rate, hop_length=hop)
        peaks = librosa.onset.onset_detect(onset_envelope=strength, sr=sample_rate, hop_length=hop,
                                           units="frames")
        starts = lo + librosa.onset.onset_backtrack(peaks, strength) * hop if len(peaks) else peaks
        near = np.flatnonzero(np.abs(starts - line) <= reach)
        best = near[np.argmax(strength[peaks[near]])] if len(near) else None
        # a hit stands out of the stretch; a wash's own flicker does not
        if best is not None and strength[peaks[best]] >= SNAP_STANDS_OUT * np.median(strength):
            moved.append(attack_start(audio, lo + int(peaks[best]) * hop, sample_rate))
        else:
            moved.append(int(line))
    return moved


def attack_start(audio: np.ndarray, peak: int, sample_rate: int) -> int:
    """Where the hit whose onset strength peaks at sample ``peak`` starts, to within half a millisecond.

    Onset strength is taken over 2048-sample windows, so its rise (and
    librosa's backtracking) starts up to a window's half early. The start is
    the 0.5 ms frame, in the 25 ms before the peak, that rises most above the
    loudest of the four frames before it.
    """
    frame = max(1, int(sample_rate * 0.0005))
    look = 4
    lo = max(0, peak - int(0.025 * sample_rate) - look * frame)
    hi = min(len(audio), peak + int(0.005 * sample_rate))
    segment = np.asarray(audio[lo:hi], dtype=np.float64)
    count = len(segment) // frame
    if count <= look:
        return int(peak)
    level = 10.0 * np.log10(np.mean(np.square(segment[:count * frame]).reshape(count, frame), axis=1) + 1e-12)
    before = np.lib.stride_tricks.sliding_window_view(level[:-1], look).max(axis=1)
    return lo + (int(np.argmax(level[look:] - before)) + look) * frame


def _bars_from_duration(audio: np.ndarray, sample_rate: int, seconds: float) -> tuple[int, float]:
    lo, hi = TEMPO_RANGE
    counts = [n for n in range(1, 257) if lo <= 240.0 * n / seconds <= hi]
    if not counts:
        n = max(1, round(seconds * 120.0 / 240.0))
        return n, 240.0 * n / seconds
    if len(counts) == 1:
        return counts[0], 240.0 * counts[0] / seconds
    import librosa

    # Whole bars of drums put hits on the sixteenth-note grid; the wrong bar
    # count puts the grid between them. Tempo estimators alone are often an
    # octave or a third off on breaks.
    hop = 128
    onset = librosa.onset.onset_strength(y=audio, sr=sample_rate, hop_length=hop)
    frame_s = hop / sample_rate
    reach = max(1, int(round(0.015 / frame_s)))
    baseline = float(onset.mean()) + 1e-9

    def grid_score(n: int) -> float:
        # best over grid offsets: cut breaks often start a little before the hit
        sixteenth = seconds / (16 * n) / frame_s
        grid = np.arange(16 * n) * sixteenth
        scores = []
        for offset in range(int(np.ceil(sixteenth))):
            frames = np.round(grid + offset).astype(int) % len(onset)
            peaks = [onset[max(0, f - reach):f + reach + 1].max(initial=0.0) for f in frames]
            scores.append(float(np.mean(peaks)))
        return max(scores) / baseline

    best = max(counts, key=lambda n: (round(grid_score(n), 2), -abs(240.0 * n / seconds - 120.0)))
    return best, 240.0 * best / seconds


def find_audio(folder: str | Path) -> list[Path]:
    """Audio files under ``folder``, recursively, sorted by path."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
