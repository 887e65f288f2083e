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
``status``, float64 figures (slots below), then ``stamps``, float64
``[STAMPS, 4]``, then ``ring``, float32 ``[frames, channels]``: input frame
``f`` (counted from this input's first) sits at row ``f % frames``.

Time: like the output's player, each block gives an upper bound on the
monotonic time at which input frame 0 reached the callback (a callback can
run late, never early); the smallest bound of the last one to two seconds
is ``EPOCH``, so frame ``f`` reached vamen at ``EPOCH + f / rate``. That
holds while no input is lost. When some is (JACK skips a client's cycles on
a loaded machine, 100 ms at once here; an interface overruns), later frames
reached vamen later than that by what was lost, so each callback also
leaves a stamp, block ``k`` at row ``k % STAMPS``: its first frame, its
frame count, its bound, and 1 where input was lost just before it (an
overflow, or the first block of a new process), else 0. Between two such
marks the frames run on one clock, and the parent places each stretch on
its own (:meth:`vamen.server.audio.inputproc.ProcessInput.span`), so a bar
of input is cut on the output's bar line even when some of it was lost.

Messages: child -> parent ``("device", rate, name, label, channels)``,
then ``("ready", latency, reported)`` (the latency used, and the one
PortAudio reported) or ``("error", text)``; parent -> child ``("attach",
layout)``, ``("stop",)``.

A JACK input names a JACK client (PortAudio's JACK host API offers each
client with audio ports as a device); when that client's ports go away,
the stream runs on unconnected and PortAudio says nothing, so the child
looks for them twice a second and leaves (status 3, as for a device gone)
when they are not there: the parent retries until the client is back.
"""
from __future__ import annotations

import argparse
import gc
import math
import mmap
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from .cpus import keep_to
from .recorder import write_wrapped

# status slots (float64 each)
WRITE, EPOCH, HEARTBEAT, STATE, BLOCKS, OVERFLOWS, CALLBACK_MAX, SLOW, STARTED, SLOW_CPU = range(10)
STATUS_SLOTS = 10
RUNNING, STOPPED, DEAD = 1.0, 2.0, 3.0
STARTUP_SECONDS = 1.0
CLOCK_WINDOW = 1.0
SLOW_SHARE = 0.5
MAX_CHANNELS = 2  # a stereo pair at most: a drum kit's overheads, a deck's left and right
MAX_LATENCY = 2.0  # seconds: a reported input latency above this is not one (taken as 0)
WATCH_SECONDS = 0.5  # how often a JACK input's client is looked for
STAMP_FRAME, STAMP_FRAMES, STAMP_BOUND, STAMP_LOST = range(4)


@dataclass(frozen=True)
class InputLayout:
    """The status slots, the blocks' stamps and the ring of input frames in the shared file."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def stamps(self) -> int:
        """Stamps kept: a whole ring's worth of blocks down to 32 frames each."""
        return max(1024, self.frames // 32)

    @property
    def size(self) -> int:
        return 8 * STATUS_SLOTS + 8 * 4 * self.stamps + 4 * self.frames * self.channels

    def views(self, buffer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(status, stamps, ring)`` arrays over ``buffer``."""
        status = np.frombuffer(buffer, np.float64, STATUS_SLOTS, 0)
        stamps = np.frombuffer(buffer, np.float64, 4 * self.stamps, 8 * STATUS_SLOTS)
        ring = np.frombuffer(buffer, np.float32, self.frames * self.channels,
                             8 * STATUS_SLOTS + 8 * 4 * self.stamps)
        return status, stamps.reshape(self.stamps, 4), ring.reshape(self.frames, self.channels)


class InputCallback:
    """Copy each block into the ring; keep the frame count, the clock, the stamps and the figures.

    ``clock`` is ``time.monotonic``; a test may hand it another.
    """

    def __init__(self, status: np.ndarray, stamps: np.ndarray, ring: np.ndarray, sample_rate: int,
                 clock=time.monotonic):
        self.status = status
        self.stamps = stamps
        self.ring = ring
        self.rate = float(sample_rate)
        self.clock = clock
        self.write = int(status[WRITE])
        self._fresh = True  # this process's first block: a new stretch of the clock
        self._window_start = -np.inf
        self._this_min = self._last_min = np.inf

    def __call__(self, indata, frames, time_info, status) -> None:
        started = time.perf_counter()
        cpu = time.thread_time()
        now = self.clock()
        st = self.status
        lost = self._fresh
        self._fresh = False
        if status.input_overflow:
            st[OVERFLOWS] += 1
            lost = True
        if lost:
            # Input was lost just before this block (JACK skipped this client's cycles, or the
            # device overran): the old bounds no longer hold, so the estimate starts again
            # here, as the output's does on an underrun.
            self._this_min = self._last_min = np.inf
        bound = now - self.write / self.rate
        if now - self._window_start > CLOCK_WINDOW:
            self._window_start = now
            self._last_min, self._this_min = self._this_min, bound
        elif bound < self._this_min:
            self._this_min = bound
        row = int(st[BLOCKS]) % len(self.stamps)
        stamps = self.stamps
        stamps[row, STAMP_FRAME] = self.write
        stamps[row, STAMP_FRAMES] = frames
        stamps[row, STAMP_BOUND] = bound
        stamps[row, STAMP_LOST] = 1.0 if lost else 0.0
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
            if time.thread_time() - cpu > SLOW_SHARE * frames / self.rate:  # busy, not preempted
                st[SLOW_CPU] += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vamen-input")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--shm", type=int, required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--rate", type=int, default=0)
    ap.add_argument("--blocksize", type=int, default=256)
    ap.add_argument("--jack-name", default="vamen-in")
    ap.add_argument("--cpus", default=None, help="CPUs to run on (--audio-cpus)")
    args = ap.parse_args(argv)
    conn = Connection(args.fd)
    keep_to(args.cpus)  # first: the threads PortAudio and libjack start take its CPUs
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
        status, stamps, ring = layout.views(shared)
        callback = InputCallback(status, stamps, ring, layout.sample_rate)
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
        watch = _watch(label, str(info["name"]))
        reported = float(stream.latency)
        # PortAudio reports 2**32 - 1 frames (89478 s at 48 kHz) for a JACK client's ports,
        # which carry no latency of their own: such a figure would put every cut a day late.
        latency = reported if math.isfinite(reported) and 0.0 <= reported <= MAX_LATENCY else 0.0
        conn.send(("ready", latency, reported))
    except (DeviceError, EOFError, OSError, ValueError) as exc:
        _tell(conn, f"{exc}")
        return 2
    except Exception as exc:  # PortAudioError and friends: one line to the parent
        _tell(conn, f"{type(exc).__name__}: {exc}")
        return 2
    looked = time.monotonic()
    while True:
        try:
            if conn.poll(0.05) and conn.recv()[0] == "stop":
                break
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone
        gone = not stream.active
        if not gone and watch is not None and time.monotonic() - looked > WATCH_SECONDS:
            looked = time.monotonic()
            gone = not watch.present()  # the JACK client it listens to quit
        if gone:
            status[STATE] = DEAD  # the device went away: the parent starts a new process
            os._exit(3)
    if watch is not None:
        watch.close()
    stream.stop()
    stream.close()
    status[STATE] = STOPPED
    return 0


def _watch(label: str, client: str):
    """A :class:`~.devices.JackClientWatch` on a JACK input's client; None for other inputs or
    where it cannot open (the input is then only lost with its stream)."""
    if not label.startswith("JACK"):
        return None
    from .devices import JackClientWatch

    try:
        return JackClientWatch(client)
    except (OSError, AttributeError):
        return None


def _tell(conn: Connection, text: str) -> None:
    try:
        conn.send(("error", " ".join(text.split())))
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
