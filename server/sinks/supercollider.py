"""The ``supercollider`` sink: loops streamed straight into scsynth buffers.

For each loop vamen renders, the sink picks the next of ``count`` buffer
numbers from ``base`` on (a ring: the loop playing and those queued after
it are never overwritten while they may sound), and sends to scsynth::

    /b_alloc  i bufnum  i frames  i 1        (only when the size changes;
                                               waits for /done)
    /b_setn   i bufnum  i start  i count  f ...   in chunks of CHUNK floats,
                                               one UDP datagram each, with a
                                               /sync every SYNC_EVERY chunks
    /sync     i id                           waits for /synced: all there

Then it tells sclang (the patch ``patches/supercollider/vamen.scd``) in an
OSC bundle time-tagged at the wall-clock time the loop starts to sound::

    /vamen/buffer  i bufnum  f beat  f tempo  i frames  i offset  i sample_rate

``bufnum``
    the scsynth buffer that now holds the loop (one bar, mono, first frame
    on the downbeat)
``beat``
    the beat from which it plays (``beat % 4``: where in the bar it takes over)
``tempo``
    BPM it was rendered at
``frames``
    its length: one bar at ``tempo``
``offset``
    the frame that sounds at the time tag (where ``beat`` falls in the bar):
    start PlayBuf there, looping
``sample_rate``
    the rate of the frames (vamen's output rate); play at
    ``sample_rate / SampleRate.ir`` when scsynth runs at another

scsynth may run on another machine: everything goes over UDP to the address
given, and the sink waits for scsynth's replies (on its own thread) so no
datagram overruns the server's socket buffer.
"""
from __future__ import annotations

import itertools
import socket
import time

import numpy as np
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from . import Loop, LoopSink, parse_address, udp_socket

SCSYNTH_PORT = 57110
SCLANG_PORT = 57120
BASE_BUFFER = 1000  # scsynth has 1024 buffers by default; sclang allocates from 0 up
BUFFERS = 8
CHUNK = 1024  # floats per /b_setn: 5 KB per datagram, under any path's fragment limits
SYNC_EVERY = 16  # chunks between /sync round trips (80 KB in flight at most)
REPLY_TIMEOUT = 2.0


def message(address: str, *args) -> bytes:
    """One OSC message as bytes; ints stay ``i``, floats become ``f``."""
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg, "i" if isinstance(arg, (int, np.integer)) else "f"
                        if isinstance(arg, (float, np.floating)) else None)
    return builder.build().dgram


def setn_messages(bufnum: int, audio: np.ndarray, chunk: int = CHUNK) -> list[bytes]:
    """``/b_setn`` datagrams that fill buffer ``bufnum`` with ``audio`` [shape=(frames,)]."""
    out = []
    for start in range(0, len(audio), chunk):
        part = np.asarray(audio[start:start + chunk], dtype=">f4")
        # the type tag string grows by one 'f' per float: build it directly, it is hot here
        address = b"/b_setn\x00"
        tags = b",iii" + b"f" * len(part)
        tags += b"\x00" * (4 - len(tags) % 4)
        ints = np.array([bufnum, start, len(part)], dtype=">i4").tobytes()
        out.append(address + tags + ints + part.tobytes())
    return out


def buffer_notice(bufnum: int, loop: Loop) -> bytes:
    """The ``/vamen/buffer`` bundle for sclang, time-tagged ``loop.when``."""
    msg = OscMessageBuilder("/vamen/buffer")
    msg.add_arg(int(bufnum), "i")
    msg.add_arg(float(loop.beat), "f")
    msg.add_arg(float(loop.tempo), "f")
    msg.add_arg(int(loop.frames), "i")
    msg.add_arg(int(loop.offset), "i")
    msg.add_arg(int(loop.sample_rate), "i")
    bundle = OscBundleBuilder(loop.when)
    bundle.add_content(msg.build())
    return bundle.build().dgram


class SuperColliderSink(LoopSink):
    """Streams loops into scsynth and tells sclang which buffer plays when.

    Parameters
    ----------
    scsynth : str
        ``"HOST:PORT"`` of scsynth [default 127.0.0.1:57110].
    sclang : str or sequence of str
        ``"HOST:PORT"`` of each sclang to notify [default 127.0.0.1:57120].
    base : int
        First buffer number; ``base`` .. ``base + count - 1`` are vamen's.
    count : int
        Buffers in the ring (at least 2: one plays while the next loads).
    **kwargs
        See :class:`~vamen.server.sinks.LoopSink`.
    """

    name = "supercollider"

    def __init__(self, scsynth="127.0.0.1:57110", sclang=("127.0.0.1:57120",),
                 base: int = BASE_BUFFER, count: int = BUFFERS, **kwargs):
        super().__init__(**kwargs)
        self.scsynth = parse_address(scsynth, SCSYNTH_PORT)
        if isinstance(sclang, str):
            sclang = (sclang,)
        self.sclang = [parse_address(a, SCLANG_PORT) for a in sclang]
        self.base = int(base)
        self.count = max(2, int(count))
        self.sizes: dict[int, int] = {}
        self._ring = itertools.cycle(range(self.count))
        self._sync_ids = itertools.count(7001)
        self._sock = udp_socket(self.scsynth[0])
        self._sock.bind(("0.0.0.0" if self.scsynth[0] not in ("127.0.0.1", "localhost")
                         else "127.0.0.1", 0))

    # -- talking to scsynth ------------------------------------------------------
    def _send(self, data: bytes) -> None:
        self._sock.sendto(data, self.scsynth)

    def _await(self, wanted, timeout: float = REPLY_TIMEOUT) -> list:
        """Read scsynth's replies until ``wanted(address, params)``; raises on /fail or silence."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"scsynth at {self.scsynth[0]}:{self.scsynth[1]} did not answer")
            self._sock.settimeout(left)
            try:
                data, _ = self._sock.recvfrom(65536)
            except socket.timeout:
                continue
            try:
                msg = OscMessage(data)
            except Exception:
                continue  # a bundle or noise: scsynth replies with plain messages
            if msg.address == "/fail":
                raise RuntimeError(f"scsynth: {' '.join(map(str, msg.params))}")
            if wanted(msg.address, msg.params):
                return msg.params

    def _sync(self) -> None:
        sync_id = next(self._sync_ids)
        self._send(message("/sync", sync_id))
        self._await(lambda a, p: a == "/synced" and p and p[0] == sync_id)

    def upload(self, bufnum: int, audio: np.ndarray) -> None:
        """Put ``audio`` [shape=(frames,), float32] into scsynth buffer ``bufnum``; returns when it is there."""
        frames = len(audio)
        if self.sizes.get(bufnum) != frames:
            self._send(message("/b_alloc", int(bufnum), int(frames), 1))
            self._await(lambda a, p: a == "/done" and list(p[:2]) == ["/b_alloc", bufnum])
            self.sizes[bufnum] = frames
        for i, datagram in enumerate(setn_messages(bufnum, audio)):
            self._send(datagram)
            if i % SYNC_EVERY == SYNC_EVERY - 1:
                self._sync()
        self._sync()

    def deliver(self, loop: Loop) -> None:
        bufnum = self.base + next(self._ring)
        try:
            self.upload(bufnum, loop.audio)
        except Exception:
            self.sizes.pop(bufnum, None)  # unknown state: allocate again next time
            raise
        notice = buffer_notice(bufnum, loop)
        for address in self.sclang:
            try:
                self._sock.sendto(notice, address)
            except OSError:
                pass

    def close(self) -> None:
        super().close()
        self._sock.close()
