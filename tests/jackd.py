"""A real sound card for tests: a JACK server with its dummy driver.

The ``jack_server`` fixture (``tests/conftest.py``) starts one
:class:`JackServer` per test session::

    jackd --no-realtime -n <unique name> -d dummy -r 48000 -p 256

with ``JACK_NO_AUDIO_RESERVATION=1``, and puts ``JACK_DEFAULT_SERVER=<name>``
(plus ``JACK_NO_AUDIO_RESERVATION=1`` and ``JACK_NO_START_SERVER=1``, so no
client ever autostarts a stray server) into ``os.environ``: every JACK client
of the test process and of the subprocesses it starts lands on that server.
Readiness is polled with ``jack_wait -c`` every 50 ms (about 0.2 s here).
The dummy driver paces itself by the wall clock: a second of audio takes a
second.

PortAudio and JACK (findings, Debian bookworm: jackd2 1.9.21, libportaudio2
19.6.0, sounddevice 0.5)
-------------------------------------------------------------------------
* PortAudio scans its host APIs once, in ``Pa_Initialize``, which
  ``import sounddevice`` runs. A server started later stays invisible until
  ``sd._terminate(); sd._initialize()`` (:func:`refresh_portaudio`; it
  terminates as often as sounddevice initialised). Then the JACK host API
  ``JACK Audio Connection Kit`` lists one device, ``system`` (2 in, 2 out,
  default rate 48000), the default input and output of that host API. Here
  ALSA and OSS list no devices, so it is device 0; pass ``device=jack.device``
  (the index found in this process) or ``device="JACK"`` (sounddevice
  matches substrings of ``"system, JACK Audio Connection Kit"``) to
  ``sounddevice.OutputStream``, with ``samplerate=48000``.
* PortAudio opens one JACK client per process at initialisation, named
  ``PortAudio`` (JACK appends ``-01``... on a clash) unless
  ``PaJack_SetClientName`` named it first; sounddevice does not wrap that
  call, :func:`vamen.server.audio.devices.set_jack_client_name` reaches it through
  ctypes. This process's client is :data:`TEST_CLIENT` (``vamen-tests``). A
  stream registers ``<client>:out_0``, ``out_1``... (inputs ``in_0``...) and
  PortAudio connects them to ``system:playback_1``, ``_2``... itself.
* Xruns: PortAudio's JACK host API turns JACK's xrun callback into the status
  of the next callback: ``output_underflow`` and ``input_overflow`` together
  ("input overflow, output underflow"), once per xrun. A callback that
  overruns its 5.3 ms block (a 50 ms sleep) produces one.
* When the JACK server dies (SIGTERM or SIGKILL) under an open stream, within
  0.1 s: the callback is never called again, ``stream.active`` turns False
  while ``stream.stopped`` stays False, no ``finished_callback`` runs and no
  exception is raised; after a SIGKILL one last callback may carry the xrun
  status. ``stream.cpu_load`` freezes. From then on PortAudio cannot be used
  in that process: ``stream.stop()``, ``stream.abort()`` and
  ``stream.close()`` block in pa_jack.c's ``WaitCondition`` for ten minutes;
  ``Pa_Terminate`` (sounddevice's atexit handler, :func:`refresh_portaudio`)
  then fails ``assert(err == 0)`` after ``jack_client_close`` and aborts the
  process (SIGABRT), even with every stream closed before the server died.
  Opening a new stream after the server is back fails with
  ``PortAudioError('Error opening OutputStream: Insufficient memory', -9992)``
  (the dead client cannot register ports); re-initialising only bumps
  PortAudio's reference count, so the dead client stays. To recover, a
  process must leave the dead stream alone, set ``sounddevice._initialized =
  0`` (or leave through ``os._exit``) so nothing calls ``Pa_Terminate``, and
  play from a fresh process once ``jack_wait -c`` says the server runs again.
  (Should jackd die on its own under the pytest process, the harness does
  the same: the server restarts, ``JackServer.device`` stays None.)
  Detect the death by ``stream.active`` turning False while
  ``stream.stopped`` is False (or by a callback heartbeat that stops).
  :data:`PLAYER_SCRIPT` does exactly this.
* Hence :meth:`JackServer.stop` first releases this process's PortAudio
  (``Pa_Terminate`` while the server still runs, then re-initialises without
  JACK) and :meth:`JackServer.start` refreshes it again; kill a JACK client
  under test by running it in a subprocess (:class:`SinePlayer`, or
  ``vamen serve``), never in the pytest process.

Recording
---------
:class:`Recording` / :func:`record` run ``jack_rec`` (ships with Debian's
jackd2, like ``jack_lsp``, ``jack_connect`` and ``jack_wait``): it opens its
own JACK client, connects its inputs to the player's output ports, writes
24-bit WAV and exits; the WAV comes back as float32 ``[frames, channels]``.
``jack_rec`` reads its duration with ``atoi`` (``-d 0.5`` records one
frame), so it records whole seconds and the take is cut to
``round(seconds * sample_rate)`` frames: 0.5 s of audio costs 1 s. The first ~100 frames are silent while it
connects. ``connect_to`` is a client name (all its audio outputs, waited for
up to 5 s) or one full port name.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

TOOLS = ("jackd", "jack_wait", "jack_lsp", "jack_connect", "jack_disconnect", "jack_rec",
         "jack_metro")  # jack_metro: the peer of vamen bench soak --peer
TEST_CLIENT = "vamen-tests"
JACK_HOSTAPI = "JACK Audio Connection Kit"
SHM_DIR = Path("/dev/shm")


class JackError(RuntimeError):
    """The JACK server or one of its tools did not do what the test needs."""


def missing_tools() -> list[str]:
    """The JACK programs the harness needs that are not on PATH."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


