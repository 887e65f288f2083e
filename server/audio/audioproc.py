"""Sound card output through a child process that does nothing but play.

Why a second process:

- **The GIL.** The callback is Python and needs the interpreter lock every
  block (5 ms at 256 frames). In the server's own process it competes with
  the control thread parsing an OSC flood, the worker's numpy and the
  garbage collector; any of them holding the lock a few milliseconds too
  long is an underrun. In a process of its own the callback's only company
  is one thread that waits on a socket.
- **Self-healing.** After a JACK server dies under an open PortAudio stream,
  that process can never use PortAudio again (stopping the stream blocks for
  minutes, terminating aborts the process). A child can simply be killed
  and a new one started when the device comes back, while the server keeps
  its state, keeps rendering and keeps time.

The loops live in shared memory (:mod:`vamen.server.audio.audiochild` has the
layout), so the render worker writes them where the callback reads them;
only schedules, gain and transport travel over a socket. The child plays
its current loop for as long as no new one arrives, so a late render is
covered by a repeat, never by silence.

:class:`SharedPlayer` is the parent's side of that player, with the
interface the worker, the engine and the sinks already use
(:class:`~vamen.server.audio.player.Player`'s). :class:`ProcessOutput` starts the
child, watches it, and replaces it when the device goes away.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection

from . import audiochild as ac
from .devices import DeviceError
from .jackports import KeptConnections, is_jack

log = logging.getLogger("vamen")

START_TIMEOUT = 15.0  # seconds for a child to find and open its device
STALL_SECONDS = 1.0  # no block for this long: the stream is gone
RETRY_SECONDS = (0.25, 0.5, 1.0)  # backoff between attempts to re-open (then 1 s)


class SharedPlayer:
    """The parent's handle on the player in the audio process.

    Reads the child's figures from shared memory; sends schedules, gain and
    transport over the socket. While the device is down, the position runs
    on with the wall clock, so musical time (and everything that follows
    it) goes on as if the audio were playing.
    """

    def __init__(self, output: "ProcessOutput", layout: ac.Layout, fade: int):
        self._out = output
        self.layout = layout
        self.sample_rate = layout.sample_rate
        self.channels = layout.channels
        self.fade = fade
        self.status, self.pool, self.tap = layout.views(output.shared)
        self.taps: list = []
        self.schedule: tuple = ()
        self.version = 0
        self._sent: dict[int, set[int]] = {}  # schedule version -> its slots
        self._gain, self._playing = 1.0, True
        self._down_at: tuple[float, float] | None = (0.0, time.monotonic())  # (sample, when)
        self.lock = threading.Lock()

    # -- the worker's side ---------------------------------------------------
    def publish(self, schedule: tuple) -> None:
        with self.lock:
            self.version += 1
            self.schedule = schedule
            self._sent[self.version] = {c.slot for c in schedule}
            msg = ("schedule", self.version, [(c.slot, c.start, c.bar, c.length, c.fade) for c in schedule])
        self._out.send(msg)

    def in_use(self) -> set[int]:
        """Slots the child may still read: every schedule it has not yet
        replaced, and the loops playing and fading out now."""
        acked = int(self.status[ac.ACKED])
        with self.lock:
            for version in [v for v in self._sent if v < acked]:
                del self._sent[version]
            used = set().union(*self._sent.values()) if self._sent else set()
            used |= {c.slot for c in self.schedule}
        for key in (ac.CURRENT, ac.LEAVING):
            slot = int(self.status[key])
            if slot >= 0:
                used.add(slot)
        return used

    # -- figures ---------------------------------------------------------------
    @property
    def position(self) -> int:
        down = self._down_at
        if down is not None:
            return int(down[0] + (time.monotonic() - down[1]) * self.sample_rate)
        return int(self.status[ac.POSITION])

    def sample_at(self, monotonic: float) -> float:
        down = self._down_at
        if down is not None:
            return down[0] + (monotonic - down[1]) * self.sample_rate
        return (monotonic - float(self.status[ac.EPOCH])) * self.sample_rate

    underruns = property(lambda self: int(self.status[ac.UNDERRUNS]))
    starved = property(lambda self: int(self.status[ac.STARVED]))
    clipped = property(lambda self: int(self.status[ac.CLIPPED]))
    broken = property(lambda self: int(self.status[ac.BROKEN]))
    audible_at = property(lambda self: int(self.status[ac.AUDIBLE_AT]))
    blocks = property(lambda self: int(self.status[ac.BLOCKS]))
    switches = property(lambda self: int(self.status[ac.SWITCHES]))
    switch_time = property(lambda self: float(self.status[ac.SWITCH_TIME]))
    slow_callbacks = property(lambda self: int(self.status[ac.SLOW]),
                              doc="Callbacks that took over half their block (see audiochild).")
    callback_max_ms = property(lambda self: 1000.0 * float(self.status[ac.CALLBACK_MAX]),
                               doc="The longest callback since the server started.")
    slow_cpu_callbacks = property(lambda self: int(self.status[ac.SLOW_CPU]),
                                  doc="Slow callbacks that were also slow in their thread's CPU time.")
    callback_seconds = property(lambda self: float(self.status[ac.CALLBACK_SUM]),
                                doc="All callbacks' own time, summed (with ``blocks``: the mean).")
    portaudio_load = property(lambda self: (float(self.status[ac.PA_LOAD_SUM]),
                                            int(self.status[ac.PA_LOAD_READS])),
                              doc="PortAudio's ``cpu_load`` readings, summed, and how many: "
                                  "the whole C-level callback's share of its period.")

    @property
    def gain(self) -> float:
        return self._gain

    @gain.setter
    def gain(self, value: float) -> None:
        self._gain = float(value)
        self._out.send(("gain", self._gain))

    @property
    def playing(self) -> bool:
        return self._playing

    @playing.setter
    def playing(self, value: bool) -> None:
        self._playing = bool(value)
        self._out.send(("playing", self._playing))

    # -- the child's start -------------------------------------------------------
    def attach_message(self) -> tuple:
        """What a new child needs to carry on: the layout, where we are, what to play."""
        with self.lock:
            cues = [(c.slot, c.start, c.bar, c.length, c.fade) for c in self.schedule]
            version = self.version
        st = self.status
        counts = tuple(int(st[k]) for k in (ac.UNDERRUNS, ac.STARVED, ac.BLOCKS, ac.SWITCHES, ac.CLIPPED,
                                            ac.BROKEN))
        return ("attach", self.layout, self.fade, self.position, self._gain, self._playing,
                version, cues, counts)

    def went_down(self) -> None:
        self._down_at = (float(self.position), time.monotonic())

    def came_up(self) -> None:
        self._down_at = None


class ProcessOutput:
    """Plays through a child process that owns the PortAudio stream.

    ``probe()`` starts the child and learns the device's rate (raising
    :class:`DeviceError` as :class:`SoundcardOutput` would); ``player()``
    builds the shared memory for that rate; ``start()`` begins playing.
    From then on a watcher replaces a child whose stream died.

    Parameters
    ----------
    device : str or None
        As ``--device``: a name substring or index; None is the default.
    blocksize : int
    jack_name : str
        The JACK client's name (JACK numbers a second one).
    """

    def __init__(self, device: str | None = None, blocksize: int = 256, jack_name: str = "vamen",
                 cpus: str | None = None):
        self.device = device
        self.cpus = cpus  # --audio-cpus: the CPUs each child pins itself to
        self.blocksize = blocksize
        self.jack_name = jack_name
        self.sample_rate = 0
        self.device_name = ""
        self.device_label = ""
        self.latency = 0.0
        self.restarts = 0  # children started after the first
        self.down_seconds = 0.0  # time without a device, in all
        self.error = ""
        self.shared = None
        self._shm_file = tempfile.TemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._send_lock = threading.Lock()
        self._attached = False
        self._player: SharedPlayer | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._up = False
        self.alerts = None  # an Alerter (vamen.server.ops.alerts), told of losses and returns
        self._replacing = ""  # why replace() killed the child
        self.kept: KeptConnections | None = None  # its JACK connections, for a replaced child

    # -- starting ---------------------------------------------------------------
    def probe(self, rate: int = 0) -> tuple[int, str]:
        """Start a child, let it find the device: ``(sample rate, device name)``.

        ``rate`` 0 takes the device's own rate."""
        self.sample_rate, self.device_name = self._spawn(self.device, rate)
        return self.sample_rate, self.device_name

    def player(self, max_loop: int, slots: int = 32, channels: int = 2, fade: int = 256) -> SharedPlayer:
        import mmap

        layout = ac.Layout.for_rate(self.sample_rate, channels, slots, max_loop)
        os.ftruncate(self._shm_file.fileno(), layout.size)
        self.shared = mmap.mmap(self._shm_file.fileno(), layout.size)
        self._player = SharedPlayer(self, layout, fade)
        return self._player

    def start(self) -> "ProcessOutput":
        self.latency = self._attach()
        self._up = True
        self._player.came_up()
        if is_jack(self.device_label):
            self.kept = KeptConnections(self.jack_name, lambda: self._up and self._healthy()).start()
        for target, name in ((self._watch, "vamen-audio-watch"), (self._pump, "vamen-audio-tap")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _spawn(self, device: str | None, rate: int) -> tuple[int, str]:
        parent, child = socket.socketpair()
        shm = self._shm_file.fileno()
        cmd = [sys.executable, "-m", "vamen.server.audio.audiochild", "--fd", str(child.fileno()),
               "--shm", str(shm), "--rate", str(rate), "--blocksize", str(self.blocksize),
               "--jack-name", self.jack_name]
        if device is not None:
            cmd += ["--device", str(device)]
        if self.cpus:
            cmd += ["--cpus", str(self.cpus)]
        try:
            # libjack and ALSA talk on stderr while they probe and retry; the
            # child reports what matters over the socket instead.
            self._proc = subprocess.Popen(cmd, pass_fds=(child.fileno(), shm), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            child.close()
        conn = Connection(parent.detach())
        with self._send_lock:
            self._conn, self._attached = conn, False
        reply = self._expect("device")
        self.device_label = str(reply[3])  # what re-opens this very device later
        return int(reply[1]), str(reply[2])

    def _expect(self, kind: str) -> tuple:
        conn = self._conn
        try:
            ready = conn.poll(START_TIMEOUT)
            msg = conn.recv() if ready else None
        except (EOFError, OSError):
            msg = None
        if msg is None or msg[0] != kind:
            self._kill()
            if msg is not None and msg[0] == "error":
                raise DeviceError(msg[1])
            raise DeviceError("the audio process did not start" if msg is None
                              else f"the audio process said {msg!r}")
        return msg

    def _attach(self) -> float:
        # Under the lock, so no schedule slips between the attach message (which
        # carries the latest one) and the messages that follow it.
        with self._send_lock:
            self._conn.send(self._player.attach_message())
            self._attached = True
        return float(self._expect("ready")[1])

    # -- messages ---------------------------------------------------------------
    def send(self, msg: tuple) -> None:
        """To the child, once attached (the attach message carries everything
        before it); a dead one is the watcher's business."""
        with self._send_lock:
            conn = self._conn
            if conn is None or not self._attached:
                return
            try:
                conn.send(msg)
            except (OSError, ValueError):
                pass

    # -- watching -----------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The audio process now playing, or None between restarts."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def alive(self) -> bool:
        return self._up and self._healthy()

    def _healthy(self) -> bool:
        proc, status = self._proc, self._player.status
        return (proc is not None and proc.poll() is None and status[ac.STATE] == ac.RUNNING
                and time.monotonic() - status[ac.HEARTBEAT] < STALL_SECONDS)

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            if self._healthy():
                continue
            if self._stop.is_set():
                return
            self._recover()

    def replace(self, why: str) -> None:
        """Kill the audio process so the watcher starts a new one (dead air that re-rendering did not cure)."""
        self._replacing = why
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def _recover(self) -> None:
        """The stream died: say so once, then retry until a new child plays."""
        player = self._player
        player.went_down()
        self._up = False
        if self.kept is not None:
            self.kept.pause()
        lost = time.monotonic()
        code = self._proc.poll() if self._proc is not None else None
        device = False
        if self._replacing:
            why, self._replacing = self._replacing, ""
        elif code is None and player.status[ac.STATE] == ac.RUNNING:
            why = "the audio process stopped advancing (hung)"
        elif code in (3, None):
            why, device = "the device went away", True
        else:
            why = f"the audio process ended ({code})"
        self.error = f"audio output lost: {why}"
        log.warning("audio output lost (%s); still rendering, retrying until it is back", why)
        if self.alerts is not None:
            self.alerts.raise_("device-lost" if device else "audio-replaced",
                               f"audio output lost: {why}; retrying" if device
                               else f"{why}: starting a new audio process")
        self._kill()
        attempt = 0
        while not self._stop.is_set():
            player.status[ac.STATE] = 0.0
            try:
                rate, _ = self._spawn(self.device_label or self.device, self.sample_rate)
                if rate != self.sample_rate:
                    raise DeviceError(f"the device came back at {rate} Hz, not {self.sample_rate}")
                self.latency = self._attach()
            except DeviceError as exc:
                self._kill()
                self.error = f"audio output lost: {exc}"
                wait = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                attempt += 1
                if self._stop.wait(wait):
                    return
                continue
            patched = self.kept.restore() if self.kept is not None else ""
            player.came_up()
            self._up = True
            self.restarts += 1
            gone = time.monotonic() - lost
            self.down_seconds += gone
            self.error = ""
            log.warning("audio output back after %.1f s%s", gone, f"; {patched}" if patched else "")
            if self.alerts is not None:
                self.alerts.raise_("device-back", f"audio output back after {gone:.1f} s")
            return

    def _kill(self) -> None:
        with self._send_lock:
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

    def _pump(self) -> None:
        """Hand what the child played to the taps (the file recorder)."""
        player = self._player
        tap = player.tap
        size = len(tap)
        read = int(player.status[ac.TAP_WRITE])
        while not self._stop.wait(0.02):
            write = int(player.status[ac.TAP_WRITE])
            if write - read > size:
                read = write - size  # fell behind by more than the ring: skip, never block
            while read < write:
                start = read % size
                n = min(write - read, size - start)
                block = tap[start:start + n]
                for sink in player.taps:
                    sink.push(block, n)
                read += n

    # -- stopping ---------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        if self.kept is not None:
            self.kept.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.send(("stop",))
        proc = self._proc
        if proc is not None:
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        if self.shared is not None:
            try:
                self.shared.close()
            except BufferError:  # numpy views still alive; the mapping goes with them
                pass
        self._shm_file.close()

    def health(self) -> dict:
        player = self._player
        return {"audio_restarts": self.restarts, "audio_down_seconds": round(self.down_seconds, 1),
                "output_connections": self.kept.describe() if self.kept is not None else "",
                **({"slow_callbacks": player.slow_callbacks, "slow_cpu_callbacks": player.slow_cpu_callbacks,
                    "callback_max_ms": round(player.callback_max_ms, 2)} if player is not None else {})}


def available() -> bool:
    """Whether to play through the audio process: on POSIX (it passes
    descriptors), unless ``VAMEN_AUDIO_PROCESS=0`` asks for the sound card
    in the server's own process."""
    return os.name == "posix" and os.environ.get("VAMEN_AUDIO_PROCESS", "1") != "0"

