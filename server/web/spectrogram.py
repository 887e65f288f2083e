"""The spectrogram of each new loop, made once on its own thread, kept as a small PNG.

:class:`Spectrograms` is a loop listener of the render worker (like the
notify sink, a :class:`~vamen.server.sinks.LoopSink`): the worker only queues
the loop; the picture is made on this listener's thread, never on the
render, control or audio thread, and never in the browser. It keeps the
last few loops with the output sample they start at, so :meth:`Spectrograms.around`
can say which one is playing now and which is queued next.

The picture: :data:`WIDTH` frames by :data:`HEIGHT` bands spaced evenly in
log frequency from 40 Hz to the Nyquist frequency, 60 dB of range below the
loop's loudest point, low frequencies at the bottom, a dark-to-amber
colour map that stays readable in a dark room.

Contents
--------
Spectrograms    the listener: ``around(position)`` -> (now, next)
picture         audio [shape=(frames,)] -> uint8 [shape=(HEIGHT, WIDTH, 3)]
png             uint8 RGB image -> PNG bytes (standard library only)
"""
from __future__ import annotations

import base64
import queue
import struct
import threading
import zlib
from collections import deque
from dataclasses import dataclass

import numpy as np

from vamen.server.sinks import Loop, LoopSink

WIDTH, HEIGHT = 192, 72
N_FFT = 1024
LOWEST_HZ = 40.0
RANGE_DB = 60.0
KEPT = 12  # loops remembered: a bar's beats, plus what is queued ahead

# dark blue-black -> violet -> amber -> pale yellow
_STOPS = np.array([[8, 8, 16], [60, 20, 90], [180, 50, 70], [245, 150, 40], [255, 240, 190]], float)


def _colours() -> np.ndarray:
    x = np.linspace(0, len(_STOPS) - 1, 256)
    i = np.minimum(x.astype(int), len(_STOPS) - 2)
    f = (x - i)[:, None]
    return (_STOPS[i] * (1 - f) + _STOPS[i + 1] * f).astype(np.uint8)


_LUT = _colours()


def picture(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A loop's spectrogram as an RGB image.

    Parameters
    ----------
    audio : np.ndarray [shape=(frames,)]
        Mono, at ``sample_rate`` Hz.
    sample_rate : int

    Returns
    -------
    np.ndarray [shape=(HEIGHT, WIDTH, 3), dtype=uint8]
        Time left to right, frequency bottom to top.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if len(audio) < N_FFT:
        audio = np.pad(audio, (0, N_FFT - len(audio)))
    starts = np.linspace(0, len(audio) - N_FFT, WIDTH).astype(int)
    frames = audio[starts[:, None] + np.arange(N_FFT)] * np.hanning(N_FFT).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (WIDTH, N_FFT // 2 + 1)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    edges = np.geomspace(LOWEST_HZ, sample_rate / 2, HEIGHT + 1)
    band = np.clip(np.searchsorted(edges, freqs) - 1, -1, HEIGHT)
    sums = np.zeros((HEIGHT + 2, WIDTH))
    np.add.at(sums, band + 1, power.T)
    counts = np.bincount(band + 1, minlength=HEIGHT + 2)[1:HEIGHT + 1]
    bands = (sums[1:HEIGHT + 1] / np.maximum(counts, 1)[:, None]).T  # mean power per band
    # low bands narrower than one FFT bin hold none: read the spectrum at their centre instead
    empty = counts == 0
    if empty.any():
        centres = np.sqrt(edges[:-1] * edges[1:])[empty]
        bands[:, empty] = np.array([np.interp(centres, freqs, frame) for frame in power])
    db = 10 * np.log10(bands + 1e-12)
    level = np.clip((db - (db.max() - RANGE_DB)) / RANGE_DB, 0, 1)
    return _LUT[(level.T[::-1] * 255).astype(np.uint8)]


def png(image: np.ndarray) -> bytes:
    """An RGB image [shape=(height, width, 3), uint8] as PNG bytes."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


@dataclass(frozen=True)
class Shown:
    """One loop's picture: from which output sample and beat it plays."""

    start: int
    beat: float
    png: str  # base64
    serial: int

    def fields(self) -> dict:
        return {"beat": self.beat, "png": self.png, "serial": self.serial}


class Spectrograms(LoopSink):
    """Render-worker listener that keeps the pictures of the latest loops.

    Parameters: those of :class:`~vamen.server.sinks.LoopSink` (``sample_rate``,
    ``position``); ``start()`` before the worker calls it, ``close()`` after.
    """

    name = "spectrogram"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: deque[Shown] = deque(maxlen=KEPT)
        self._lock = threading.Lock()
        self._serial = 0

    def __call__(self, slot, audio: np.ndarray, tempo_map) -> None:
        # only the start sample is needed besides the loop: no clock reads on the worker thread
        loop = Loop(audio, self.sample_rate, float(slot.beat), float(slot.tempo), int(slot.cue.start), 0.0)
        while True:
            try:
                self._queue.put_nowait(loop)
                return
            except queue.Full:  # the oldest waiting picture is the least wanted
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def deliver(self, loop: Loop) -> None:
        data = base64.b64encode(png(picture(loop.audio, loop.sample_rate))).decode("ascii")
        with self._lock:
            self._serial += 1
            start = loop.offset  # __call__ put the cue's start sample here
            kept = [s for s in self._shown if s.start < start]  # a re-render replaces what it covers
            self._shown.clear()
            self._shown.extend(kept)
            self._shown.append(Shown(start, loop.beat, data, self._serial))

    def around(self, position: int) -> tuple[Shown | None, Shown | None]:
        """The picture of the loop playing at output sample ``position``, and of the next queued."""
        with self._lock:
            shown = list(self._shown)
        now = next((s for s in reversed(shown) if s.start <= position), None)
        later = next((s for s in shown if s.start > position), None)
        return now, later
