"""The OSC socket: receive datagrams, enqueue commands, answer errors and pings.

One UDP socket, one receive thread. For each datagram the thread decodes the
packet (messages and bundles, nested, with their time tags), turns each
message into commands with :func:`vamen.server.sources.osc.parse` and puts them on
the command queue for the control thread: in order, once the datagrams
waiting have been read (at most :data:`BATCH` commands at a time). It never
touches the control state, torch or the sink, and never sleeps: a bundle
stamped for the future is enqueued at once with ``at`` set, and the control
thread lands it on time.

Before decoding, every datagram goes past a :class:`~vamen.server.sources.guard.Guard`:
senders outside the allow-list and senders over their rate are dropped
there, silently and cheaply, and counted. The command queue is best a
:class:`~vamen.server.sources.fairqueue.FairQueue`, which takes turns between
senders and caps each one's share.

Two things are answered from the receive thread itself, so they work even
while the control thread is busy:

- ``/vamen/ping`` gets ``/vamen/pong``;
- bad input gets ``/vamen/error s address s message``: malformed packets
  (address ``""``, or the address the packet starts with when it has one),
  messages :func:`parse` refuses, and commands dropped because the queue (or
  the sender's share of it) is full; that last reply at most once a second
  per sender, since a sender that fills its share is usually flooding.

Replies leave from the server's own socket, so they come from the port the
client sent to (SuperCollider's ``OSCFunc`` filters on it).

Every refusal is answered, but not every one is logged: the first of each
kind from each host in a minute is, and then one line says how many more
there were ("OSC: dropped 3,412 malformed packets from 10.0.0.7 in the last
60 s"), so a flood of garbage cannot fill the disk or the journal
(:mod:`vamen.server.ops.repeats`).

Contents
--------
OscServer       ``start()``, ``close()``, ``send()``, ``port``
decode_packet   datagram -> list of (time tag or None, OscMessage)
MAX_ELEMENTS, MAX_ARGUMENTS, MAX_MESSAGE_BYTES   the largest packet and message read
"""
from __future__ import annotations

import logging
import os
import queue
import select
import socket
import struct
import threading
import time
import dataclasses
from typing import Any, Callable

import numpy as np
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing import osc_types

from vamen.server.core import commands as c
from vamen.server.core.constants import OSC_PORT
from vamen.server.ops.repeats import OTHER, Repeats
from vamen.server.sources.guard import Guard, exposure
from vamen.server.sources.osc import BadMessage, parse

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = OSC_PORT  # vamen.server.core.constants

# The largest UDP payload; socketserver's default of 8192 would silently
# truncate a long /vamen/latent and turn a clear error into a garbled one.
MAX_DATAGRAM = 65535

_BUNDLE = b"#bundle\x00"
_SIZE = struct.Struct(">i")
_MAX_NESTING = 8
# The type tags python-osc reads. It skips any other with a warning on the root
# logger, one line per packet, and reads the arguments after it misaligned; the
# OSC 1.0 spec says a message with a type tag the receiver does not know is
# discarded, so it is refused here, before python-osc sees it.
_TYPE_TAGS = frozenset("ihfdsbrmtTFN[]")
#: The most messages and bundles one packet may hold: Tidal sends one message a bundle, and
#: 2,000 tiny messages in one datagram took 8 ms to read, stalling every client behind them.
MAX_ELEMENTS = 128
#: The most arguments one message may have: /vamen/chop/roll takes 128, /dirt/play a few dozen.
MAX_ARGUMENTS = 256
#: The largest message read (one /vamen/latent of 32 floats is 180 bytes): python-osc reads
#: strings a byte at a time, and a 60 kB string took 3 ms.
MAX_MESSAGE_BYTES = 8192
# Seconds between two reports of the refusals held back (the first of a kind is said at once).
REFUSAL_REPORT_SECONDS = 60.0
_MALFORMED, _REFUSED, _BUSY, _BROKEN = ("malformed packets", "refused messages",
                                        "commands dropped by a full queue", "packets that broke the reader")

# Room in the kernel for a burst while the receive thread waits for the GIL
# (the kernel caps it at net.core.rmem_max; asking costs nothing).
RECEIVE_BUFFER = 4 << 20
BUSY_REPLY_SECONDS = 1.0
SEND_WARN_SECONDS = 60.0  # a destination that cannot be sent to is logged once a minute at most
# Commands read before they are handed to the control thread, at most. Handing
# them over one by one wakes the control thread for each, and every wake-up
# costs the receive thread the GIL (up to the switch interval) at its next
# socket call: under a flood it then fell behind and the kernel dropped
# datagrams, pings among them, at random. Reading what is waiting first
# keeps the receive thread ahead; a batch is at most this long.
BATCH = 32


