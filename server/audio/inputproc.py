"""Sound card input through a child process that does nothing but copy.

:class:`ProcessInput` is the parent's side of :mod:`vamen.server.audio.inputchild`:
it starts the child on the input ``vamen serve --input NAME`` names, maps
the ring of input frames from shared memory, and replaces a child whose
device went away: said once in the log and in ``/vamen/state``'s
``last_error``, retried until the device is back, while the output (a
process of its own) plays on.

The parent reads the ring without asking: :meth:`ProcessInput.written` is
the count of frames the child has written, :meth:`ProcessInput.read` copies
frames out by count (None when they are gone or not there yet), and
:meth:`ProcessInput.span` copies out what reached vamen over a stretch of
monotonic time, each run of frames placed by its own clock (see
:mod:`~vamen.server.audio.inputchild`), with silence where input was lost.
"""
from __future__ import annotations

import logging
import mmap
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection

import numpy as np

from . import inputchild as ic
from .devices import DeviceError
from .jackports import KeptConnections, is_jack

log = logging.getLogger("vamen")

START_TIMEOUT = 15.0
STALL_SECONDS = 1.0
RETRY_SECONDS = (0.25, 0.5, 1.0)
RING_SECONDS = 16.0  # a bar at the slowest tempo (12 s at 20 BPM), the latency, and room to read
#: A stretch's clock is estimated from its blocks this many seconds either side of a span.
HINDSIGHT = 2.0


