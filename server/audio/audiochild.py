"""The sound card's side of the audio process: ``python -m vamen.server.audio.audiochild``.

vamen plays through a child process that owns the PortAudio stream and
nothing else (see :mod:`vamen.server.audio.audioproc` for why). This module is
what runs in it: light imports only (numpy, sounddevice; never torch), a
:class:`~vamen.server.audio.player.Player` whose loop pool lives in memory shared
with the parent, the stream's callback, and a thread that takes the
parent's messages (new schedules, gain, transport) from a socket.

Shared memory, one file the parent creates and passes as a descriptor:

- ``status``: float64 figures the callback writes after every block (layout
  below), which the parent reads without asking; beside the callback's own
  time (``CALLBACK_MAX``, ``CALLBACK_SUM``, ``SLOW``; ``SLOW_CPU``: slow
  callbacks that were also slow in the thread's own CPU time), the main loop adds
  PortAudio's reading of the whole C-level callback (``stream.cpu_load``,
  summed in ``PA_LOAD_SUM`` over ``PA_LOAD_READS`` reads every 50 ms): the
  two apart are what the Python callback's own clock cannot see (cffi's way
  in, the wait for the GIL, PortAudio's buffer conversion);
- ``pool``: the loops, written by the parent's render worker;
- ``tap``: a ring of the blocks played, which the parent drains into its
  recorder.

Messages (pickled tuples over a ``multiprocessing.connection``):
child -> parent ``("device", rate, name)`` then ``("ready", latency)``, or
``("error", text)``; parent -> child ``("attach", layout)``,
``("schedule", version, cues)``, ``("gain", g)``, ``("playing", b)``,
``("stop",)``. The parent going away (the socket closing) ends the child:
an orphan never plays on.
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

from .cpus import keep_to
from .recorder import write_wrapped

# status slots (float64 each; integers are exact to 2**53)
POSITION, UNDERRUNS, STARVED, BLOCKS, SWITCHES, SWITCH_TIME, CURRENT, LEAVING, \
    ACKED, HEARTBEAT, EPOCH, STATE, TAP_WRITE, CALLBACK_MAX, SLOW, CLIPPED, BROKEN, AUDIBLE_AT, \
    CALLBACK_SUM, PA_LOAD_SUM, PA_LOAD_READS, SLOW_CPU = range(22)
STATUS_SLOTS = 22
RUNNING, STOPPED, DEAD = 1.0, 2.0, 3.0  # STATE values; 0 before the stream starts
TAP_SECONDS = 2.0
STARTUP_SECONDS = 1.0
REALTIME_PRIORITY = 40  # below JACK's client threads (the server's priority - 5)
SLOW_SHARE = 0.5  # a callback that takes more than this share of its block is slow
NICE = -10  # the audio process's niceness where allowed (bench soak --peer gives its peer the same)


@dataclass(frozen=True)
class Layout:
    """Where status, pool and tap ring sit in the shared file."""

    sample_rate: int
    channels: int
    slots: int
    max_loop: int
    tap_frames: int

    @classmethod
    def for_rate(cls, sample_rate: int, channels: int, slots: int, max_loop: int) -> "Layout":
        return cls(sample_rate, channels, slots, max_loop, int(TAP_SECONDS * sample_rate))

    @property
    def size(self) -> int:
        return 8 * STATUS_SLOTS + 4 * (self.slots * self.max_loop + self.tap_frames * self.channels)

    def views(self, buffer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(status, pool, tap)`` arrays over ``buffer``."""
        status = np.frombuffer(buffer, np.float64, STATUS_SLOTS, 0)
        offset = 8 * STATUS_SLOTS
        pool = np.frombuffer(buffer, np.float32, self.slots * self.max_loop, offset)
        offset += 4 * self.slots * self.max_loop
        tap = np.frombuffer(buffer, np.float32, self.tap_frames * self.channels, offset)
        return (status, pool.reshape(self.slots, self.max_loop),
                tap.reshape(self.tap_frames, self.channels))