def _printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x01``): what a sender wrote stays on one line.

    Addresses and python-osc's complaints quote the packet; unescaped, a
    newline in it would split a refusal in two, or forge a line in the log.
    """
    return text if text.isprintable() else "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _address_of(dgram: bytes) -> str:
    """The address a broken packet starts with, if it starts like a message (printable)."""
    if not dgram.startswith(b"/"):
        return ""
    return _printable(dgram.split(b"\x00", 1)[0][:128].decode("utf-8", "replace"))


def _osc_string(dgram: bytes, start: int) -> tuple[bytes, int]:
    """The bytes of the OSC string at ``start`` (a multiple of 4), and where the next field begins."""
    end = dgram.find(b"\x00", start)
    if end < 0:
        raise ValueError("a string without its terminating zero")
    after = start + ((end - start) // 4 + 1) * 4
    if after > len(dgram):
        raise ValueError("Datagram is too short")
    return dgram[start:end], after


def decode_packet(dgram: bytes) -> list[tuple[float | None, OscMessage]]:
    """Decode one datagram into its messages, each with its bundle's time tag.

    Parameters
    ----------
    dgram : bytes
        A whole OSC packet: a message or a (possibly nested) bundle.

    Returns
    -------
    list of (float or None, OscMessage)
        The time tag in epoch seconds (None for a bare message or a bundle
        stamped "immediately"), in packet order. Past time tags are kept:
        the control thread decides what "late" means.

    Raises
    ------
    BadMessage
        The packet is not valid OSC; unlike python-osc's ``OscBundle`` no
        element is skipped with only a log line. Also a packet larger than
        any vamen takes: more than :data:`MAX_ELEMENTS` messages and bundles,
        a message of more than :data:`MAX_ARGUMENTS` arguments or
        :data:`MAX_MESSAGE_BYTES` bytes.

    The packet's shape (bundle sizes, nesting, each message's address and
    type tags) is checked whole, with ``bytes.find`` and ``struct``, before
    python-osc reads any message a byte at a time: a broken packet costs
    little however much it holds (a bundle of 127 good messages and a bad
    one took 0.4 ms to refuse when each message was read as it came).
    """
    found: list[tuple[float | None, bytes]] = []
    _walk(dgram, 0, None, found)
    out = []
    for at, raw in found:
        try:
            out.append((at, OscMessage(raw)))
        except Exception as exc:  # python-osc raises several types (and IndexError, UnicodeError)
            raise _malformed(raw, exc) from None
    return out


def _malformed(dgram: bytes, exc: Exception) -> BadMessage:
    # python-osc wraps the real reason as the last argument.
    detail = str(exc.args[-1]) if exc.args else type(exc).__name__
    return BadMessage(_address_of(dgram), f"malformed OSC packet: {_printable(detail)}")


def _walk(dgram: bytes, depth: int, at: float | None, found: list) -> None:
    """Check the shape of a packet and collect its messages' ``(time tag, bytes)``; BadMessage if broken."""
    try:
        if len(found) >= MAX_ELEMENTS:
            raise ValueError(f"more than {MAX_ELEMENTS} messages in one packet")
        if dgram.startswith(_BUNDLE):
            if depth >= _MAX_NESTING:
                raise ValueError(f"bundles nested more than {_MAX_NESTING} deep")
            when, index = osc_types.get_date(dgram, len(_BUNDLE))
            inner_at = at if when == osc_types.IMMEDIATELY else float(when)
            elements = 0
            while index < len(dgram):
                if index + 4 > len(dgram):
                    raise ValueError("a bundle element's size is cut short")
                (size,) = _SIZE.unpack_from(dgram, index)
                index += 4
                if size <= 0 or size % 4 or index + size > len(dgram):
                    raise ValueError(f"bundle element of size {size} does not fit the packet")
                elements += 1
                if elements > MAX_ELEMENTS:  # empty bundles hold no message, yet cost a step each
                    raise ValueError(f"more than {MAX_ELEMENTS} elements in one bundle")
                _walk(dgram[index:index + size], depth + 1, inner_at, found)
                index += size
            return
        if not dgram.startswith(b"/"):
            raise ValueError("not an OSC message or bundle")
        if len(dgram) > MAX_MESSAGE_BYTES:
            raise ValueError(f"a message of {len(dgram)} bytes (vamen reads at most {MAX_MESSAGE_BYTES})")
        raw, index = _osc_string(dgram, 0)
        if not raw.decode("utf-8").isprintable():
            raise ValueError("the address holds control characters")
        if index < len(dgram):
            raw, _ = _osc_string(dgram, index)
            if len(raw) > MAX_ARGUMENTS + 1:
                raise ValueError(f"more than {MAX_ARGUMENTS} arguments in one message")
            tags = raw.decode("latin-1")
            unknown = set(tags[1:]) - _TYPE_TAGS if tags.startswith(",") else ()
            if unknown:
                raise ValueError(f"unknown OSC type tag {min(unknown)!r}")
        found.append((at, dgram))
    except BadMessage:
        raise
    except Exception as exc:
        raise _malformed(dgram, exc) from None


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones, which python-osc knows how to type."""
    return value.item() if isinstance(value, np.generic) else value


class OscServer:
    """Receive OSC on UDP and feed typed commands to the control thread.

    Parameters
    ----------
    commands : queue.Queue
        Where commands go. A bounded queue is best: when it is full the
        command is dropped and the sender told, rather than memory growing.
    latent_dim : int
        The model's latent size, for :func:`~vamen.server.sources.osc.parse`.
    host : str
        Interface to bind (``127.0.0.1``: this machine only; ``0.0.0.0``: the
        network, e.g. for Tidal on another laptop).
    port : int
        UDP port; 0 picks a free one, see :attr:`port`.
    guard : Guard, optional
        Allow-list and per-sender rate limits [default: ``Guard()``, everyone
        allowed, 2000 messages a second each].

    Examples
    --------
    >>> q = queue.Queue(maxsize=1024)
    >>> with OscServer(q, latent_dim=16, port=0) as server:  # doctest: +SKIP
    ...     print(server.port)
    """

    def __init__(self, commands: queue.Queue, *, latent_dim: int, host: str = DEFAULT_HOST,
                 port: int = DEFAULT_PORT, guard: Guard | None = None,
                 on_error: Callable[[list], None] | None = None) -> None:
        self.commands = commands
        self.on_error = on_error  # told of every /vamen/error sent (the state's last_error)
        self._send_failures: dict[tuple[str, int], list] = {}  # peer -> [last logged, not logged]
        self.latent_dim = latent_dim
        self.host = host
        self.guard = guard if guard is not None else Guard()
        self._told_busy: dict[tuple[str, int], float] = {}
        self._refusals = Repeats(every=REFUSAL_REPORT_SECONDS, burst=1)  # (what, host) -> said once, then counted
        self._requested_port = port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle -----------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound UDP port (the real one when constructed with port 0)."""
        if self._sock is None:
            return self._requested_port
        return self._sock.getsockname()[1]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "OscServer":
        """Bind the socket and start the receive thread; return self.

        Raises
        ------
        OSError
            The port is taken or the host is not an address of this machine.
        """
        if self._sock is not None:
            raise RuntimeError("OscServer already started")
        family, _, _, _, addr = socket.getaddrinfo(self.host, self._requested_port, type=socket.SOCK_DGRAM)[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind(addr)
        except OSError:
            sock.close()
            raise
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except OSError:
            pass
        # Non-blocking: the receive thread drains every datagram waiting
        # before it hands the commands over (see _serve), and waits in select.
        sock.setblocking(False)
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="vamen-osc", daemon=True)
        self._thread.start()
        log.info("OSC listening on %s:%d", self.host, self.port)
        if (note := self.exposure()) is not None:
            log.info("%s", note)  # the start-up notes say it on the console; this is for --log
        return self

    def close(self) -> None:
        """Stop the receive thread and close the socket; safe to call twice."""
        self._stopping.set()
        if self._thread is not None and self._sock is not None:
            self._wake(self._sock)
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._report(self._refusals.flush())  # a flood's last counts are not lost at the end

    @staticmethod
    def _wake(sock: socket.socket) -> None:
        """Send an empty datagram to our own socket so the receive thread wakes now."""
        host, port = sock.getsockname()[:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        try:
            sock.sendto(b"", (host, port))
        except OSError:
            pass  # the select timeout ends the thread anyway

    def exposure(self) -> str | None:
        """One sentence on who can reach the bound socket, for the start-up notes."""
        host = self._sock.getsockname()[0] if self._sock is not None else self.host
        return exposure(host, self.guard.networks)

    def health(self) -> dict:
        """Drop figures for ``/vamen/state`` (see :meth:`Guard.health`), and ``osc_kernel_dropped``.

        ``osc_kernel_dropped`` is present where the system says it (Linux):
        datagrams the kernel threw away because the socket's buffer was full,
        so vamen never saw them. Under a flood on a busy machine a ping can be
        among them; no reply can be sent to a ping that never arrived.
        """
        figures = self.guard.health()
        if (dropped := self.kernel_drops()) is not None:
            figures["osc_kernel_dropped"] = dropped
        return figures

    def kernel_drops(self) -> int | None:
        """Datagrams the kernel dropped at this socket (its receive buffer was full); None if unknown.

        Read from ``/proc/net/udp`` (or ``udp6``), the row of this socket's
        inode: the last column counts drops since the socket was made.
        """
        sock = self._sock
        if sock is None:
            return None
        try:
            inode = str(os.fstat(sock.fileno()).st_ino)
            table = "/proc/net/udp6" if sock.family == socket.AF_INET6 else "/proc/net/udp"
            with open(table) as rows:
                for row in rows:
                    fields = row.split()
                    if len(fields) >= 13 and fields[9] == inode:
                        return int(fields[-1])
        except (OSError, ValueError):
            pass
        return None

    def __enter__(self) -> "OscServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending -------------------------------------------------------------

    def send(self, address: str, args: list | tuple, to: tuple[str, int] | None) -> bool:
        """Send one message from the server's socket; return whether it left.

        ``to`` None (a command that came from MIDI, say) sends nothing.
        Failures (unknown host, message too long, closed socket) are logged,
        never raised: a bad subscriber must not stop the control thread.
        Safe to call from any thread.
        """
        sock = self._sock
        if to is None or sock is None:
            return False
        try:
            builder = OscMessageBuilder(address=address)
            for arg in args:
                builder.add_arg(_plain(arg))
            sock.sendto(builder.build().dgram, (to[0], int(to[1])))
            return True
        except BlockingIOError:  # the socket is non-blocking: its send buffer is full right now
            log.debug("send buffer full: %s to %s:%s dropped", address, to[0], to[1])
            return False
        except Exception as exc:  # OSError, BuildError, ValueError
            self._send_failed(address, to, exc)
            return False

    def _send_failed(self, address: str, to: tuple[str, int], exc: Exception) -> None:
        """Log a failed send once a SEND_WARN_SECONDS per destination, with the count in between."""
        now = time.monotonic()
        key = (to[0], int(to[1]))
        last = self._send_failures.get(key)
        if last is not None and now - last[0] < SEND_WARN_SECONDS:
            last[1] += 1
            return
        if len(self._send_failures) > 1024:
            self._send_failures.clear()
        more = f" ({last[1]} more failed sends there since the last report)" if last and last[1] else ""
        self._send_failures[key] = [now, 0]
        log.warning("cannot send %s to %s:%s: %s%s", address, to[0], to[1], exc, more)

    def error(self, address: str, message: str, to: tuple[str, int] | None, what: str = _REFUSED) -> None:
        """Reply ``/vamen/error s address s message``; log it if it is the first of its kind a while."""
        host = to[0] if to is not None else "this process"
        if self._refusals.admit((what, host), (address, message)):
            log.info("refused %s from %s: %s", address or "packet", to, message)
        if self.on_error is not None:
            self.on_error([address, message])
        self.send("/vamen/error", [address, message], to)

    def _report(self, held: list) -> None:
        """One line per (kind, host) of refusals that were counted instead of logged."""
        for h in held:
            what, host = h.kind if h.kind != OTHER else ("refusals", "other hosts")
            address, message = h.last
            log.warning("OSC: dropped %s %s from %s in the last %.0f s (the last: %s%s)",
                        f"{h.count + h.said:,}", what, host, h.seconds, f"{address}: " if address else "",
                        message, extra={"summary": True})

    def _resolved(self, cmd: c.Command) -> c.Command:
        """A subscription with its host resolved to an address, here, once; ValueError if it cannot be.

        Resolved on the OSC thread when the subscription comes in (never on
        the audio or control thread, never once a beat), so a host that does
        not resolve is refused at once instead of failing every beat.
        """
        if not isinstance(cmd, (c.Subscribe, c.Unsubscribe)) or cmd.host is None:
            return cmd
        family = self._sock.family if self._sock is not None else socket.AF_INET
        try:
            found = socket.getaddrinfo(cmd.host, cmd.port or 0, family=family, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise ValueError(f"cannot resolve host {cmd.host!r}: {why}") from None
        return dataclasses.replace(cmd, host=found[0][4][0])

    # -- receiving -----------------------------------------------------------

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        admit = self.guard.admit
        full = getattr(self.commands, "full_for", None)  # a FairQueue knows each sender's share
        pending: list[tuple[str, c.Command]] = []
        while not self._stopping.is_set():
            try:
                dgram, sender = sock.recvfrom(MAX_DATAGRAM)
            except BlockingIOError:  # drained: hand the commands over, then wait for more
                self._enqueue(pending)
                self._report(self._refusals.due())
                self.guard.tick()
                try:
                    select.select([sock], [], [], 0.1)  # the timeout bounds how long close() waits
                except (OSError, ValueError):
                    pass
                continue
            except OSError as exc:
                # Closed under us, or an ICMP error surfacing on some platforms.
                if self._stopping.is_set():
                    break
                log.debug("OSC receive error: %s", exc)
                continue
            if self._stopping.is_set():
                break
            source = (sender[0], sender[1])
            if not admit(source):  # decided before decoding: a flood stays cheap
                continue
            if full is not None and full(source):  # its share of the queue is full: why decode
                self._busy(_address_of(dgram), source)
                continue
            try:
                pending.extend(self._read(dgram, source))
            except Exception as exc:  # never let one packet end the server
                if self._refusals.admit((_BROKEN, source[0]), ("", f"{type(exc).__name__}: {exc}")):
                    log.exception("unexpected error handling an OSC packet from %s", sender)
            if len(pending) >= BATCH:
                self._enqueue(pending)
        self._enqueue(pending)

    def handle(self, dgram: bytes, source: tuple[str, int] | None) -> list[c.Command]:
        """Decode, parse, answer and enqueue one datagram; return what was enqueued.

        This is the whole receive path minus the socket read and the
        guard's admission, so it can be driven directly. It never blocks: the
        queue is fed with ``put_nowait``.
        """
        return self._enqueue(self._read(dgram, source))

    def _read(self, dgram: bytes, source: tuple[str, int] | None) -> list[tuple[str, c.Command]]:
        """Decode and parse one datagram, answering pings and errors; ``(address, command)`` pairs."""
        try:
            timed = decode_packet(dgram)
        except BadMessage as exc:
            self.error(exc.address, exc.message, source, _MALFORMED)
            return []
        if len(timed) > 1 and source is not None:
            self.guard.charge(source, len(timed) - 1)
        out: list[tuple[str, c.Command]] = []
        for at, msg in timed:
            try:
                cmds = parse(msg.address, msg.params, source, at, self.latent_dim)
            except BadMessage as exc:
                self.error(exc.address, exc.message, source)
                continue
            for cmd in cmds:
                try:
                    cmd = self._resolved(cmd)
                except ValueError as exc:
                    self.error(msg.address, str(exc), source)
                    continue
                if isinstance(cmd, c.Ping):
                    # Answered here, even for a future bundle: a ping measures
                    # whether the server is alive, not the schedule.
                    self.send("/vamen/pong", [], source)
                    continue
                out.append((msg.address, cmd))
        return out

    def _enqueue(self, pending: list[tuple[str, c.Command]]) -> list[c.Command]:
        """Put commands on the queue, in order; empties ``pending``, returns what went in."""
        queued = []
        for address, cmd in pending:
            try:
                self.commands.put_nowait(cmd)
            except queue.Full:
                self._busy(address, cmd.source)
                continue
            queued.append(cmd)
        pending.clear()
        return queued

    def _busy(self, address: str, source: tuple[str, int] | None) -> None:
        """Count a command the queue refused; tell the sender, once a second at most."""
        self.guard.note_busy(source)
        now = time.monotonic()
        if now - self._told_busy.get(source, -BUSY_REPLY_SECONDS) < BUSY_REPLY_SECONDS:
            return
        if len(self._told_busy) > 1024:
            self._told_busy.clear()
        self._told_busy[source] = now
        self.error(address, "server busy: command queue full, command dropped", source, _BUSY)