# --- PortAudio in this process --------------------------------------------------------------

def _sounddevice():
    try:
        import sounddevice
    except OSError:  # no PortAudio library: subprocess-based tests still work
        return None
    return sounddevice


def jack_device() -> int | None:
    """Index of PortAudio's JACK output device in this process, or None."""
    sd = _sounddevice()
    if sd is None:
        return None
    for hostapi in sd.query_hostapis():
        if "JACK" in hostapi["name"] and hostapi["default_output_device"] >= 0:
            return int(hostapi["default_output_device"])
    return None


_portaudio_lost = False  # a JACK server died under this process's PortAudio


def refresh_portaudio(client_name: str | None = TEST_CLIENT) -> int | None:
    """Re-scan PortAudio's host APIs (JACK started after ``import sounddevice``).

    Names this process's JACK client ``client_name`` first. Closes every
    stream of this process. Returns :func:`jack_device`, or None where
    PortAudio is missing or lost its JACK client to a server that died under
    it (it cannot get it back: see the module notes).
    """
    sd = _sounddevice()
    if sd is None or _portaudio_lost:
        return None
    if client_name:
        from vamen.server.audio.devices import set_jack_client_name

        set_jack_client_name(client_name)
    while sd._initialized:
        sd._terminate()
    sd._initialize()
    return jack_device()


def _release_portaudio() -> None:
    """Terminate this process's PortAudio (closing its JACK client) while JACK still runs."""
    sd = sys.modules.get("sounddevice")
    if sd is None:
        return
    while sd._initialized:
        sd._terminate()


def _abandon_portaudio() -> None:
    """The server died under this process's PortAudio JACK client: never Pa_Terminate now."""
    global _portaudio_lost
    sd = sys.modules.get("sounddevice")
    if sd is not None and sd._initialized and not _portaudio_lost and jack_device() is not None:
        sd._initialized = 0  # Pa_Terminate would abort the process; leak the dead client
        _portaudio_lost = True


def _restart_portaudio() -> None:
    sd = sys.modules.get("sounddevice")
    if sd is not None and not sd._initialized:
        sd._initialize()


# --- the server -----------------------------------------------------------------------------

