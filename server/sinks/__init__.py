"""Sinks that take whole loops: they hand each rendered bar to another program.

The ``soundcard`` and ``file`` sinks play or record audio blocks. The sinks
here hear about *loops* instead: the render worker calls them (its
``listeners``) with every new slot it publishes, and they pass the loop on
to a patch that plays it itself.

========================  ===================================================
:class:`NotifySink`       writes the loop as a WAV file and sends
                          ``/vamen/loop s path f beat f bars f tempo i bar``
                          (Max, Pure Data, anything that reads a file)
:class:`SuperColliderSink`  streams the loop into scsynth buffers and sends
                          ``/vamen/buffer i bufnum f beat f tempo i frames
                          i offset`` to sclang
========================  ===================================================

Both stamp what they send as an OSC bundle at the wall-clock time the loop
starts to sound (see :class:`LoopSink`), so a patch that honours time tags
switches on the beat, as vamen's own output would.

Contents
--------
Loop                one loop as a sink sees it: audio, timing, wall-clock start
LoopSink            base class: queue in the worker thread, deliver on its own
NotifySink          the ``notify`` sink
SuperColliderSink   the ``supercollider`` sink
build_sinks         the sinks ``ServeOptions`` asks for, wired to an engine
parse_address       ``"HOST:PORT"`` (IPv6 as ``[::1]:PORT``) -> ``(host, port)``
udp_socket          a UDP socket of the family an address needs
"""
from __future__ import annotations

import ipaddress
import logging
import queue
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vamen.server.core.tempo import BEATS_PER_BAR, TempoMap

log = logging.getLogger("vamen")

QUEUE_LOOPS = 16  # loops waiting for delivery; older ones are dropped when a sink falls behind


@dataclass(frozen=True)
class Loop:
    """One rendered bar, as a loop sink receives it.

    Attributes
    ----------
    audio : np.ndarray [shape=(frames,), float32]
        One bar, mono, at ``sample_rate``; its first frame is the downbeat.
    sample_rate : int
        The player's rate (vamen's output rate).
    beat : float
        The beat (quarter notes since the start) from which this loop plays.
    tempo : float
        BPM the loop was rendered at (``frames`` is one bar at it).
    offset : int
        The frame of ``audio`` that sounds at ``when``: where ``beat`` falls
        in the bar.
    when : float
        Wall-clock time (``time.time()`` seconds) at which ``beat`` sounds on
        vamen's own output, output latency included.
    draft : bool
        A fast render for an immediate change; a full-quality one follows.
    """

    audio: np.ndarray
    sample_rate: int
    beat: float
    tempo: float
    offset: int
    when: float
    draft: bool = False

    @property
    def bar(self) -> int:
        """Bar number (0 is the first) that ``beat`` falls in."""
        return int(self.beat // BEATS_PER_BAR)

    @property
    def frames(self) -> int:
        return len(self.audio)


def parse_address(text: str, default_port: int) -> tuple[str, int]:
    """``"HOST:PORT"``, ``"HOST"``, ``":PORT"``, ``"[::1]:PORT"`` or ``"::1"`` -> ``(host, port)``.

    IPv6 addresses are written in brackets when a port follows (RFC 3986);
    a bare address with several colons is taken whole, as an address.
    """
    text = str(text).strip()
    try:
        ipaddress.ip_address(text)  # "::1", "fe80::2": an address, no port
        return text, default_port
    except ValueError:
        pass
    parts = urllib.parse.urlsplit("//" + text)
    try:
        number = parts.port if parts.port is not None else default_port
    except ValueError:  # not a number, or beyond 65535
        raise ValueError(f"{text!r} is not HOST:PORT") from None
    if parts.netloc != text or parts.path or parts.query or parts.fragment:
        raise ValueError(f"{text!r} is not HOST:PORT")
    if not 0 < number < 65536:
        raise ValueError(f"{text!r}: port {number} is out of range")
    return parts.hostname or "127.0.0.1", number


def udp_socket(host: str) -> socket.socket:
    """A UDP socket of the family ``host`` needs (IPv6 for an address with colons)."""
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)