class ProcessInput:
    """Listens through a child process that owns the PortAudio input stream.

    Parameters
    ----------
    device : str
        As ``--input``: a name substring or index from ``vamen devices``.
    sample_rate : int
        The output's rate: input frames and output samples count alike.
    blocksize : int
    jack_name : str
        The JACK client's name: its ports read ``vamen-in:in_0``, ``in_1``.
    """

    def __init__(self, device: str, sample_rate: int, blocksize: int = 256, jack_name: str = "vamen-in",
                 cpus: str | None = None):
        self.device = device
        self.cpus = cpus  # --audio-cpus: the CPUs the child pins itself to
        self.sample_rate = int(sample_rate)
        self.blocksize = blocksize
        self.jack_name = jack_name
        self.device_name = ""
        self.device_label = ""
        self.latency = 0.0
        self.restarts = 0
        self.down_seconds = 0.0
        self.error = ""
        self.layout: ic.InputLayout | None = None
        self.status = self.stamps = self.ring = None
        self._shm_file = tempfile.TemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        self._shared = None
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._up = False
        self._noted_latency = False
        self.kept: KeptConnections | None = None  # its JACK connections, for a replaced child

    # -- starting ---------------------------------------------------------------
    def start(self) -> "ProcessInput":
        """Find and open the input; :class:`DeviceError` (naming the inputs there are) when it cannot."""
        channels = self._spawn(self.device)
        self.map(channels)
        self.latency = self._attach()
        self._up = True
        if is_jack(self.device_label):
            self.kept = KeptConnections(self.jack_name, lambda: self._up and self._healthy()).start()
        self._thread = threading.Thread(target=self._watch, name="vamen-input-watch", daemon=True)
        self._thread.start()
        return self

    def map(self, channels: int) -> None:
        """Make and map the shared memory for ``channels`` (the child's callback fills it)."""
        self.layout = ic.InputLayout(self.sample_rate, channels, int(RING_SECONDS * self.sample_rate))
        os.ftruncate(self._shm_file.fileno(), self.layout.size)
        self._shared = mmap.mmap(self._shm_file.fileno(), self.layout.size)
        self.status, self.stamps, self.ring = self.layout.views(self._shared)

    def _spawn(self, device: str) -> int:
        parent, child = socket.socketpair()
        shm = self._shm_file.fileno()
        cmd = [sys.executable, "-m", "vamen.server.audio.inputchild", "--fd", str(child.fileno()),
               "--shm", str(shm), "--device", str(device), "--rate", str(self.sample_rate),
               "--blocksize", str(self.blocksize), "--jack-name", self.jack_name]
        if self.cpus:
            cmd += ["--cpus", str(self.cpus)]
        try:
            self._proc = subprocess.Popen(cmd, pass_fds=(child.fileno(), shm), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            child.close()
        self._conn = Connection(parent.detach())
        reply = self._expect("device")
        if int(reply[1]) != self.sample_rate:
            self._kill()
            raise DeviceError(f"the input {reply[3]} runs at {reply[1]} Hz, the output at "
                              f"{self.sample_rate} Hz: choose an input and output on one clock")
        if self.layout is not None and int(reply[4]) != self.layout.channels:
            self._kill()
            raise DeviceError(f"the input came back with {reply[4]} channels, not {self.layout.channels}")
        self.device_name, self.device_label = str(reply[2]), str(reply[3])
        return int(reply[4])

    def _expect(self, kind: str) -> tuple:
        try:
            msg = self._conn.recv() if self._conn.poll(START_TIMEOUT) else None
        except (EOFError, OSError):
            msg = None
        if msg is None or msg[0] != kind:
            self._kill()
            if msg is not None and msg[0] == "error":
                raise DeviceError(msg[1])
            raise DeviceError("the audio input process did not start" if msg is None
                              else f"the audio input process said {msg!r}")
        return msg

    def _attach(self) -> float:
        self._conn.send(("attach", self.layout))
        ready = self._expect("ready")
        latency, reported = float(ready[1]), float(ready[2])
        if latency != reported and not self._noted_latency:
            self._noted_latency = True
            log.warning("PortAudio reported %.6g s of input latency for %s, more than any input has "
                        "(a JACK client's ports carry none of their own); taken as 0", reported, self.device_label)
        return latency

    # -- reading ----------------------------------------------------------------
    @property
    def written(self) -> int:
        """Input frames written so far (the ring holds the last ``layout.frames`` of them)."""
        return int(self.status[ic.WRITE])

    def arrived_until(self) -> float:
        """Monotonic time up to which input has reached vamen (the clock's latest estimate)."""
        return float(self.status[ic.EPOCH]) + self.written / self.sample_rate

    def read(self, start: int, frames: int) -> np.ndarray | None:
        """Frames ``start .. start + frames`` as float32 ``[frames, channels]``, copied.

        None when some are not written yet, already overwritten, or from
        before this input's current process started (a gap while it was away).
        """
        if start < self.status[ic.STARTED]:
            return None
        return self._copy(start, frames)

    def _copy(self, start: int, frames: int) -> np.ndarray | None:
        end = start + frames
        written = self.written
        size = len(self.ring)
        if start < 0 or end > written or written - start > size:
            return None
        out = self.ring[np.arange(start, end) % size].copy()
        return out if self.written - start <= size else None  # overwritten while copying

    def span(self, start: float, frames: int, held: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """What reached vamen from monotonic ``start`` on, ``frames`` frames long.

        Returns ``(audio, covered)``: float32 ``[frames, channels]``, and the
        share of it that holds input; ``held``, a boolean array of ``frames``
        when given, is set True where it does. Each stretch of frames between two
        losses is placed by its own clock (the smallest bound of its blocks
        and of every later one within :data:`HINDSIGHT` of the span), so
        what was played before a loss keeps its place in time as well as
        what came after; what was lost, or is gone from the ring, is silence.
        """
        out = np.zeros((frames, self.layout.channels), dtype=np.float32)
        if held is not None:
            held[:] = False
        covered = 0
        rows = self._stamps()
        if not len(rows):
            return out, 0.0
        first, count, bound, lost = rows.T
        rate = float(self.sample_rate)
        called = bound + first / rate  # when each callback ran (as late as it ran)
        near = (called >= start - HINDSIGHT) & (called <= start + frames / rate + HINDSIGHT)
        stretch = np.cumsum(lost)  # a loss starts a new stretch
        stretches = np.unique(stretch[near])
        # Input is lost, never found: a later stretch's frame 0 is due no earlier than this one's,
        # so every later bound bounds this stretch's clock too. The smallest of them all is
        # the estimate: a short stretch of late callbacks (an xrun on a loaded machine) is then
        # not placed late, leaving a hole that was never lost.
        smallest = np.array([bound[near & (stretch == which)].min() for which in stretches])
        epochs = np.minimum.accumulate(smallest[::-1])[::-1]
        follows = None  # (frame, place) where the stretch before ended
        for which, epoch in zip(stretches, epochs):
            rows_in = near & (stretch == which)
            a = int(first[rows_in][0])
            b = int(first[rows_in][-1] + count[rows_in][-1])
            at = int(round((epoch + a / rate - start) * rate))  # where frame a falls in the span
            if follows is not None and follows[0] == a and abs(at - follows[1]) < count[rows_in][0] / 2:
                at = follows[1]  # nothing was lost after all (JACK tells every client of an xrun)
            follows = (b, at + b - a)
            lo, hi = max(0, -at), min(b - a, frames - at)
            if hi <= lo:
                continue
            block = self._copy(a + lo, hi - lo)
            if block is None:
                continue
            out[at + lo:at + hi] = block
            if held is not None:
                held[at + lo:at + hi] = True
            covered += hi - lo
        return out, min(1.0, covered / frames)

    def _stamps(self) -> np.ndarray:
        """The blocks' stamps in the order they were written, oldest first (those still whole)."""
        blocks = int(self.status[ic.BLOCKS])
        size = len(self.stamps)
        keep = max(0, min(blocks, size - 64))  # leave the rows the child may be writing meanwhile
        rows = self.stamps[np.arange(blocks - keep, blocks) % size].copy()
        return rows[rows[:, ic.STAMP_FRAMES] > 0]

    @property
    def alive(self) -> bool:
        return self._up and self._healthy()

    def _healthy(self) -> bool:
        proc = self._proc
        return (proc is not None and proc.poll() is None and self.status[ic.STATE] == ic.RUNNING
                and time.monotonic() - self.status[ic.HEARTBEAT] < STALL_SECONDS)

    # -- watching -----------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            if not self._healthy() and not self._stop.is_set():
                self._recover()

    def _recover(self) -> None:
        """The input went away: say so once, then retry until a new child listens."""
        self._up = False
        if self.kept is not None:
            self.kept.pause()
        lost = time.monotonic()
        code = self._proc.poll() if self._proc is not None else None
        if code is None and self.status[ic.STATE] == ic.RUNNING:
            why = "the audio input process stopped advancing (hung, or its device stopped calling back)"
        elif code in (3, None):
            why = "the device went away"
        else:
            why = f"the audio input process ended ({code})"
        self.error = f"audio input lost: {why}"
        log.warning("audio input lost (%s); the output plays on, retrying until it is back", why)
        self._kill()
        attempt = 0
        while not self._stop.is_set():
            self.status[ic.STATE] = 0.0
            try:
                self._spawn(self.device_label or self.device)
                self.latency = self._attach()
            except DeviceError as exc:
                self._kill()
                self.error = f"audio input lost: {exc}"
                wait = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                attempt += 1
                if self._stop.wait(wait):
                    return
                continue
            patched = self.kept.restore() if self.kept is not None else ""
            self._up = True
            self.restarts += 1
            gone = time.monotonic() - lost
            self.down_seconds += gone
            self.error = ""
            log.warning("audio input back after %.1f s%s", gone, f"; {patched}" if patched else "")
            return

    def _kill(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    # -- stopping ---------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        if self.kept is not None:
            self.kept.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        conn = self._conn
        if conn is not None:
            try:
                conn.send(("stop",))
            except OSError:
                pass
            if self._proc is not None:
                try:
                    self._proc.wait(3)
                except subprocess.TimeoutExpired:
                    pass
        self._kill()
        self._shm_file.close()

    def health(self) -> dict:
        figures = {"input_restarts": self.restarts, "input_down_seconds": round(self.down_seconds, 1),
                   "input_connections": self.kept.describe() if self.kept is not None else ""}
        if self.status is not None:
            figures.update(input_overflows=int(self.status[ic.OVERFLOWS]),
                           input_slow_callbacks=int(self.status[ic.SLOW]),
                           input_slow_cpu_callbacks=int(self.status[ic.SLOW_CPU]),
                           input_latency_ms=round(1000.0 * self.latency, 2))
        return figures
