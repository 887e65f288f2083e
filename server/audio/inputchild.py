"""The sound card's input side: ``python -m vamen.server.audio.inputchild``.

``vamen serve --input NAME`` listens through a child process of its own,
beside the output's (:mod:`vamen.server.audio.audiochild`), for the same
reasons: the callback never waits for the server's GIL, and an input that
goes away (a USB interface pulled, a JACK server gone) is replaced by a new
process while the output plays on. Light imports only: numpy, sounddevice.

The callback's rules are the output's: it copies the block into a ring in
shared memory, writes a few figures, and does nothing else (no allocation,
no lock, no logging, no torch). Level, clipping, the bar cut and the
encoding are the parent's (:mod:`vamen.server.audio.inputproc`,
:mod:`vamen.server.render.listener`).

Shared memory (one file the parent creates, passed as a descriptor):
``status``, float64 figures (slots below), then ``ring``, float32
``[frames, channels]``: input frame ``f`` (counted from this input's
first) sits at row ``f % frames``.

Time: like the output's player, each block gives an upper bound on the
monotonic time at which input frame 0 reached the callback (a callback can
run late, never early); the smallest bound of the last one to two seconds
is ``EPOCH``, so frame ``f`` reached vamen at ``EPOCH + f / rate``. That is
what lets the parent cut a bar of input on the output's bar line.

Messages: child -> parent ``("device", rate, name, label, channels)``,
then ``("ready", latency)`` or ``("error", text)``; parent -> child
``("attach", layout)``, ``("stop",)``.
"""
from __future__ import annotations

import argparse
import gc
import mmap
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from .recorder import write_wrapped

# status slots (float64 each)
WRITE, EPOCH, HEARTBEAT, STATE, BLOCKS, OVERFLOWS, CALLBACK_MAX, SLOW, STARTED = range(9)
STATUS_SLOTS = 9
RUNNING, STOPPED, DEAD = 1.0, 2.0, 3.0
STARTUP_SECONDS = 1.0
CLOCK_WINDOW = 1.0
SLOW_SHARE = 0.5
MAX_CHANNELS = 2  # a stereo pair at most: a drum kit's overheads, a deck's left and right


@dataclass(frozen=True)
class InputLayout:
    """The status slots and the ring of input frames in the shared file."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def size(self) -> int:
        return 8 * STATUS_SLOTS + 4 * self.frames * self.channels

    def views(self, buffer) -> tuple[np.ndarray, np.ndarray]:
        """``(status, ring)`` arrays over ``buffer``."""
        status = np.frombuffer(buffer, np.float64, STATUS_SLOTS, 0)
        ring = np.frombuffer(buffer, np.float32, self.frames * self.channels, 8 * STATUS_SLOTS)
        return status, ring.reshape(self.frames, self.channels)


class InputCallback:
    """Copy each block into the ring; keep the frame count, the clock and the figures."""

    def __init__(self, status: np.ndarray, ring: np.ndarray, sample_rate: int):
        self.status = status
        self.ring = ring
        self.rate = float(sample_rate)
        self.write = int(status[WRITE])
        self._window_start = -np.inf
        self._this_min = self._last_min = np.inf

    def __call__(self, indata, frames, time_info, status) -> None:
        started = time.perf_counter()
        now = time.monotonic()
        st = self.status
        if status.input_overflow:  # counted; the clock's window forgets a lost block within 2 s
            st[OVERFLOWS] += 1
        bound = now - self.write / self.rate
        if now - self._window_start > CLOCK_WINDOW:
            self._window_start = now
            self._last_min, self._this_min = self._this_min, bound
        elif bound < self._this_min:
            self._this_min = bound
        write_wrapped(self.ring, self.write, indata, frames)
        self.write += frames
        st[EPOCH] = min(self._last_min, self._this_min)
        st[WRITE] = self.write
        st[BLOCKS] += 1
        st[HEARTBEAT] = now
        took = time.perf_counter() - started
        if took > st[CALLBACK_MAX]:
            st[CALLBACK_MAX] = took
        if took > SLOW_SHARE * frames / self.rate:
            st[SLOW] += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vamen-input")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--shm", type=int, required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--rate", type=int, default=0)
    ap.add_argument("--blocksize", type=int, default=256)
    ap.add_argument("--jack-name", default="vamen-in")
    args = ap.parse_args(argv)
    conn = Connection(args.fd)
    sys.setswitchinterval(0.0005)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        pass
    from .devices import DeviceError, find_input, rescan_audio, set_jack_client_name

    try:
        if set_jack_client_name(args.jack_name):
            rescan_audio()
        index, rate, channels = find_input(args.device)
        rate = int(args.rate or rate)
        channels = min(channels, MAX_CHANNELS)
        import sounddevice as sd

        info = sd.query_devices(index, "input")
        label = f'{sd.query_hostapis(info["hostapi"])["name"]}: {info["name"]}'
        conn.send(("device", rate, str(info["name"]), label, channels))
        attach = conn.recv()
        layout: InputLayout = attach[1]
        shared = mmap.mmap(args.shm, layout.size)
        status, ring = layout.views(shared)
        callback = InputCallback(status, ring, layout.sample_rate)
        stream = sd.InputStream(samplerate=rate, blocksize=args.blocksize, device=index,
                                channels=layout.channels, dtype="float32", latency="low",
                                callback=callback)
        status[STARTED] = callback.write  # frames before this are an earlier process's, or nothing
        status[HEARTBEAT] = time.monotonic() + STARTUP_SECONDS
        gc.collect()
        gc.freeze()
        gc.disable()
        stream.start()
        status[STATE] = RUNNING
        conn.send(("ready", float(stream.latency)))
    except (DeviceError, EOFError, OSError, ValueError) as exc:
        _tell(conn, f"{exc}")
        return 2
    except Exception as exc:  # PortAudioError and friends: one line to the parent
        _tell(conn, f"{type(exc).__name__}: {exc}")
        return 2
    while True:
        try:
            if conn.poll(0.05) and conn.recv()[0] == "stop":
                break
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone
        if not stream.active:
            status[STATE] = DEAD  # the device went away: the parent starts a new process
            os._exit(3)
    stream.stop()
    stream.close()
    status[STATE] = STOPPED
    return 0


def _tell(conn: Connection, text: str) -> None:
    try:
        conn.send(("error", " ".join(text.split())))
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
