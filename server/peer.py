"""Whose underruns they are: a C client beside vamen, and jackd's word on who was late.

``vamen bench soak --peer`` runs jackd2's ``jack_metro`` (a metronome in a
few lines of C: no Python, nothing to render) as the JACK client
:data:`PEER` on the same server as vamen, and follows jackd's log while the
soak runs. At the start of every cycle jackd checks that each client
finished the one before; for each that did not it logs one line, and tells
every client of an xrun::

    JackEngine::XRun: client = vamen was not finished, state = Running
    JackEngine::XRun: client = peer was not finished, state = Triggered

``Triggered``: the client's thread had been signalled but had not woken by
the deadline (the scheduler's or the host's doing: no code of the client
ran). ``Running``: it had woken and not finished (its own work, or time lost
before or after it). A timer-driven server (the dummy driver) also logs its
own lateness, ``JackTimedDriver::Process XRun = 50 usec``, at the end of a
cycle that ended past the next one's start, and starts the next at once:
the clients signalled in the late cycle had microseconds, not a period, and
the lines that follow name whoever needed more (:func:`sort_lines`). No
client can make up for that.

Since JACK tells every client of every xrun, vamen's own count
(``underruns``, PortAudio's flag) includes the peer's; jackd's lines are the
only per-client account. PortAudio and libjack expose no cycle-start time
to a Python callback, so where the rest of vamen's cycle goes is read from
outside: each audio thread's CPU time and run-queue wait
(``/proc/PID/task/TID/schedstat``) beside the peer's, and PortAudio's own
``cpu_load`` beside the callback's own clock (see :func:`thread_times`).

jackd's log: ``--jack-log FILE``, or found by :func:`find_jack_log` where the
running jackd writes its output to a file (or is jackdbus, which keeps
``~/.log/jack/jackdbus.log``).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

from vamen.model.errors import VamenError
from vamen.server.audio.audiochild import NICE

#: The peer's JACK client name, as jackd's log lines carry it.
PEER = "peer"
#: vamen's audio process's JACK client name (``ProcessOutput(jack_name=...)``).
VAMEN = "vamen"
#: scsynth's JACK client name: with ``--sink supercollider`` it plays vamen's loops.
SCSYNTH = "SuperCollider"

_NOT_FINISHED = re.compile(r"client = (?P<client>.+?) was not finished, state = (?P<state>\w+)")
_FINISHED_LATE = re.compile(r"client (?P<client>.+?) finished after current callback")
# the server's own timer woke late (dummy and other timed drivers); ALSA's word for an xrun
_DRIVER = re.compile(r"JackTimedDriver::Process XRun|xrun of at least")


class PeerError(VamenError):
    """The peer cannot run, or jackd's log cannot be found: one line for the user."""


def parse_line(line: str) -> tuple[str, str] | None:
    """``(client, state)`` for a line where jackd says who was late; None for any other.

    ``state`` is ``Triggered``, ``Running`` (or another of jackd's states) for
    a client not finished at the deadline, ``late`` for one that finished
    after it, and ``driver`` (with client ``""``) for the server's own timer.
    """
    if m := _NOT_FINISHED.search(line):
        return m["client"], m["state"]
    if m := _FINISHED_LATE.search(line):
        return m["client"], "late"
    if _DRIVER.search(line):
        return "", "driver"
    return None


