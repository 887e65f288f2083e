"""The ``file`` sink: records the performance to a WAV file that survives crashes.

The audio callback only copies each block into a preallocated ring; a
writer thread drains it to disk. Every half second the writer rewrites the
WAV header's sizes and flushes, so after a ``kill -9`` the file is a valid
WAV holding everything but the last half second or so.
"""
from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import numpy as np

HEADER_EVERY = 0.5  # seconds of audio between header rewrites


def write_wrapped(ring: np.ndarray, at: int, block: np.ndarray, frames: int) -> None:
    """Copy ``block[:frames]`` into ``ring`` from total frame count ``at``, wrapping; no allocation."""
    size = len(ring)
    start = at % size
    first = min(frames, size - start)
    ring[start:start + first] = block[:first]
    if first < frames:
        ring[: frames - first] = block[first:frames]


class Ring:
    """Single-producer, single-consumer ring of audio frames; never allocates on push."""

    def __init__(self, frames: int, channels: int):
        self.data = np.zeros((frames, channels), dtype=np.float32)
        self.write = 0  # total frames pushed (producer only)
        self.read = 0  # total frames taken (consumer only)
        self.dropped = 0

    def push(self, block: np.ndarray, frames: int) -> None:
        size = len(self.data)
        if self.write + frames - self.read > size:
            self.dropped += frames  # the writer fell behind: count it, never block
            return
        write_wrapped(self.data, self.write, block, frames)
        self.write += frames

    def take(self) -> np.ndarray:
        """Copy out everything pushed so far (consumer side)."""
        available = self.write - self.read
        size = len(self.data)
        start = self.read % size
        idx = (start + np.arange(available)) % size
        out = self.data[idx].copy()
        self.read += available
        return out


class WavRecorder:
    """A tap for :class:`~vamen.server.audio.player.Player` that writes 16-bit WAV.

    Parameters
    ----------
    path : Path
    sample_rate, channels : int
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int = 2):
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.channels = channels
        self.ring = Ring(sample_rate * 4, channels)
        self.frames_written = 0
        self._fh = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- callback side ---------------------------------------------------------
    def push(self, block: np.ndarray, frames: int) -> None:
        self.ring.push(block, frames)

    # -- writer thread -----------------------------------------------------------
    def start(self) -> "WavRecorder":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "wb")
        self._fh.write(self._header(0))
        self._fh.flush()
        self._thread = threading.Thread(target=self._run, name="vamen-record", daemon=True)
        self._thread.start()
        return self

    def _header(self, frames: int) -> bytes:
        data = frames * self.channels * 2
        return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE"
                + b"fmt " + struct.pack("<IHHIIHH", 16, 1, self.channels, self.sample_rate,
                                        self.sample_rate * self.channels * 2,
                                        self.channels * 2, 16)
                + b"data" + struct.pack("<I", data))

    def _drain(self) -> None:
        block = self.ring.take()
        if len(block):
            pcm = (np.clip(block, -1.0, 1.0) * 32767.0).astype("<i2")
            self._fh.write(pcm.tobytes())
            self.frames_written += len(block)

    def _update_header(self) -> None:
        end = self._fh.tell()
        self._fh.seek(0)
        self._fh.write(self._header(self.frames_written))
        self._fh.seek(end)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _run(self) -> None:
        while not self._stop.wait(HEADER_EVERY):
            self._drain()
            self._update_header()

    def close(self) -> None:
        """Write what is left and the final header."""
        if self._fh is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._drain()
        self._update_header()
        self._fh.close()
        self._fh = None