class Callback:
    """The stream callback: play, then publish the figures and the block.

    Everything it touches exists before the stream starts; it copies and
    writes numbers, nothing else.
    """

    def __init__(self, player, status: np.ndarray, tap: np.ndarray):
        self.player = player
        self.status = status
        self.tap = tap
        self.tap_write = 0
        self.policy: int | None = None

    def __call__(self, outdata, frames, time_info, status) -> None:
        started = time.perf_counter()
        cpu = time.thread_time()
        if self.policy is None:  # once: is this thread real-time? (see _realtime_like)
            self.policy = os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else -1
        p, st = self.player, self.status
        p.fill(outdata, frames, late=bool(status.output_underflow))
        st[POSITION] = p.position
        st[UNDERRUNS] = p.underruns
        st[STARVED] = p.starved
        st[CLIPPED] = p.clipped
        st[BROKEN] = p.broken
        st[AUDIBLE_AT] = p.audible_at
        st[BLOCKS] = p.blocks
        st[SWITCHES] = p.switches
        st[SWITCH_TIME] = p.switch_time
        st[CURRENT] = -1 if p._current is None else p._current.slot
        st[LEAVING] = -1 if p._leaving is None else p._leaving.slot
        st[EPOCH] = p.epoch
        st[HEARTBEAT] = p.filled_at
        write_wrapped(self.tap, self.tap_write, outdata, frames)
        self.tap_write += frames
        st[TAP_WRITE] = self.tap_write
        # How long the callback itself took (wall clock, so a preemption in
        # the middle counts). An underrun with no slow callback was lost before
        # vamen was called (the thread woken late), not in vamen's code. The
        # figures live in shared memory only, so they outlive a restarted child.
        took = time.perf_counter() - started
        st[CALLBACK_SUM] += took
        if took > st[CALLBACK_MAX]:
            st[CALLBACK_MAX] = took
        if took > SLOW_SHARE * frames / p.sample_rate:
            st[SLOW] += 1
            # and in CPU time? A callback slow by the wall clock only was off the CPU
            # (preempted, its virtual CPU taken by the host, or waiting for the GIL),
            # not busy in vamen's code
            if time.thread_time() - cpu > SLOW_SHARE * frames / p.sample_rate:
                st[SLOW_CPU] += 1


def _apply(msg: tuple, player, status: np.ndarray) -> bool:
    """One message from the parent; False when it says stop."""
    from .player import Cue

    kind = msg[0]
    if kind == "schedule":
        player.publish(tuple(Cue(*c) for c in msg[2]))
        status[ACKED] = msg[1]
    elif kind == "gain":
        player.gain = float(msg[1])
    elif kind == "playing":
        player.playing = bool(msg[1])
    elif kind == "stop":
        return False
    return True


def _nice() -> None:
    """Ahead of the renderer's threads for the CPU, where allowed."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
    except OSError:
        pass


def _lock(shared: mmap.mmap) -> bool:
    """Keep the loops, figures and tap ring in RAM (``mlock``), faulted in now.

    The callback reads a loop the moment it is due; a page swapped out, or
    mapped into this process for the first time, makes it wait. Only this
    region is locked: ``mlockall`` would also pin the interpreter's reserved
    heaps (hundreds of MB here). Without the right to lock this is a no-op.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        address = ctypes.addressof(ctypes.c_char.from_buffer(shared))
        return libc.mlock(ctypes.c_void_p(address), ctypes.c_size_t(len(shared))) == 0
    except (OSError, AttributeError, TypeError, ValueError):
        return False


