"""A real OscServer on an ephemeral port, a real UDP client, the bad-input matrix."""
import math
import queue
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.parsing import osc_types

from vamen.server.core import commands as c
from vamen.server.core.control import Control
from vamen.server.sources.oscserver import OscServer, decode_packet
from vamen.server.ops.presets import PresetStore

from oscclient import TIMEOUT, Client, bundle, message

DIM = 16


class Engine:
    """The smallest control thread: take commands off the queue, apply them, reply."""

    def __init__(self, server, commands, tmp_path, encode=None):
        self.seen = []
        self.control = Control(DIM, {"amen": np.zeros(DIM)}, PresetStore(tmp_path / "p.json"),
                               reply=server.send, encode=encode)
        self.commands = commands
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            cmd = self.commands.get()
            if cmd is None:
                return
            self.seen.append(cmd)
            self.control.apply(cmd, 0.0, 0.25)

    def stop(self):
        self.commands.put(None)
        self.thread.join(TIMEOUT)


@pytest.fixture
def rig(tmp_path):
    commands = queue.Queue(maxsize=256)
    server = OscServer(commands, latent_dim=DIM, port=0).start()
    gate = threading.Event()

    def slow_encode(path):
        gate.wait(TIMEOUT)  # the control thread is busy until the test opens the gate
        raise RuntimeError("cannot read audio")

    engine = Engine(server, commands, tmp_path, encode=slow_encode)
    client = Client(server)
    yield server, engine, client, gate
    gate.set()
    client.close()
    engine.stop()
    server.close()


def truncated_bundle():
    inner = message("/vamen/tempo", 140.0).dgram
    return b"#bundle\x00" + osc_types.write_date(time.time()) + struct.pack(">i", len(inner) + 40) + inner


BAD_INPUT = [
    ("unknown address", message("/vamen/nowhere", 1.0), "/vamen/nowhere", "unknown address"),
    ("wrong type", message("/vamen/tempo", "fast"), "/vamen/tempo", "must be a number"),
    ("wrong count", message("/vamen/nudge", 3), "/vamen/nudge", "expects i index f delta"),
    ("no args", message("/vamen/latent"), "/vamen/latent", "got 0 arguments"),
    ("NaN", message("/vamen/latent", 0.5, math.nan), "/vamen/latent", "finite"),
    ("inf", message("/vamen/gain", math.inf), "/vamen/gain", "finite"),
    ("100 floats", message("/vamen/latent", *([0.25] * 100)), "/vamen/latent", "at most 16"),
    ("10,000 floats", message("/vamen/latent", *([0.25] * 10_000)), "/vamen/latent",
     "vamen reads at most 8192"),  # refused before python-osc reads 40 kB a byte at a time
    ("index out of range", message("/vamen/latent/16", 1.0), "/vamen/latent/16", "within 0..15"),
    ("gain out of range", message("/vamen/gain", 2.5), "/vamen/gain", "within 0..2"),
    ("unknown curve", message("/vamen/morph", 0, 4.0, "wobbly"), "/vamen/morph", "unknown curve"),
    ("unknown preset", message("/vamen/preset/load", "nope"), "/vamen/preset/load", "unknown preset 'nope'"),
    ("unknown anchor", message("/vamen/anchor", 7), "/vamen/anchor", "no anchor 7"),
    ("garbage bytes", b"\x00\x01\x02garbage", "", "malformed OSC packet"),
    ("empty datagram", b"", "", "malformed OSC packet"),
    ("truncated message", b"/vamen/tempo\x00\x00\x00\x00,i\x00\x00", "/vamen/tempo", "malformed OSC packet"),
    ("malformed bundle", truncated_bundle(), "", "malformed OSC packet"),
    ("bundle without a time tag", b"#bundle\x00\x00\x00", "", "malformed OSC packet"),
    ("bad message in a future bundle", bundle(time.time() + 60, message("/vamen/tempo", 9999.0)),
     "/vamen/tempo", "within 20..400"),
]


