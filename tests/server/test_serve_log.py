"""Under a flood of malformed OSC, ``vamen serve``'s log grows by a few lines, not one a packet.

A real ``vamen serve`` process with a log file and no rate limit (so every
datagram is decoded and refused, the most the log could be asked to say),
and real UDP: malformed datagrams of every sort from one socket, a ping
after each burst from another, which also proves each burst was read.
"""
import random
import re
import socket
import struct

from clients import Vamen
from oscclient import message

DATAGRAMS = 20_000
BURST = 100  # well within the kernel's receive buffer: none is lost before the server reads it


def malformed(rng: random.Random) -> bytes:
    """One datagram that is not valid OSC, of a sort chosen by ``rng``."""
    kind = rng.randrange(7)
    if kind == 0:  # noise
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if kind == 1:  # a type tag python-osc does not know (it used to log on the root logger)
        return b"/vamen/gain\x00,x\x00\x00" + struct.pack(">f", 0.5)
    if kind == 2:  # an integer argument cut short
        return b"/vamen/quality\x00\x00,i\x00\x00\x00\x01"
    if kind == 3:  # a bundle element longer than the bundle
        return b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 4096) + b"/x\x00\x00"
    if kind == 4:  # bundles nested deeper than anyone needs
        inner = message("/vamen/ping").dgram
        for _ in range(12):
            inner = b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", len(inner)) + inner
        return inner
    if kind == 5:  # an address that is not UTF-8
        return b"/vamen/\xff\xfe\x00\x00,f\x00\x00" + struct.pack(">f", 1.0)
    return b"/vamen/latent\x00\x00\x00,s\x00\x00abc"  # a string without its terminator


def test_a_flood_of_malformed_datagrams_is_a_few_log_lines(tiny_model, tmp_path):
    log = tmp_path / "serve.log"
    server = Vamen(tiny_model, tmp_path, "--sink", "file", "--record", tmp_path / "rec.wav",
                   "--osc-rate", 0, "--log", log)
    flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flooder.bind(("127.0.0.1", 0))
    rng = random.Random(16)
    try:
        before = len(log.read_text().splitlines()) + len(server.output().splitlines())
        for start in range(0, DATAGRAMS, BURST):
            for _ in range(BURST):
                flooder.sendto(malformed(rng), ("127.0.0.1", server.port))
            assert server.client.ask(message("/vamen/ping")) == ("/vamen/pong", [])  # read them all
    finally:
        flooder.close()
        assert server.stop() == 0
    written = log.read_text()
    said = server.output()
    grew = len(written.splitlines()) + len(said.splitlines()) - before
    assert grew < 50, f"{grew} lines for {DATAGRAMS} malformed datagrams:\n{written}\n{said}"
    counts = [int(n.replace(",", "")) for n in re.findall(
        r"OSC: dropped ([\d,]+) malformed packets from 127\.0\.0\.1 in the last", written)]
    assert sum(counts) == DATAGRAMS, written  # every one counted, none lost on the way
    assert "Traceback" not in written + said and "WARNING:root" not in said
    assert all(line.startswith("vamen: ") for line in said.splitlines()), said
