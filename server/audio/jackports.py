"""The JACK connections of vamen's own ports, given back to a replaced audio process.

vamen replaces its audio processes when they hang or die (see
:mod:`~vamen.server.audio.audioproc` and :mod:`~vamen.server.audio.inputproc`).
A new process is a new JACK client, and PortAudio connects it as it connects
any new client: inputs from ``system:capture_*``, outputs to
``system:playback_*``. What the performer patched by hand is gone with the
old client: ``jack_connect drums:out_1 vamen-in:in_0`` (the drum machine vamen
follows), or vamen's outputs into a mixer. :class:`KeptConnections` reads
the client's connections every few seconds while it is healthy (``jack_lsp
-c``, off the audio and control threads) and, once a new process is up, makes
its ports' connections what they were: the ones it had back (where the
other end is still there), and PortAudio's own that it did not have undone.

A connection whose other end has gone by then (its client quit, or the
JACK server itself went away and took the other clients with it) is named in
the log as not reconnected, and from then on what the new client has is
what is kept. Where ``jack_lsp`` is missing this does nothing.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
from typing import Callable

log = logging.getLogger("vamen")

EVERY_SECONDS = 2.0
TOOL_TIMEOUT = 2.0

Pairs = frozenset[tuple[str, str]]


def is_jack(label: str) -> bool:
    """Whether a device label (``HOSTAPI: NAME``, as the audio processes report it) is JACK's."""
    return label.startswith("JACK")


def parse_lsp(text: str, client: str) -> tuple[set[str], Pairs, bool]:
    """From ``jack_lsp -c``: ``client``'s ports, their connections as (own port, other port), and
    whether a numbered namesake (``vamen-01``: a second vamen) is there too."""
    ports, pairs = set(), set()
    namesake = re.compile(re.escape(client) + r"-\d+:")
    twin = False
    current = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[:1].isspace():
            if current is not None:
                pairs.add((current, line.strip()))
            continue
        name = line.strip()
        twin = twin or bool(namesake.match(name))
        current = name if name.startswith(f"{client}:") else None
        if current is not None:
            ports.add(current)
    return ports, frozenset(pairs), twin


class KeptConnections:
    """Keep the JACK connections of the client ``client`` and give them back after a restart.

    ``healthy`` says whether the client may be read now (its process up and
    not being replaced). :meth:`restore` is called once a new process is up.
    """

    def __init__(self, client: str, healthy: Callable[[], bool], every: float = EVERY_SECONDS):
        self.client = client
        self.healthy = healthy
        self.every = every
        self.kept: Pairs | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._paused = False
        self._twin = False
        self.available = shutil.which("jack_lsp") is not None and shutil.which("jack_connect") is not None

    def start(self) -> "KeptConnections":
        if self.available:
            self._thread = threading.Thread(target=self._run, name="vamen-connections", daemon=True)
            self._thread.start()
        return self

    def _read(self) -> tuple[set[str], Pairs, bool] | None:
        try:
            done = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            return None
        return parse_lsp(done.stdout, self.client)

    def read_now(self) -> None:
        """Read the connections once (the thread does so every ``every`` seconds)."""
        if self._paused or not self.healthy():
            return
        read = self._read()
        if read is not None and read[2]:
            # two clients of this name, one numbered: which ports are whose cannot be told
            # from outside, so nothing is kept (nor given back)
            if not self._twin:
                log.info("a second JACK client named %s-NN is there: its connections and %s's "
                         "will not be given back after a restart", self.client, self.client)
            self._twin, self.kept = True, None
            return
        with self._lock:
            # not kept if the process went down meanwhile (its ports gone, or a new one's
            # PortAudio connections not yet made what they were)
            if read is not None and read[0] and not self._paused and self.healthy():
                if read[1] != self.kept and self.kept is not None:
                    log.debug("%s's JACK connections now %s", self.client, sorted(read[1]))
                self.kept = read[1]

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.read_now()

    def describe(self) -> str:
        """What is kept, as ``in_0=drums:out_1 in_1=drums:out_2`` ("" before the first read)."""
        kept = self.kept
        if not kept:
            return ""
        return " ".join(f"{own.split(':', 1)[1]}={other}" for own, other in sorted(kept))

    def pause(self) -> None:
        """The process is going down: keep what was read before, read nothing new."""
        with self._lock:
            self._paused = True

    def restore(self) -> str:
        """Make the new client's connections what they were; a line saying what changed ("" if nothing)."""
        try:
            with self._lock:
                kept = self.kept
            if not self.available or kept is None:
                return ""
            read = self._read()
            if read is None or not read[0] or read[2]:
                return ""
            ports, now, _ = read
            # each end: own ports are the new client's (same names); the other end must be there
            made, undone, failed = [], [], []
            for own, other in sorted(kept - now):
                if own in ports and self._tool("jack_connect", own, other):
                    made.append(f"{own} with {other}")
                elif own in ports:
                    failed.append(other)
            for own, other in sorted(now - kept):
                if self._tool("jack_disconnect", own, other):
                    undone.append(other)
            parts = []
            if made:
                parts.append("reconnected " + ", ".join(made))
            if undone:
                parts.append("left unconnected " + ", ".join(undone) + " (as before)")
            if failed:
                parts.append("could not reconnect " + ", ".join(failed) + " (gone?)")
            return "; ".join(parts)
        finally:
            with self._lock:
                self._paused = False

    @staticmethod
    def _tool(*args: str) -> bool:
        try:
            done = subprocess.run(list(args), capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    def close(self) -> None:
        self._stop.set()