class JackServer:
    """One ``jackd`` with the dummy driver, restartable under the same name.

    ``name``, ``sample_rate``, ``block``; ``device``: PortAudio's JACK device
    index in this process (None without PortAudio); ``client_name``: this
    process's PortAudio JACK client.
    """

    def __init__(self, name: str | None = None, sample_rate: int = 48000, block: int = 256,
                 client_name: str = TEST_CLIENT):
        self.name = name or f"vamen-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.sample_rate = sample_rate
        self.block = block
        self.client_name = client_name
        self.device: int | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"jackd-{self.name}.log"
        self._proc: subprocess.Popen | None = None
        self._saved_environ: dict[str, str | None] | None = None

    # environment --------------------------------------------------------------------------
    def env(self, base: dict | None = None) -> dict[str, str]:
        """An environment for a subprocess that should talk to this server."""
        env = dict(os.environ if base is None else base)
        env.update(JACK_DEFAULT_SERVER=self.name, JACK_NO_AUDIO_RESERVATION="1",
                   JACK_NO_START_SERVER="1")
        return env

    def _export(self) -> None:
        if self._saved_environ is None:
            self._saved_environ = {k: os.environ.get(k) for k in
                                   ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION",
                                    "JACK_NO_START_SERVER")}
        os.environ.update(self.env({}))

    def restore_environ(self) -> None:
        for key, value in (self._saved_environ or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environ = None

    # life cycle ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """The process lives and answers clients."""
        return self._proc is not None and self._proc.poll() is None and self._answers()

    def _answers(self) -> bool:
        done = subprocess.run(["jack_wait", "-c", "-s", self.name], capture_output=True,
                              text=True, env=self.env(), timeout=10)
        return done.stdout.strip() == "running"

    def start(self, timeout: float = 10.0) -> JackServer:
        """Start jackd, wait until it answers, point this process and its children at it."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        if self._proc is not None:  # it died on its own, under this process's PortAudio
            self.stop()
        self._export()
        log = open(self.log_path, "ab")
        try:
            self._proc = subprocess.Popen(
                ["jackd", "--no-realtime", "-n", self.name, "-d", "dummy",
                 "-r", str(self.sample_rate), "-p", str(self.block)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env())
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise JackError(f"jackd exited with {code}: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop(kill=True, release_portaudio=False)
                raise JackError(f"jackd did not answer within {timeout:g} s: {self.log_tail()}")
            time.sleep(0.05)
        self.device = refresh_portaudio(self.client_name)
        return self

    def stop(self, kill: bool = False, release_portaudio: bool = True,
             timeout: float = 10.0) -> int | None:
        """Stop jackd (SIGTERM, or SIGKILL with ``kill``, like a crash); its exit code.

        With ``release_portaudio`` this process's PortAudio first closes its
        JACK client while the server still runs, so the test process survives
        (see the module notes); JACK clients in other processes see the server die.
        Without it (or when jackd already died on its own) this process's
        PortAudio loses JACK for the rest of the session: the harness then
        keeps it from aborting the process at exit, and ``device`` stays None.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        alive = proc.poll() is None
        released = release_portaudio and alive
        if released:
            _release_portaudio()
        if alive:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not released:
            _abandon_portaudio()
        self._remove_stale_files()
        self.device = None
        if release_portaudio and not _portaudio_lost:
            _restart_portaudio()
        return proc.returncode

    def close(self) -> None:
        """Stop for good, restore the environment, remove the log."""
        self.stop()
        self.restore_environ()
        self.log_path.unlink(missing_ok=True)

    def _remove_stale_files(self) -> None:
        """Semaphores and sockets of this server name that a killed server or client left."""
        uid = os.getuid()
        for pattern in (f"jack_sem.{uid}_{self.name}_*", f"jack_{self.name}_{uid}_*"):
            for path in SHM_DIR.glob(pattern):
                try:
                    path.unlink()
                except OSError:
                    pass

    def log_tail(self, chars: int = 600) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no jackd log)"
        return " ".join(text[-chars:].split())

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ports --------------------------------------------------------------------------------
    def port_info(self) -> dict[str, dict]:
        """``{port: {"direction": "input"|"output", "type": "audio"|"midi"|..., "physical": bool}}``."""
        if self._proc is None:
            return {}
        done = subprocess.run(["jack_lsp", "-s", self.name, "-p", "-t"], capture_output=True,
                              text=True, env=self.env(), timeout=10)
        if done.returncode != 0:
            return {}
        info: dict[str, dict] = {}
        current = None
        for line in done.stdout.splitlines():
            if not line.strip():
                continue
            if not line.startswith(("\t", " ")):
                current = line.strip()
                info[current] = {"direction": None, "type": None, "physical": False}
                continue
            text = line.strip()
            if current is None:
                continue
            if text.startswith("properties:"):
                props = text.split(":", 1)[1].strip(" ,").split(",")
                info[current]["direction"] = "output" if "output" in props else "input"
                info[current]["physical"] = "physical" in props
            elif text.endswith("audio"):
                info[current]["type"] = "audio"
            elif "midi" in text:
                info[current]["type"] = "midi"
            else:
                info[current]["type"] = text
        return info

    def ports(self, prefix: str = "", direction: str | None = None,
              kind: str | None = None) -> list[str]:
        """Port names (``client:port``) starting with ``prefix``, in JACK's order."""
        return [name for name, p in self.port_info().items()
                if name.startswith(prefix)
                and (direction is None or p["direction"] == direction)
                and (kind is None or p["type"] == kind)]

    def wait_for_ports(self, prefix: str, direction: str = "output", kind: str = "audio",
                       timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.ports(prefix, direction, kind)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def output_ports(self, connect_to: str, timeout: float = 5.0) -> list[str]:
        """The audio output ports ``connect_to`` names: one full port name, or a client."""
        prefix = connect_to if ":" in connect_to else connect_to + ":"
        found = self.wait_for_ports(prefix, "output", "audio", timeout)
        if ":" in connect_to:
            found = [p for p in found if p == connect_to]
        if not found:
            raise JackError(f"no JACK audio output ports for {connect_to!r}; "
                            f"ports now: {', '.join(self.ports()) or 'none'}")
        return found

    def connect(self, source: str, destination: str) -> None:
        done = subprocess.run(["jack_connect", "-s", self.name, source, destination],
                              capture_output=True, text=True, env=self.env(), timeout=10)
        if done.returncode != 0:
            raise JackError(f"jack_connect {source} {destination}: "
                            f"{' '.join((done.stdout + done.stderr).split())}")

    def connections(self) -> dict[str, list[str]]:
        """``{port: [ports it is connected to]}``."""
        done = subprocess.run(["jack_lsp", "-s", self.name, "-c"], capture_output=True,
                              text=True, env=self.env(), timeout=10)
        result: dict[str, list[str]] = {}
        current = None
        for line in done.stdout.splitlines():
            if line.startswith((" ", "\t")) and current is not None:
                result[current].append(line.strip())
            elif line.strip():
                current = line.strip()
                result[current] = []
        return result


# --- recording ------------------------------------------------------------------------------

class Recording:
    """``jack_rec`` capturing ``seconds`` of what ``connect_to`` plays; :meth:`wait` for it.

    ``connect_to`` may also be a list of clients or ports: one ``jack_rec``
    takes them all, in that order, sample for sample in step.
    """

    def __init__(self, jack: JackServer, seconds: float, connect_to, bits: int = 24,
                 port_timeout: float = 5.0):
        self.seconds = seconds
        self.frames = int(round(seconds * jack.sample_rate))
        names = [connect_to] if isinstance(connect_to, str) else list(connect_to)
        self.ports = [port for name in names for port in jack.output_ports(name, port_timeout)]
        whole = max(1, math.ceil(seconds))  # jack_rec reads -d with atoi: whole seconds
        self._dir = Path(tempfile.mkdtemp(prefix="vamen-rec-"))
        self.path = self._dir / "take.wav"
        self._proc = subprocess.Popen(
            ["jack_rec", "-f", str(self.path), "-d", str(whole), "-b", str(bits), *self.ports],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=jack.env())

    def wait(self, timeout: float | None = None) -> np.ndarray:
        """The take as float32 ``[frames, channels]``."""
        import soundfile

        try:
            out, _ = self._proc.communicate(timeout=timeout or math.ceil(self.seconds) + 10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            out, _ = self._proc.communicate()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise JackError(f"jack_rec did not finish: {' '.join(out.split())[-300:]}") from None
        try:
            if self._proc.returncode != 0 or not self.path.exists():
                raise JackError(f"jack_rec exited with {self._proc.returncode}: "
                                f"{' '.join(out.split())[-300:]}")
            audio, _ = soundfile.read(self.path, dtype="float32", always_2d=True)
            return audio[:self.frames]
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def record(jack: JackServer, seconds: float, connect_to: str) -> np.ndarray:
    """Record ``seconds`` of what the JACK client (or port) ``connect_to`` plays."""
    return Recording(jack, seconds, connect_to).wait()


def dominant_frequency(audio: np.ndarray, sample_rate: float) -> float:
    """The strongest frequency of the first channel, in Hz (Hann window, plain FFT)."""
    x = np.asarray(audio, dtype=np.float64)
    x = x[:, 0] if x.ndim == 2 else x
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * sample_rate / len(x))


# --- a JACK client to kill: a sine player in its own process -------------------------------

PLAYER_SCRIPT = r'''
import ctypes, json, os, sys, threading, time
import numpy as np
import sounddevice as sd

freq, client, xrun_at, limit = float(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
name = ctypes.create_string_buffer(client.encode())
ctypes.CDLL(sd._libname).PaJack_SetClientName(name)
sd._terminate(); sd._initialize()
device = next(h["default_output_device"] for h in sd.query_hostapis() if "JACK" in h["name"])
rate = sd.query_devices(device)["default_samplerate"]
state = {"calls": 0, "frames": 0, "xruns": 0, "flags": [], "slept": False}

def callback(out, frames, time_info, status):
    if status:
        state["flags"].append(str(status))
        if status.output_underflow:
            state["xruns"] += 1
    n = np.arange(frames) + state["frames"]
    out[:] = (0.3 * np.sin(2 * np.pi * freq * n / rate))[:, None]
    state["frames"] += frames
    state["calls"] += 1
    if 0 <= xrun_at <= state["frames"] / rate and not state["slept"]:
        state["slept"] = True
        time.sleep(0.05)  # ten blocks late: JACK reports an xrun

stream = sd.OutputStream(device=device, samplerate=rate, channels=2, callback=callback)
stream.start()
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()

def report(event="status"):
    print(json.dumps({"event": event, "t": time.monotonic(), "calls": state["calls"],
                      "frames": state["frames"], "active": stream.active, "stopped": stream.stopped,
                      "xruns": state["xruns"], "flags": state["flags"][-4:]}), flush=True)

report("started")
deadline = time.monotonic() + limit
while not done.wait(0.05) and time.monotonic() < deadline:
    report()
if stream.active or stream.stopped:
    stream.stop(); stream.close()
    report("closed")
    sys.exit(0)
# JACK died under the stream: stop/abort/close would block for ten minutes and
# Pa_Terminate would abort the process, so leave without touching PortAudio.
report("abandoned")
sys.stdout.flush()
os._exit(0)
'''


class SinePlayer:
    """A subprocess playing a sine into JACK through PortAudio, reporting its stream.

    Every 50 ms it prints ``{"event", "t", "calls", "frames", "active",
    "stopped", "xruns", "flags"}``; :attr:`reports` collects them. ``xrun_at`` seconds
    after the start its callback sleeps 50 ms once, causing one xrun.
    :meth:`close` ends it: ``"closed"`` when the stream stopped normally,
    ``"abandoned"`` when JACK had died under it.
    """

    def __init__(self, jack: JackServer, freq: float = 440.0, client_name: str = "vamen-sine",
                 xrun_at: float | None = None, limit: float = 30.0):
        self.client_name = client_name
        self.reports: list[dict] = []
        self._cond = threading.Condition()
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-c", PLAYER_SCRIPT, str(freq), client_name,
             str(-1.0 if xrun_at is None else xrun_at), str(limit)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            env=jack.env())
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.reports.append(report)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def latest(self) -> dict | None:
        with self._cond:
            return self.reports[-1] if self.reports else None

    def wait_for(self, predicate, timeout: float = 5.0) -> dict:
        """The first new-or-old report satisfying ``predicate``; JackError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for report in self.reports:
                    if predicate(report):
                        return report
                left = deadline - time.monotonic()
                if left <= 0 or (self._proc.poll() is not None and not self._reader.is_alive()):
                    raise JackError(f"player never reported what was awaited; last: "
                                    f"{self.reports[-1] if self.reports else None}; "
                                    f"stderr: {self.stderr_tail()}")
                self._cond.wait(min(left, 0.1))

    def stderr_tail(self, chars: int = 400) -> str:
        self._stderr.seek(0)
        return " ".join(self._stderr.read().decode(errors="replace").split())[-chars:]

    def close(self, timeout: float = 10.0) -> int:
        """Ask it to finish (stdin closed); its exit code. Kills it after ``timeout``."""
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise JackError(f"player did not exit within {timeout:g} s: {self.stderr_tail()}")
        self._reader.join(2)
        self._stderr.close()
        return code