class LoopSink:
    """Base of the loop sinks: called on the worker thread, delivers on its own.

    Calling the sink (what :class:`~vamen.server.render.worker.RenderWorker` does
    with each new slot) only works out the loop's wall-clock start and puts
    it on a bounded queue; :meth:`deliver` runs on the sink's thread. When
    the patch's side is slow the oldest waiting loops are dropped, never the
    render worker held up.

    Parameters
    ----------
    sample_rate : int
        The player's rate.
    position : callable () -> int
        The player's output position (the sample the next block starts at).
    latency : callable () -> float
        The output's latency in seconds (what vamen's own output adds).
    lead : float
        Seconds added to every time stamp: time for the patch to load a loop
        before it must sound. Playback through the patch trails vamen's own
        output by this much.
    """

    name = "loops"

    def __init__(self, sample_rate: int, position: Callable[[], int],
                 latency: Callable[[], float] = lambda: 0.0, lead: float = 0.0):
        self.sample_rate = sample_rate
        self.position = position
        self.latency = latency
        self.lead = lead
        self.sent = 0
        self.dropped = 0
        self.error = ""
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_LOOPS)
        self._thread: threading.Thread | None = None

    def loop_for(self, slot, audio: np.ndarray, tempo_map: TempoMap) -> Loop:
        """The :class:`Loop` for a worker slot (``slot.cue`` in output samples)."""
        cue = slot.cue
        now = time.time()
        ahead = (cue.start - self.position()) / self.sample_rate
        return Loop(np.asarray(audio, dtype=np.float32), self.sample_rate, float(slot.beat),
                    float(slot.tempo), int((cue.start - cue.bar) % max(1, cue.length)),
                    now + ahead + float(self.latency() or 0.0) + self.lead, bool(slot.draft))

    def __call__(self, slot, audio: np.ndarray, tempo_map: TempoMap) -> None:
        loop = self.loop_for(slot, audio, tempo_map)
        while True:
            try:
                self._queue.put_nowait(loop)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def start(self) -> "LoopSink":
        self._thread = threading.Thread(target=self._run, name=f"vamen-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            loop = self._queue.get()
            if loop is None:
                return
            try:
                self.deliver(loop)
                self.sent += 1
            except Exception as exc:  # the patch's side failing must not stop vamen
                self.error = f"{self.name}: {type(exc).__name__}: {exc}"
                log.warning("%s", self.error)

    def deliver(self, loop: Loop) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        if self._thread is not None:
            while True:
                try:
                    self._queue.put(None, timeout=0.1)
                    break
                except queue.Full:
                    try:
                        self._queue.get_nowait()
                    except queue.Empty:
                        pass
            self._thread.join(timeout=5)
            self._thread = None

    def health(self) -> dict:
        return {f"{self.name}_sent": self.sent, f"{self.name}_dropped": self.dropped}


def build_sinks(options, engine) -> list[LoopSink]:
    """The loop sinks ``options.sinks`` names, started, for ``engine``'s player.

    ``engine`` gives ``player`` (its position and rate) and ``output`` (its
    ``latency``, read at each loop since the output starts later).
    """
    sinks: list[LoopSink] = []
    player = engine.player

    def position() -> int:
        return player.position

    def latency() -> float:
        return float(getattr(engine.output, "latency", 0.0) or 0.0)

    common = dict(sample_rate=player.sample_rate, position=position, latency=latency)
    if "notify" in options.sinks:
        from .notify import NotifySink

        sinks.append(NotifySink(options.notify, options.notify_dir, **common).start())
    if "supercollider" in options.sinks:
        from .supercollider import SuperColliderSink

        sinks.append(SuperColliderSink(options.scsynth, options.sclang,
                                       base=options.sc_buffers, **common).start())
    return sinks
