"""What drives the player: a sound card's callback, or a timer when there is none.

Either one is the internal clock: it counts output samples in
``Player.position``, and musical time follows from the tempo map.
:func:`choose_output` picks one for ``vamen serve``'s options: the sound card
in a process of its own (:mod:`vamen.server.audio.audioproc`) where the platform
allows, else in this process; the timer, recording to a file, where there is
no sound card and none was named.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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
        skipped = False
        while not self._stop.is_set():
            now = time.monotonic()
            late = now - due > period
            # A late wake-up is caught up (the blocks due meanwhile follow at
            # once), so the samples keep their times and the player's clock
            # estimate holds; only a skip forward loses time. Restarting the
            # estimate at every late wake-up on a loaded machine biased it by
            # the lateness, and Tidal's notes landed ~10 ms early.
            self.player.fill(self._buffer, self.blocksize, late=late, resync=skipped)
            due += period
            skipped = late and now - due > 1.0
            if skipped:
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


class OfflineOutput:
    """No device and no thread: whoever drives the engine pulls each block.

    The sound card's part on the offline clock (:meth:`Engine.step`): tests
    and benchmarks hear exactly what a card would have been given, with no
    wall clock in the way. Pass the class as the engine's output factory.
    """

    latency = 0.0
    alive = True

    def __init__(self, player: Player, blocksize: int = 256):
        self.player = player
        self.blocksize = blocksize
        self.buffer = np.zeros((blocksize, player.channels), dtype=np.float32)

    def start(self) -> "OfflineOutput":
        return self

    def close(self) -> None:
        pass

    def play(self, blocks: int) -> np.ndarray:
        """Pull ``blocks`` blocks from the player; their first channel, one array."""
        out = []
        for _ in range(blocks):
            self.player.fill(self.buffer, self.blocksize)
            out.append(self.buffer[:, 0].copy())
        return np.concatenate(out)


@dataclass
class OutputChoice:
    """What :func:`choose_output` found: the rate to run at and how to start it."""

    sample_rate: int
    make: Callable[[Player], object]  # player -> an output with start(), close(), latency, alive
    name: str
    process: object | None = None  # the audioproc.ProcessOutput, which also makes the player


def choose_output(o, factory: Callable | None = None) -> OutputChoice:
    """The output ``o`` (ServeOptions) asks for; ``factory`` (tests) wins over all.

    A sound card that cannot be found is an error when ``--device`` named
    it; otherwise vamen says so in a note and records to a file instead.
    """
    if factory is not None:
        return OutputChoice(o.sample_rate or 48000, factory, "custom")
    if "soundcard" in o.sinks:
        from .devices import DeviceError

        try:
            return _soundcard(o)
        except DeviceError as exc:
            if o.device:  # a device the user named and we cannot find: say so, stop
                raise
            path = o.record or default_recording()
            o.record = path
            o.notes.append(f"{exc}; recording to {path} instead")
    return OutputChoice(o.sample_rate or 48000, lambda p: TimerOutput(p, 512), "timer")


def _soundcard(o) -> OutputChoice:
    from . import audioproc

    if audioproc.available():
        out = audioproc.ProcessOutput(o.device, o.blocksize, cpus=o.audio_cpus)
        try:
            rate, name = out.probe(int(o.sample_rate or 0))
        except Exception:
            out.close()
            raise
        return OutputChoice(rate, lambda p: out, name, out)
    from .devices import find_output, rescan_audio, set_jack_client_name

    # on JACK the ports read vamen:out_0, vamen:out_1 (JACK numbers a second one)
    if set_jack_client_name("vamen"):
        rescan_audio()
    index, rate = find_output(o.device)
    rate = int(o.sample_rate or rate)
    return OutputChoice(rate, lambda p: SoundcardOutput(p, index, o.blocksize), _device_name(index))


def default_recording() -> Path:
    return Path(time.strftime("vamen-%Y%m%d-%H%M%S.wav"))


def _device_name(index) -> str:
    try:
        import sounddevice as sd

        info = sd.query_devices(index, "output") if index is not None else sd.query_devices(kind="output")
        return str(info["name"])
    except Exception:
        return str(index)