class JackLog:
    """Follows jackd's log from where it ends now; :meth:`read` gives what jackd said since."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self._pos = self.path.stat().st_size
        except OSError as exc:
            raise PeerError(f"cannot read jackd's log {self.path}: {exc.strerror or exc}") from None
        self._partial = b""
        self._timer_late = False

    def read(self) -> list[tuple[str, str, bool]]:
        """``(client, state, timer_late)`` for each line since the last read that says who was late
        (see :func:`sort_lines`)."""
        try:
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < self._pos:  # rotated or truncated: read the new file from its start
                    self._pos, self._partial = 0, b""
                fh.seek(self._pos)
                data = fh.read()
        except OSError:
            return []
        self._pos += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events, self._timer_late = sort_lines([line.decode(errors="replace") for line in lines],
                                              self._timer_late)
        return events


def sort_lines(lines: list[str], timer_late: bool = False) -> tuple[list[tuple[str, str, bool]], bool]:
    """jackd's lines as ``(client, state, timer_late)``, and whether the last cycle began late.

    ``timer_late``: jackd found the client late in a cycle that followed the
    server's own late one. A timed driver logs ``Process XRun = N usec`` at
    the end of a cycle that ended past the next one's start (N is the cycle's
    own length: when it is short, the driver's thread woke late), and starts
    the next cycle at once; the clients signalled in the late cycle had N
    microseconds, not a period, and jackd's check at the start of the next
    one (the lines that follow) finds whoever needed more. Any other line
    (``Process error``, the end of a cycle) closes that group.
    """
    events = []
    for line in lines:
        hit = parse_line(line)
        if hit is None:
            if line.strip():
                timer_late = False
            continue
        client, state = hit
        if state == "driver":
            timer_late = True
        events.append((client, state, timer_late and state != "driver"))
    return events, timer_late


def server_name(env: dict | None = None) -> str:
    """The JACK server clients of this process talk to (``JACK_DEFAULT_SERVER``, else ``default``)."""
    return (env if env is not None else os.environ).get("JACK_DEFAULT_SERVER") or "default"


def _jackd_name(argv: list[str]) -> str:
    """The server name in a jackd command line (``-n NAME``, ``--name NAME``, ``--name=NAME``)."""
    for i, arg in enumerate(argv):
        if arg in ("-n", "--name") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--name="):
            return arg.split("=", 1)[1]
        if arg.startswith("-n") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
        if arg == "-d":  # what follows belongs to the driver
            break
    return "default"


def find_jack_log(name: str | None = None, proc: Path = Path("/proc")) -> Path | None:
    """Where the running jackd for server ``name`` writes its log, if that is a file.

    A ``jackd`` of this user whose stderr (or stdout) is a regular file
    (``jackd ... > jackd.log 2>&1``, or the test harness), or ``jackdbus``,
    which logs to ``~/.log/jack/jackdbus.log``. None when it writes to a
    terminal or the journal: then pass ``--jack-log``.
    """
    name = name or server_name()
    uid = os.getuid()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        program = os.path.basename(argv[0]) if argv and argv[0] else ""
        if program == "jackdbus":
            log = Path.home() / ".log" / "jack" / "jackdbus.log"
            if log.is_file():
                return log
            continue
        if program != "jackd" or _jackd_name(argv[1:]) != name:
            continue
        for fd in ("2", "1"):
            try:
                target = Path(os.readlink(entry / "fd" / fd))
            except OSError:
                continue
            if target.is_absolute() and target.is_file():
                return target
    return None


def _jack(*args: str, env: dict | None = None, timeout: float = 10.0) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PeerError(f"{args[0]} got no answer from the JACK server {server_name(env)!r} within "
                        f"{timeout:g} s: jackd is stalled or the machine overloaded; try again") from None


def jack_running(env: dict | None = None) -> bool:
    """A JACK server answers under the name this process would use."""
    if shutil.which("jack_wait") is None:
        return False
    done = _jack("jack_wait", "-c", "-s", server_name(env), env=env)
    return done.stdout.strip() == "running"


def client_ports(client: str, env: dict | None = None) -> list[str]:
    """The ports of JACK client ``client`` (empty when it has none, or is not there)."""
    done = _jack("jack_lsp", "-s", server_name(env), env=env)
    return [p for p in done.stdout.split("\n") if p.startswith(client + ":")]


def jack_rate(env: dict | None = None) -> int | None:
    """The JACK server's sample rate (``jack_samplerate``), or None."""
    if shutil.which("jack_samplerate") is None:
        return None
    done = _jack("jack_samplerate", "-s", server_name(env), env=env)
    try:
        return int(done.stdout.split()[-1])
    except (IndexError, ValueError):
        return None


def pid_of(program: str, proc: Path = Path("/proc")) -> int | None:
    """The newest process running ``program`` (its ``comm``), or None."""
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == program:
                    found.append(int(entry.name))
            except OSError:
                continue
    return max(found) if found else None