def _realtime_like(policy: int | None) -> bool:
    """Make the calling thread SCHED_FIFO when the callback's thread is real-time.

    JACK (running real-time) makes the callback's thread real-time; the
    thread that takes the parent's messages shares its GIL, and a time-shared
    thread preempted while holding it makes the callback wait for it: an
    underrun. Below the callback's priority it only ever runs for
    microseconds. Where the callback is not real-time (JACK started with
    ``--no-realtime``) this thread stays time-shared too: a real-time
    thread beside a time-shared callback made recorded audio lose blocks.
    """
    if policy not in (getattr(os, "SCHED_FIFO", -1), getattr(os, "SCHED_RR", -1)):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
        return True
    except (AttributeError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vamen-audio")
    ap.add_argument("--fd", type=int, required=True, help="the socket to the parent")
    ap.add_argument("--shm", type=int, required=True, help="the shared memory file")
    ap.add_argument("--device", default=None)
    ap.add_argument("--rate", type=int, default=0, help="required sample rate (0: the device's)")
    ap.add_argument("--blocksize", type=int, default=256)
    ap.add_argument("--jack-name", default="vamen")
    ap.add_argument("--cpus", default=None, help="CPUs to run on (--audio-cpus)")
    args = ap.parse_args(argv)
    conn = Connection(args.fd)
    keep_to(args.cpus)  # first: the threads PortAudio and libjack start take its CPUs
    sys.setswitchinterval(0.0005)  # the callback never waits long for the GIL
    _nice()
    from .devices import DeviceError, find_output, rescan_audio, set_jack_client_name

    try:
        if set_jack_client_name(args.jack_name):
            rescan_audio()
        index, rate = find_output(args.device)
        rate = int(args.rate or rate)
        import sounddevice as sd

        info = sd.query_devices(index, "output") if index is not None else sd.query_devices(kind="output")
        label = f'{sd.query_hostapis(info["hostapi"])["name"]}: {info["name"]}'
        conn.send(("device", rate, str(info["name"]), label))
        attach = conn.recv()
        layout: Layout = attach[1]
        shared = mmap.mmap(args.shm, layout.size)
        status, pool, tap = layout.views(shared)
        from .player import Cue, Player

        player = Player(layout.sample_rate, layout.max_loop, channels=layout.channels,
                        fade=attach[2], pool=pool)
        player.position = int(attach[3])
        (player.underruns, player.starved, player.blocks, player.switches, player.clipped,
         player.broken) = attach[8]
        player.audible_at = player.position
        player.gain, player.playing = float(attach[4]), bool(attach[5])
        player.publish(tuple(Cue(*c) for c in attach[7]))
        status[ACKED] = attach[6]
        callback = Callback(player, status, tap)
        callback.tap_write = int(status[TAP_WRITE])
        stream = sd.OutputStream(samplerate=rate, blocksize=args.blocksize, device=index,
                                 channels=layout.channels, dtype="float32", latency="low",
                                 callback=callback)
        # figures the parent reads before the first block: where we are, and a
        # heartbeat that gives the device a second to start calling back
        now = time.monotonic()
        status[POSITION] = player.position
        status[EPOCH] = now - player.position / layout.sample_rate
        status[HEARTBEAT] = now + STARTUP_SECONDS
        # The callback allocates a few small objects per block (sounddevice's
        # wrappers); a collection it triggers would walk everything. What is
        # here now is frozen, and nothing the child makes later forms cycles.
        gc.collect()
        gc.freeze()
        gc.disable()
        _lock(shared)
        stream.start()
        status[STATE] = RUNNING
        conn.send(("ready", float(stream.latency)))
    except (DeviceError, EOFError, OSError, ValueError) as exc:
        _tell(conn, f"{exc}")
        return 2
    except Exception as exc:  # PortAudioError and friends: one line to the parent
        _tell(conn, f"{type(exc).__name__}: {exc}")
        return 2
    realtime = None
    while True:
        if realtime is None and callback.policy is not None:
            realtime = _realtime_like(callback.policy)
        status[PA_LOAD_SUM] += stream.cpu_load
        status[PA_LOAD_READS] += 1
        try:
            if conn.poll(0.05) and not _apply(conn.recv(), player, status):
                break
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone: stop playing at once
        if not stream.active:
            # The device vanished (JACK died, USB pulled). PortAudio cannot be
            # stopped or re-opened in this process now; the parent starts a new one.
            status[STATE] = DEAD
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
