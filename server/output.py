"""What drives the player: a sound card's callback, or a timer when there is none.

Either one is the internal clock: it counts output samples in
``Player.position``, and musical time follows from the tempo map.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from .player import Player


class SoundcardOutput:
    """Plays through sounddevice (PortAudio: ALSA, JACK, CoreAudio, WASAPI...).

    Parameters
    ----------
    player : Player
    device : int or str or None
        PortAudio device; None is the default output.
    blocksize : int
        Frames per callback; 0 lets the host choose.
    """

    def __init__(self, player: Player, device=None, blocksize: int = 256, latency="low"):
        import sounddevice as sd

        self.player = player
        self.stream = sd.OutputStream(
            samplerate=player.sample_rate, blocksize=blocksize, device=device,
            channels=player.channels, dtype="float32", latency=latency, callback=self._callback)
        self.latency = float(self.stream.latency)

    def _callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        # the callback rules of player.Player apply: copy, never allocate or block
        self.player.fill(outdata, frames, late=bool(status.output_underflow))

    def start(self) -> "SoundcardOutput":
        self.stream.start()
        return self

    @property
    def alive(self) -> bool:
        return bool(self.stream.active)

    def close(self) -> None:
        import sounddevice as sd

        if not self.stream.active and not self.stream.stopped:
            # The device vanished under the stream (JACK died): PortAudio would
            # block for minutes in stop() and abort the process at exit, so
            # leave the dead stream alone and keep PortAudio from tearing down.
            sd._initialized = 0
            return
        try:
            self.stream.stop()
            self.stream.close()
        except Exception:  # a vanished device cannot be stopped politely
            pass


class TimerOutput:
    """Pulls blocks from the player in real time with no sound card, for sinks that record.

    It counts a block as late when the thread wakes more than a block late.
    """

    def __init__(self, player: Player, blocksize: int = 512):
        self.player = player
        self.blocksize = blocksize
        self.latency = blocksize / player.sample_rate
        self._buffer = np.zeros((blocksize, player.channels), dtype=np.float32)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "TimerOutput":
        self._thread = threading.Thread(target=self._run, name="vamen-timer", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        period = self.blocksize / self.player.sample_rate
        due = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            late = now - due > period
            self.player.fill(self._buffer, self.blocksize, late=late)
            due += period
            if late and now - due > 1.0:
                due = now  # after a long stall, catch up instead of racing
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