class Peer:
    """``jack_metro`` as the JACK client ``name`` on the server vamen plays to.

    All but silent (clicks at -80 dBFS, jack_metro's amplitude must be above
    0: a timing yardstick, not a sound, on a real sound card too), connected
    to the first playback port like vamen, so jackd runs it in the same
    graph, in parallel with vamen.
    """

    def __init__(self, name: str = PEER, bpm: int = 120, env: dict | None = None):
        self.name, self.bpm, self.env = name, bpm, env
        self._proc: subprocess.Popen | None = None
        self.connected_to: str | None = None

    def start(self, timeout: float = 10.0) -> "Peer":
        if shutil.which("jack_metro") is None:
            raise PeerError("jack_metro not found: it comes with JACK's example clients "
                            "(Debian package jackd2; scripts/system-deps.sh installs it)")
        if client_ports(self.name, self.env):
            raise PeerError(f"a JACK client named {self.name!r} already runs on this server; "
                            "its xruns would be counted as the peer's")
        self._proc = subprocess.Popen(
            ["jack_metro", "-n", self.name, "-b", str(self.bpm), "-A", "0.0001"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=self.env)
        try:
            deadline = time.monotonic() + timeout
            while not (ports := client_ports(self.name, self.env)):
                if self._proc.poll() is not None:
                    err = " ".join(self._proc.stderr.read().decode(errors="replace").split())[-300:]
                    raise PeerError(f"jack_metro exited with {self._proc.returncode}: {err}")
                if time.monotonic() > deadline:
                    raise PeerError(f"jack_metro did not register its port within {timeout:g} s")
                time.sleep(0.05)
            playback = _jack("jack_lsp", "-s", server_name(self.env), "-p", env=self.env).stdout
            _renice(self._proc.pid, NICE)
            target = _first_playback(playback)
            if target and _jack("jack_connect", "-s", server_name(self.env), ports[0], target,
                                env=self.env).returncode == 0:
                self.connected_to = target
        except PeerError:
            self.close()
            raise
        return self

    def follow(self, player: int | None) -> dict:
        """Run on the CPUs process ``player`` runs on; where each of the three runs then.

        Returns ``{"player": "1", "peer": "1", "vamen": "0"}`` (CPU lists; "" for one
        that is gone or was not given)."""
        from .audio.cpus import cpus_of, format_cpus, pin

        mine = self.pid
        where = cpus_of(player) if player else None
        if where and mine:
            pin(mine, where)
        found = {"player": where, "peer": cpus_of(mine) if mine else None,
                 "vamen": frozenset(os.sched_getaffinity(0))}
        return {k: format_cpus(v) if v else "" for k, v in found.items()}

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _renice(pid: int, nice: int) -> bool:
    """Every thread of ``pid`` at ``nice``, where allowed: the peer competes for the CPU as
    vamen's audio process does (on a real-time server both JACK threads are real-time anyway)."""
    from .audio.cpus import threads_of

    done = False
    for tid in threads_of(pid):
        try:
            os.setpriority(os.PRIO_PROCESS, tid, nice)  # Linux: per thread
            done = True
        except OSError:
            pass
    return done


def _first_playback(lsp_properties: str) -> str | None:
    """The first physical input port (a playback channel) in ``jack_lsp -p`` output."""
    port = None
    for line in lsp_properties.split("\n"):
        if line and not line[0].isspace():
            port = line.strip()
        elif port and "properties:" in line and "input" in line and "physical" in line:
            return port
    return None


# -- threads: where a cycle's time goes, read from outside ---------------------------------

def thread_times(pid: int, tid: int, proc: Path = Path("/proc")) -> tuple[float, float, int] | None:
    """``(cpu_seconds, runqueue_seconds, timeslices)`` of one thread so far (Linux schedstat).

    CPU time is all of the thread's work (libjack's, PortAudio's, cffi's and
    Python's for vamen); run-queue time is how long it was ready to run and
    not running (the scheduler, or a host that took the vCPU). Time blocked
    (waiting for the next cycle, or for the GIL) is in neither.
    """
    try:
        cpu, wait, slices = (proc / str(pid) / "task" / str(tid) / "schedstat").read_text().split()[:3]
        return int(cpu) / 1e9, int(wait) / 1e9, int(slices)
    except (OSError, ValueError):
        return None


def _threads(pid: int, proc: Path) -> dict[int, int]:
    out = {}
    try:
        tids = [int(t.name) for t in (proc / str(pid) / "task").iterdir()]
    except OSError:
        return out
    for tid in tids:
        times = thread_times(pid, tid, proc)
        if times is not None:
            out[tid] = times[2]
    return out


def audio_threads(pids: dict, watch: float = 1.0, proc: Path = Path("/proc")) -> dict:
    """For each process in ``pids`` (``{who: pid}``), the thread JACK wakes every cycle, or None.

    It is the thread scheduled most often over ``watch`` seconds: at 256
    frames and 48 kHz it runs 187 times a second, where a program's other
    threads (vamen's message loop, libjack's notifications, jack_metro's
    main thread) wake tens of times a second at most.
    """
    before = {who: _threads(pid, proc) for who, pid in pids.items() if pid}
    time.sleep(watch)
    found: dict = dict.fromkeys(pids)
    for who, first in before.items():
        runs = {tid: n - first.get(tid, 0) for tid, n in _threads(pids[who], proc).items()}
        if runs and max(runs.values()) > 0:
            found[who] = max(runs, key=runs.get)
    return found


# -- per-minute rows and the verdict -------------------------------------------------------

ROW_KEYS = ("underruns", "slow_callbacks", "slow_cpu_callbacks",
            "vamen_late", "vamen_triggered", "vamen_running", "vamen_timer_late", "vamen_unwoken",
            "vamen_own",
            "peer_late", "peer_triggered", "peer_running", "peer_timer_late", "peer_unwoken", "peer_own",
            "driver_late", "others_late")


def count_lines(events: list[tuple[str, str, bool]], vamen: str = VAMEN, peer: str = PEER) -> Counter:
    """jackd's lines sorted by whose they are (keys of :data:`ROW_KEYS`).

    For each client: ``late`` (every line naming it), by jackd's state
    (``triggered``: not yet woken; ``running``: woken, not finished), and by
    cause, which adds up to ``late``: ``timer_late`` (in a cycle cut short by
    the server's own late timer, :func:`sort_lines`), else ``unwoken``
    (triggered) or ``own`` (woken, given its period, not finished in it).
    """
    counts: Counter = Counter()
    for client, state, timer_late in events:
        if state == "driver":
            counts["driver_late"] += 1
            continue
        who = "vamen" if client == vamen else "peer" if client == peer else None
        if who is None:
            counts["others_late"] += 1
            continue
        counts[f"{who}_late"] += 1
        if state in ("Triggered", "Running"):
            counts[f"{who}_{state.lower()}"] += 1
        cause = "timer_late" if timer_late else "unwoken" if state == "Triggered" else "own"
        counts[f"{who}_{cause}"] += 1
    return counts


def verdict(totals: dict, player: str | None = None) -> str:
    """One line: whether any of the run's underruns was vamen's, by jackd's account.

    An underrun is vamen's when jackd found vamen's client woken and not
    finished at the end of a cycle that gave it its whole period
    (``vamen_own``), or when a callback was slow (vamen's code over half its
    block in its thread's CPU time; slow by the wall clock only, the thread
    was off the CPU: preempted, its virtual CPU taken, or waiting for the GIL,
    which this cannot tell apart). Not vamen's: a cycle the server itself began late
    (``timer_late``: no client had its period), vamen's thread not yet woken
    by the deadline (``Triggered``: the kernel or the host did not run it), and
    every xrun of another client or of the server, which JACK tells vamen of
    too. The peer, a C client with no work, is held to the same account.

    ``player`` names the program that plays vamen's loops when it is not
    vamen's own audio process (``scsynth``, for ``--sink supercollider``): the
    ``vamen_*`` counts are then that client's lines, and vamen hears of no
    underrun itself.
    """
    mine, own, slow = totals["vamen_late"], totals["vamen_own"], totals["slow_callbacks"]
    slow_cpu = totals["slow_cpu_callbacks"]
    slowness = f"{slow} slow callbacks, {slow_cpu} of them slow in CPU time"
    peer, heard = totals["peer_late"], totals["underruns"]
    who = player or "vamen"
    if not mine and not peer and not heard and not totals["driver_late"] + totals["others_late"]:
        return ("verdict: no xruns at all, and jackd blamed nobody" if player else
                f"verdict: no underruns at all, and jackd blamed nobody; {slowness}")
    found = (f"jackd found {who} late {mine} times ({totals['vamen_timer_late']} in cycles the server "
             f"began late, {totals['vamen_unwoken']} not yet woken, {own} woken and given its period) "
             f"and the peer {peer} times ({totals['peer_timer_late']}, {totals['peer_unwoken']}, "
             f"{totals['peer_own']}); the server's timer was late {totals['driver_late']} times")
    compare = "no more often than" if own <= totals["peer_own"] else "more often than"
    if player:
        if not own:
            return f"verdict: none of the xruns was {who}'s own (it plays vamen's loops): {found}"
        return (f"verdict: {own} xrun{'s were' if own != 1 else ' was'} {who}'s own (it plays vamen's "
                f"loops): {found}; {who} late in its own cycles {compare} the peer")
    if not own and not slow_cpu:
        return f"verdict: none of the {heard} underruns vamen heard of was vamen's: {found}; {slowness}"
    return (f"verdict: {own} underrun{'s were' if own != 1 else ' was'} vamen's ({slowness}): "
            f"{found}; vamen late in its own cycles {compare} the peer")


class PeerWatch:
    """Per-minute rows of who was late, one tick a second (:func:`vamen.server.bench.bench_soak`).

    ``underruns`` and ``slow`` are vamen's counters; ``log`` follows jackd;
    ``audio_pid`` and ``peer_pid`` are the processes whose JACK threads are
    watched. A row closes every ``row_seconds``; the last one may be short.
    """

    def __init__(self, log: JackLog, underruns, slow, audio_pid: int | None, peer_pid: int | None,
                 steal=None, slow_cpu=None, callback=None, portaudio=None, blocksize: int = 256,
                 sample_rate: int = 48000, row_seconds: float = 60.0, vamen: str = VAMEN,
                 peer: str = PEER, proc: Path = Path("/proc"), player: str | None = None):
        self.log, self.underruns, self.slow = log, underruns, slow
        self.player = player  # the program playing vamen's loops, when not vamen's audio process
        self.steal = steal or (lambda: None)
        self.slow_cpu = slow_cpu or (lambda: 0)
        self.callback = callback  # () -> (callback seconds summed, blocks)
        self.portaudio = portaudio  # () -> (cpu_load readings summed, readings)
        self.period = blocksize / sample_rate
        self.row_seconds, self.vamen, self.peer, self.proc = row_seconds, vamen, peer, proc
        self.pids = {"vamen": audio_pid, "peer": peer_pid}
        self.tids: dict[str, int | None] = {}
        self.rows: list[dict] = []
        self._row: dict | None = None
        # seconds in which jackd found a client late, and the others: how many, and the
        # client's JACK thread's run-queue time and the host's steal summed over them
        self.by_second = {f"{who}_{kind}": [0, 0.0, 0.0] for who in ("vamen", "peer")
                          for kind in ("late", "calm")}
        self._last: dict | None = None
        self._first: dict | None = None
        self._whole: dict = {}

    def begin(self) -> None:
        """Find the audio threads (a second), skip what jackd logged so far, open the first row."""
        self.tids = audio_threads(self.pids, 1.0, self.proc)
        self.log.read()
        self._open()
        self._first = self._last = self._row["start"]

    def _snapshot(self) -> dict:
        snap = {"t": time.monotonic(), "underruns": self.underruns(), "slow_callbacks": self.slow(),
                "slow_cpu_callbacks": self.slow_cpu(),
                "steal": self.steal(),
                "callback": self.callback() if self.callback else None,
                "portaudio": self.portaudio() if self.portaudio else None}
        for who, tid in self.tids.items():
            pid = self.pids[who]
            snap[who] = thread_times(pid, tid, self.proc) if pid and tid else None
        return snap

    def _open(self, snapshot: dict | None = None) -> None:
        self._row = {"start": snapshot or self._snapshot(), "lines": Counter()}

    def tick(self) -> None:
        if self._row is None:
            return
        lines = count_lines(self.log.read(), self.vamen, self.peer)
        self._row["lines"].update(lines)
        now = self._snapshot()
        self._second(self._last, now, lines)
        self._last = now
        if now["t"] - self._row["start"]["t"] >= self.row_seconds - 0.5:
            self._close(now)
            self._open(now)

    def _second(self, a: dict, b: dict, lines: Counter) -> None:
        """Sort this second by whether jackd found each client late in it."""
        steal = 0.0 if a["steal"] is None or b["steal"] is None else b["steal"] - a["steal"]
        for who in ("vamen", "peer"):
            if not (a.get(who) and b.get(who)):
                continue
            bucket = self.by_second[f"{who}_{'late' if lines.get(f'{who}_late') else 'calm'}"]
            bucket[0] += 1
            bucket[1] += b[who][1] - a[who][1]
            bucket[2] += steal

    def finish(self) -> None:
        if self._row is None:
            return
        self._row["lines"].update(count_lines(self.log.read(), self.vamen, self.peer))
        end = self._snapshot()
        if end["t"] - self._row["start"]["t"] >= 1.0 or not self.rows:
            self._close(end)
        self._whole = self._spans(self._first, end) if self._first else {}
        self._row = None

    def _spans(self, a: dict, b: dict) -> dict:
        """Where the cycles went between snapshots ``a`` and ``b`` (see :func:`thread_times`)."""
        seconds = b["t"] - a["t"]
        cycles = seconds / self.period if seconds > 0 else 0
        out = {}
        for who in ("vamen", "peer"):
            ta, tb = a.get(who), b.get(who)
            if ta and tb and cycles:
                # per cycle: what the thread itself used; per second: how long it sat ready, not running
                out[f"{who}_cpu_us_per_cycle"] = round(1e6 * (tb[0] - ta[0]) / cycles, 1)
                out[f"{who}_runqueue_ms_per_s"] = round(1e3 * (tb[1] - ta[1]) / seconds, 2)
        if a["callback"] and b["callback"] and b["callback"][1] > a["callback"][1]:
            out["callback_us_mean"] = round(
                1e6 * (b["callback"][0] - a["callback"][0]) / (b["callback"][1] - a["callback"][1]), 1)
        if a["portaudio"] and b["portaudio"] and b["portaudio"][1] > a["portaudio"][1]:
            load = (b["portaudio"][0] - a["portaudio"][0]) / (b["portaudio"][1] - a["portaudio"][1])
            out["portaudio_us_mean"] = round(1e6 * load * self.period, 1)
        return out

    def _close(self, snapshot: dict | None = None) -> None:
        a, b, lines = self._row["start"], snapshot or self._snapshot(), self._row["lines"]
        row = {"minute": len(self.rows) + 1, "seconds": round(b["t"] - a["t"], 1),
               "underruns": b["underruns"] - a["underruns"],
               "slow_callbacks": b["slow_callbacks"] - a["slow_callbacks"],
               "slow_cpu_callbacks": b["slow_cpu_callbacks"] - a["slow_cpu_callbacks"],
               **{k: int(lines.get(k, 0)) for k in ROW_KEYS[3:]},
               "steal_seconds": (None if a["steal"] is None or b["steal"] is None
                                 else round(b["steal"] - a["steal"], 2)),
               **self._spans(a, b)}
        self.rows.append(row)

    def figures(self) -> dict:
        """``rows`` (one a minute), ``totals``, ``verdict``, ``cycle`` (the whole run's
        :meth:`_spans`) and ``by_second`` (seconds with and without each client late)."""
        totals = {k: sum(r[k] for r in self.rows) for k in ROW_KEYS}
        steal = [r["steal_seconds"] for r in self.rows if r["steal_seconds"] is not None]
        totals["steal_seconds"] = round(sum(steal), 2) if steal else None
        seconds = {}
        for key, (n, runqueue, steal) in self.by_second.items():
            seconds[key] = {"seconds": n,
                            "runqueue_ms_per_s": round(1e3 * runqueue / n, 2) if n else None,
                            "steal_ms_per_s": round(1e3 * steal / n, 2) if n else None}
        return {"rows": self.rows, "totals": totals, "verdict": verdict(totals, self.player),
                "threads_found": {who: tid is not None for who, tid in self.tids.items()},
                "cycle": self._whole, "by_second": seconds}
