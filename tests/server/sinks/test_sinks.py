"""The loop sinks without the programs they feed: what they write and send."""
import socket
import threading

import numpy as np
import pytest
import soundfile as sf
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from vamen.server.core.tempo import TempoMap
from vamen.server.audio.player import Cue
from vamen.server.sinks import parse_address
from vamen.server.sinks.notify import NotifySink
from vamen.server.sinks.supercollider import SuperColliderSink, setn_messages
from vamen.server.render.worker import Slot

RATE = 48000


def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)
    return sock


def slot(beat=5.0, length=96000):
    start = int(beat * RATE / 2)
    return Slot(beat, np.zeros(8, np.float32), 120.0, Cue(0, start, int(4 * RATE / 2), length))


def test_parse_address():
    assert parse_address("10.0.0.2:9000", 1) == ("10.0.0.2", 9000)
    assert parse_address(":9000", 1) == ("127.0.0.1", 9000)
    assert parse_address("host", 57150) == ("host", 57150)


@pytest.mark.parametrize("text, expected", [
    ("[::1]:57120", ("::1", 57120)),
    ("::1", ("::1", 57150)),
    ("[::1]", ("::1", 57150)),
    ("fe80::2", ("fe80::2", 57150)),
    ("[2001:db8::7]:9000", ("2001:db8::7", 9000)),
])
def test_parse_address_reads_ipv6(text, expected):
    assert parse_address(text, 57150) == expected


@pytest.mark.parametrize("text", ["host:port", "host:70000", "host:0", "[::1]:x", "a/b:9"])
def test_parse_address_refuses_what_is_not_host_port(text):
    with pytest.raises(ValueError):
        parse_address(text, 57150)


def test_notify_sends_to_an_ipv6_client(tmp_path, rng):
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::1", 0))
    sock.settimeout(5)
    sink = NotifySink([f"[::1]:{sock.getsockname()[1]}"], tmp_path, files=3,
                      sample_rate=RATE, position=lambda: 0, latency=lambda: 0.01).start()
    try:
        sink(slot(), rng.uniform(-0.5, 0.5, 96000).astype(np.float32), TempoMap.start(RATE, 120.0))
        assert OscBundle(sock.recvfrom(65536)[0]).content(0).address == "/vamen/loop"
    finally:
        sink.close()
        sock.close()


def test_notify_writes_cycling_files_and_sends_a_stamped_bundle(tmp_path, rng):
    sock = listener()
    sink = NotifySink([f"127.0.0.1:{sock.getsockname()[1]}"], tmp_path, files=3,
                      sample_rate=RATE, position=lambda: 0, latency=lambda: 0.01).start()
    audio = rng.uniform(-0.5, 0.5, 96000).astype(np.float32)
    tempo_map = TempoMap.start(RATE, 120.0)
    try:
        for _ in range(5):
            sink(slot(), audio, tempo_map)
            bundle = OscBundle(sock.recvfrom(65536)[0])
            msg = bundle.content(0)
            assert msg.address == "/vamen/loop"
            path, beat, bars, tempo, bar = msg.params
            assert (beat, bars, tempo, bar) == (5.0, 1.0, 120.0, 1)
            data, rate = sf.read(path, dtype="float32")
            assert rate == RATE and np.abs(data - audio).max() < 1e-4
    finally:
        sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop-0.wav", "loop-1.wav", "loop-2.wav"]


def test_notify_stamp_is_when_the_loop_sounds():
    sink = NotifySink(["127.0.0.1:9"], None, sample_rate=RATE, position=lambda: RATE,
                      latency=lambda: 0.25)
    import time

    loop = sink.loop_for(slot(beat=5.0), np.zeros(96000, np.float32), TempoMap.start(RATE, 120.0))
    # beat 5 is 2.5 s in at 120 BPM; the player is at 1 s; the output adds 0.25 s
    assert abs(loop.when - (time.time() + 1.5 + 0.25)) < 0.05
    assert loop.offset == RATE // 2  # beat 5 is one beat into its bar
    sink.close()


class FakeScsynth(threading.Thread):
    """Answers /b_alloc with /done and /sync with /synced; keeps the buffers' contents."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = listener()
        self.buffers = {}
        self.stopped = False

    def run(self):
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                continue
            msg = OscMessage(data)
            reply = None
            if msg.address == "/b_alloc":
                self.buffers[msg.params[0]] = np.zeros(msg.params[1], np.float32)
                reply = ("/done", ["/b_alloc", msg.params[0]])
            elif msg.address == "/b_setn":
                buf, start, count, *values = msg.params
                self.buffers[buf][start:start + count] = values
            elif msg.address == "/sync":
                reply = ("/synced", [msg.params[0]])
            if reply:
                from pythonosc.osc_message_builder import OscMessageBuilder

                b = OscMessageBuilder(reply[0])
                for a in reply[1]:
                    b.add_arg(a)
                self.sock.sendto(b.build().dgram, peer)


def test_supercollider_sink_fills_a_ring_of_buffers_then_tells_sclang(rng):
    scsynth, sclang = FakeScsynth(), listener()
    scsynth.start()
    sink = SuperColliderSink(f"127.0.0.1:{scsynth.sock.getsockname()[1]}",
                             [f"127.0.0.1:{sclang.getsockname()[1]}"], base=100, count=2,
                             sample_rate=RATE, position=lambda: 0).start()
    tempo_map = TempoMap.start(RATE, 120.0)
    try:
        for i in range(3):
            audio = rng.uniform(-1, 1, 96000).astype(np.float32)
            sink(slot(), audio, tempo_map)
            msg = OscBundle(sclang.recvfrom(65536)[0]).content(0)
            assert msg.address == "/vamen/buffer"
            bufnum, beat, tempo, frames, offset, rate = msg.params
            assert bufnum == 100 + i % 2 and (beat, tempo, frames, offset, rate) == (5.0, 120.0, 96000, RATE // 2, RATE)
            assert np.array_equal(scsynth.buffers[bufnum], audio)
    finally:
        sink.close()
        scsynth.stopped = True
    assert all(len(d) <= 65507 for d in setn_messages(1, np.zeros(96000, np.float32)))
