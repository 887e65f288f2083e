"""The frozen configuration that travels inside every checkpoint.

Two kinds of features exist (``features``):

- ``"linear"``: the log-magnitude of every STFT bin, the full-band default
  since format 2. Nothing is thrown away between the decoder and Griffin-Lim,
  so the renderer is capped only by phase reconstruction (about -20 dB
  spectral convergence on real breaks, against about -11 dB through 128 mels).
- ``"mel"``: ``n_mels`` Slaney mel bands, the 22.05 kHz models before it.
  A checkpoint that does not name its features is one of these.

A loop is ``bars`` bars of 4/4 at the reference ``tempo``. Its log-mel
spectrogram always has :attr:`LoopConfig.frames` frames, whatever tempo the
audio was played at: the STFT hop is chosen per loop so that one loop fills
exactly ``frames`` frames (see :func:`LoopConfig.hop_for`). That makes the
representation tempo-free, and time-stretching at render time is only a
matter of choosing a different synthesis hop.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

FEATURES = ("linear", "mel")
# The largest model a checkpoint may describe: far above any vamen trains
# (44.1 kHz, n_fft 1024, 128 channels, 345 frames), yet built in well under
# a gigabyte, so a forged or damaged file cannot have terabytes asked for.
MAX_SAMPLE_RATE = 192_000
MAX_N_FFT = 16_384
MAX_CHANNELS = 1024
MAX_BARS = 16
MAX_FRAMES = 8192
# What a checkpoint written before ``features`` existed was: 128 log-mel bands
# at 22.05 kHz over -80..30 dB. Its config names every other field.
LEGACY = {"features": "mel"}

@dataclass(frozen=True)
class LoopConfig:
    """Audio front end and model shape.

    Attributes
    ----------
    sample_rate : int
        Model sample rate in Hz.
    n_fft : int
        FFT size (and Hann window length) in samples.
    hop_length : int
        Nominal analysis hop at the reference tempo, in samples.
    features : str
        ``"linear"`` (log-magnitude STFT bins) or ``"mel"`` (log-mel bands).
    n_mels : int
        Number of Slaney mel bands (librosa's default filters); only used
        when ``features == "mel"``.
    fmin, fmax : float
        Mel filter band edges in Hz; ``fmax=0`` means ``sample_rate / 2``.
    db_min, db_max : float
        The fixed dB range of power mel values; it is mapped onto [0, 1].
    tempo : float
        Reference tempo in BPM: the tempo a loop plays at unless told otherwise.
    bars : int
        Loop length in bars of 4/4.
    latent_dim : int
        Number of latent dimensions (8 to 32).
    channels : int
        Width of the convolutional encoder and decoder.
    """

    sample_rate: int = 44100
    n_fft: int = 1024
    hop_length: int = 256
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 0.0
    db_min: float = -70.0
    db_max: float = 50.0
    tempo: float = 120.0
    bars: int = 1
    latent_dim: int = 16
    channels: int = 128
    features: str = "linear"

    def __post_init__(self) -> None:
        # Every figure is bounded above too: a checkpoint is a file anyone can
        # hand over, and channels = 10**6 or a million frames would have the
        # model built first, asking for terabytes, before its weights are read.
        problems = []
        for name in ("fmin", "fmax", "db_min", "db_max", "tempo"):
            if not math.isfinite(getattr(self, name)):
                problems.append(f"{name} must be a finite number, not {getattr(self, name)}")
        if problems:
            raise ValueError("; ".join(problems))
        if not 8 <= self.latent_dim <= 32:
            problems.append(f"latent_dim must be 8..32, not {self.latent_dim}")
        if not 64 <= self.n_fft <= MAX_N_FFT or self.n_fft & (self.n_fft - 1):
            problems.append(f"n_fft must be a power of two within 64..{MAX_N_FFT}, not {self.n_fft}")
        if not 0 < self.hop_length <= self.n_fft // 2:
            problems.append(f"hop_length must be 1..n_fft/2, not {self.hop_length}")
        if not 8 <= self.n_mels <= self.n_fft // 2 + 1:
            problems.append(f"n_mels must be 8..n_fft/2+1, not {self.n_mels}")
        if not 20.0 <= self.tempo <= 400.0:
            problems.append(f"tempo must be 20..400 BPM, not {self.tempo}")
        if not 1 <= self.bars <= MAX_BARS:
            problems.append(f"bars must be 1..{MAX_BARS}, not {self.bars}")
        if self.db_max <= self.db_min:
            problems.append("db_max must be above db_min")
        if self.fmin < 0 or self.fmax < 0 or self.fmax > self.sample_rate / 2:
            problems.append("fmin and fmax must be within 0..half the sample rate (fmax 0: half the sample rate)")
        if not 8000 <= self.sample_rate <= MAX_SAMPLE_RATE:
            problems.append(f"sample_rate must be 8000..{MAX_SAMPLE_RATE}, not {self.sample_rate}")
        if not 8 <= self.channels <= MAX_CHANNELS:
            problems.append(f"channels must be 8..{MAX_CHANNELS}, not {self.channels}")
        if self.features not in FEATURES:
            problems.append(f"features must be one of {', '.join(FEATURES)}, not {self.features!r}")
        if not problems and self.frames > MAX_FRAMES:
            problems.append(f"a loop of {self.frames} frames is too long (at most {MAX_FRAMES}): "
                            "a larger hop_length, fewer bars or a lower sample_rate")
        if not problems and self.mel_fmax - self.fmin < self.n_mels * self.sample_rate / self.n_fft:
            # narrower, a mel band holds no STFT bin (fmax = 1e-309 made the filter bank nan)
            problems.append(f"fmin..fmax ({self.fmin:g}..{self.mel_fmax:g} Hz) is too narrow for "
                            f"{self.n_mels} mel bands")
        if problems:
            raise ValueError("; ".join(problems))

    # -- derived figures -------------------------------------------------
    @property
    def n_freqs(self) -> int:
        """Number of linear STFT bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    @property
    def n_bins(self) -> int:
        """Feature rows per frame: STFT bins for linear features, else mel bands."""
        return self.n_freqs if self.features == "linear" else self.n_mels

    @property
    def mel_fmax(self) -> float:
        return self.fmax if self.fmax > 0 else self.sample_rate / 2.0

    def loop_seconds(self, tempo: float | None = None) -> float:
        """Duration of one loop in seconds at ``tempo`` (default: reference)."""
        return self.bars * 4 * 60.0 / (tempo or self.tempo)

    def loop_samples(self, tempo: float | None = None, sample_rate: int | None = None) -> int:
        """Exact length of one loop in samples (rounded to the nearest sample)."""
        return int(round(self.loop_seconds(tempo) * (sample_rate or self.sample_rate)))

    @property
    def frames(self) -> int:
        """Mel frames per loop: the reference loop divided by the nominal hop."""
        return max(16, int(round(self.loop_samples() / self.hop_length)))

    def hop_for(self, n_samples: int) -> int:
        """The STFT hop that spreads ``n_samples`` over :attr:`frames` frames.

        Capped at ``n_fft // 2`` so Hann windows still overlap at slow tempos;
        the caller resamples the loop to ``frames * hop`` samples, a change of
        at most a few cents that nobody hears.
        """
        return int(min(self.n_fft // 2, max(1, round(n_samples / self.frames))))

    # -- (de)serialisation -----------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LoopConfig":
        """Build from a checkpoint's dict, refusing unknown or mistyped keys."""
        if not isinstance(data, dict):
            raise ValueError("config is not a mapping")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        kwargs: dict[str, Any] = {k: v for k, v in LEGACY.items() if k not in data}
        for name, value in data.items():
            if fields[name].type in ("str", str):
                if not isinstance(value, str):
                    raise ValueError(f"config key {name} is not a string")
                kwargs[name] = value
                continue
            want = float if fields[name].type in ("float", float) else int
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"config key {name} is not a number")
            if want is int and isinstance(value, float) and not value.is_integer():  # int(inf) overflows
                raise ValueError(f"config key {name} is not a whole number: {value}")
            kwargs[name] = want(value)
        return cls(**kwargs)
