"""Helpers for the client tests (tests/server/sinks/test_clients_*.py).

* :func:`need` skips a test whose real part (sclang, pd, ghci with Tidal) is
  missing, saying which Debian package brings it; under ``CI=true`` it fails
  instead, as ``jack_server`` does.
* :class:`Vamen` runs ``vamen serve`` in a subprocess with the sinks asked
  for and talks OSC to it (``send``, ``state``, ``stop``).
* :func:`free_port` is a free UDP port on loopback.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from oscclient import Client, message

IN_CI = os.environ.get("CI") == "true"


def need(condition: bool, reason: str) -> None:
    """Skip (fail under CI=true) with ``reason`` unless ``condition``."""
    if condition:
        return
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def need_programs(package: str, *programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    need(not missing, f"{', '.join(missing)} not found (Debian package {package}; "
                      "scripts/system-deps.sh installs it)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vamen:
    """``vamen serve`` with ``args`` (sinks and their options), and an OSC client to it."""

    def __init__(self, model, tmp_path, *args, env=None, port: int | None = None,
                 timeout: float = 90.0):
        self.port = port or free_port()
        env = dict(os.environ if env is None else env)
        env["XDG_DATA_HOME"] = str(tmp_path / "data")
        self.log = open(tmp_path / "vamen.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vamen.server.cli", "serve", "--model", str(model),
             "--osc-port", str(self.port), "--quiet", "--fresh", *map(str, args)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True)

        class Target:
            port = self.port

        self.client = Client(Target)
        deadline = time.time() + timeout
        while True:
            try:
                if self.client.ask(message("/vamen/ping"))[0] == "/vamen/pong":
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"vamen serve did not come up: {self.output()}")

    def send(self, address, *args) -> None:
        self.client.send(message(address, *args))

    def state(self) -> dict:
        # One request, and its reply read past any others on their way (/vamen/encoded after an
        # encode, an error): asking again for each of those left a state reply unread, and every
        # later call returned the state one call old.
        self.client.send(message("/vamen/state"))
        for _ in range(8):
            address, args = self.client.reply()
            if address == "/vamen/state":
                return dict(zip(args[::2], args[1::2]))
        raise AssertionError(f"no /vamen/state reply, got {address}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self) -> int:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def alert_command(out) -> str:
    """An ``on-alert`` command line, standing in for an installation's notifier: it appends
    ``kind: message`` to the file ``out``."""
    import shlex

    note = [sys.executable, "-c",
            "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + ': ' + sys.argv[3] + '\\n')", str(out)]
    return " ".join(shlex.quote(a) for a in note)


def children(pid: int, module: str) -> list[int]:
    """PIDs of ``pid``'s child processes running ``python -m module`` (vamen's audio processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if parent == pid and module.encode() in cmd:
            found.append(int(entry))
    return found
