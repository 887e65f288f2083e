"""systemd's notify protocol, spoken to a real AF_UNIX datagram socket standing in for systemd."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from vamen.model.loopmodel import LoopModel
from vamen.server.engine import Engine
from vamen.server.options import ServeOptions
from vamen.server.midi.commands import EngineCommand
from vamen.server.ops.sdnotify import Watchdog, notify

from offline import RATE, OfflineOutput


class Systemd:
    """A datagram socket that collects what a service tells it."""

    def __init__(self, address: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.2)
        self.address = address
        self.heard: list[tuple[float, str]] = []

    def listen(self, seconds: float) -> list[str]:
        end = time.monotonic() + seconds
        got = []
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.heard.append((time.monotonic(), data))
            got.append(data)
        return got

    def wait_for(self, line: str, seconds: float) -> float:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.heard.append((time.monotonic(), data))
            if line in data.splitlines():
                return time.monotonic()
        raise AssertionError(f"no {line} in {seconds}s; heard {[d for _, d in self.heard]}")

    def close(self):
        self.sock.close()


@pytest.fixture
def systemd(tmp_path):
    s = Systemd(str(tmp_path / "notify.sock"))
    yield s
    s.close()


def test_notify_reaches_a_path_and_an_abstract_socket(systemd):
    assert notify("READY=1", {"NOTIFY_SOCKET": systemd.address})
    assert systemd.listen(0.3) == ["READY=1"]
    abstract = Systemd(f"@vamen-test-{os.getpid()}")
    try:
        assert notify("STATUS=hello", {"NOTIFY_SOCKET": abstract.address})
        assert abstract.listen(0.3) == ["STATUS=hello"]
    finally:
        abstract.close()


def test_without_systemd_nothing_happens(tmp_path):
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})  # never raises
    assert not Watchdog({}).enabled
    assert not Watchdog({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000",
                         "WATCHDOG_PID": str(os.getpid() + 1)}).enabled  # meant for another process
    dog = Watchdog({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000"})
    assert dog.enabled and dog.interval == 15.0  # half of WatchdogSec


@dataclass(frozen=True)
class Hang(EngineCommand):
    """A command that keeps the control thread busy, as a bug might."""

    seconds: float = 1.5
    started: threading.Event = field(default_factory=threading.Event, compare=False)
    address: ClassVar[str] = "/test/hang"

    def run(self, engine) -> None:
        self.started.set()
        time.sleep(self.seconds)


def test_watchdog_pings_come_from_the_control_thread(systemd, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", systemd.address)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # a ping every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    model = LoopModel.load(tiny_model, "cpu")
    options = ServeOptions(sinks=(), sample_rate=RATE, osc_port=0, presets=tmp_path / "p.json")
    engine = Engine(options, model, output_factory=OfflineOutput).start()
    try:
        assert systemd.listen(1.0).count("WATCHDOG=1") >= 3
        hang = Hang(4.0)
        engine.commands.put(hang)
        assert hang.started.wait(5.0), "the control thread never took the command"
        systemd.listen(0.25)  # pings sent before the hang began
        assert "WATCHDOG=1" not in systemd.listen(2.0)  # a hung control thread stops the pings
        systemd.wait_for("WATCHDOG=1", 10.0)  # and they come back with it
        assert systemd.listen(1.0).count("WATCHDOG=1") >= 3
    finally:
        engine.close()


def test_serve_says_ready_pings_and_says_stopping(systemd, tiny_model, tmp_path):
    env = dict(os.environ, NOTIFY_SOCKET=systemd.address, WATCHDOG_USEC="600000",
               XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "vamen.server.cli", "serve", "--model", str(tiny_model),
                             "--osc-port", "0", "--quiet", "--sink", "file", "--record",
                             str(tmp_path / "set.wav")], env=env, stderr=subprocess.PIPE, text=True)
    try:
        ready = systemd.wait_for("READY=1", 120)
        systemd.listen(2.0)
        pings = [t for t, d in systemd.heard if d == "WATCHDOG=1" and t > ready]
        assert len(pings) >= 3  # every 0.3 s, half of WATCHDOG_USEC
        proc.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING=1", 30)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