@pytest.mark.parametrize("dgram, address, needle", [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_bad_input_gets_an_error_and_the_server_lives_on(rig, dgram, address, needle):
    server, engine, client, gate = rig
    reply_address, args = client.ask(dgram)
    assert reply_address == "/vamen/error"
    assert args[0] == address and needle in args[1]
    assert client.ask(message("/vamen/ping")) == ("/vamen/pong", [])
    assert server.running


def test_whole_matrix_in_one_session(rig):
    server, engine, client, gate = rig
    for _, dgram, address, needle in BAD_INPUT:
        reply_address, args = client.ask(dgram)
        assert (reply_address, args[0]) == ("/vamen/error", address) and needle in args[1]
    assert client.ask(message("/vamen/ping")) == ("/vamen/pong", [])
    assert engine.control.tempo == 120.0  # nothing bad got through
    client.send(message("/vamen/state"))
    address, args = client.reply()
    assert address == "/vamen/state" and dict(zip(args[::2], args[1::2]))["latent_dim"] == DIM


def test_future_bundle_never_blocks_the_receive_thread(rig):
    server, engine, client, gate = rig
    when = time.time() + 30.0
    client.send(bundle(when, message("/vamen/tempo", 140.0), message("/vamen/latent/2", 1.0)))
    start = time.monotonic()
    assert client.ask(message("/vamen/ping")) == ("/vamen/pong", [])
    assert time.monotonic() - start < 0.5
    client.send(message("/vamen/state"))  # handled after the bundle: the queue is in order
    client.reply()
    tempo, coord = [cmd for cmd in engine.seen if isinstance(cmd, (c.Tempo, c.SetCoord))]
    assert tempo.bpm == 140.0 and coord.index == 2
    assert tempo.at == pytest.approx(when, abs=1e-3) and coord.at == tempo.at
    assert tempo.source == client.address


def test_ping_answers_while_the_control_thread_is_busy(rig):
    server, engine, client, gate = rig
    client.send(message("/vamen/encode", "/tmp/slow.wav"))  # blocks the control thread
    start = time.monotonic()
    assert client.ask(message("/vamen/ping")) == ("/vamen/pong", [])
    assert time.monotonic() - start < 0.5
    gate.set()
    assert client.reply() == ("/vamen/error", ["/vamen/encode", "cannot encode /tmp/slow.wav: cannot read audio"])


def test_subscribers_get_feedback_from_the_server_port(rig):
    server, engine, client, gate = rig
    client.send(message("/vamen/subscribe"))
    client.send(message("/vamen/state"))
    client.reply()  # the state reply proves the subscribe was applied first
    engine.control.send_feedback(5.0)
    address, args = client.reply()
    assert address == "/vamen/latent" and len(args) == DIM
    assert client.reply() == ("/vamen/beat", [1, 1.0])


def test_full_queue_is_reported_not_blocking(tmp_path):
    commands = queue.Queue(maxsize=1)
    with OscServer(commands, latent_dim=DIM, port=0) as server:
        client = Client(server)
        try:
            client.send(message("/vamen/play"))
            assert client.ask(message("/vamen/stop")) == (
                "/vamen/error", ["/vamen/stop", "server busy: command queue full, command dropped"])
            assert client.ask(message("/vamen/ping")) == ("/vamen/pong", [])
        finally:
            client.close()
    assert commands.get_nowait() == c.Play(source=client.address)


def test_start_close_and_rebind():
    commands = queue.Queue()
    server = OscServer(commands, latent_dim=DIM, port=0)
    assert not server.running
    server.start()
    port = server.port
    assert port != 0 and server.running
    start = time.monotonic()
    server.close()
    server.close()
    assert time.monotonic() - start < 1.0 and not server.running
    again = OscServer(commands, latent_dim=DIM, port=port).start()  # the port was released
    again.close()
    assert server.send("/vamen/pong", [], ("127.0.0.1", port)) is False  # closed: nothing sent


def test_send_never_raises():
    with OscServer(queue.Queue(), latent_dim=DIM, port=0) as server:
        assert server.send("/x", [np.float32(1.5), np.int64(3), "s", True], ("127.0.0.1", 9)) is True
        assert server.send("/x", [object()], ("127.0.0.1", 9)) is False
        assert server.send("/x", [], ("no-such-host.invalid", 9)) is False
        assert server.send("/x", [], None) is False


def test_decode_packet_nested_bundles_and_time_tags():
    when = 2_000_000_000.25
    inner = OscBundleBuilder(osc_types.IMMEDIATELY)
    inner.add_content(message("/b"))
    outer = OscBundleBuilder(when)
    outer.add_content(message("/a", 1))
    outer.add_content(inner.build())
    decoded = decode_packet(outer.build().dgram)
    assert [(m.address, at) for at, m in decoded] == [("/a", pytest.approx(when, abs=1e-6)),
                                                      ("/b", pytest.approx(when, abs=1e-6))]
    assert decode_packet(bundle(osc_types.IMMEDIATELY, message("/c")))[0][0] is None
    assert decode_packet(message("/d").dgram)[0][0] is None


# Sends a burst of pings at the port in argv[1] as soon as it starts, then exits.
BURST = r"""
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ping = b"/vamen/ping\x00,\x00\x00\x00"
for _ in range(2000):
    sock.sendto(ping, ("127.0.0.1", int(sys.argv[1])))
"""


def test_datagrams_the_kernel_dropped_while_vamen_could_not_read_are_counted(rig):
    """A burst that overflows the socket while the receive thread cannot run shows in the state."""
    server, engine, client, gate = rig
    assert server.health()["osc_kernel_dropped"] == 0
    server._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # room for a few datagrams
    switch = sys.getswitchinterval()
    sys.setswitchinterval(30.0)  # this thread keeps the GIL while it spins: the receive thread waits
    try:
        burst = subprocess.Popen([sys.executable, "-c", BURST, str(server.port)])
        deadline = time.monotonic() + 20
        while burst.poll() is None and time.monotonic() < deadline:
            spin = time.monotonic() + 0.2
            while time.monotonic() < spin:
                pass
    finally:
        sys.setswitchinterval(switch)
    assert burst.wait(10) == 0
    time.sleep(0.2)  # the receive thread drains what the kernel kept
    dropped = server.health()["osc_kernel_dropped"]
    assert 0 < dropped < 2000, dropped
    assert client.ask(message("/vamen/ping")) == ("/vamen/pong", [])  # and it reads on
