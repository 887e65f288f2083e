"""Who may talk to the OSC port, and how fast: the allow-list and per-sender rate limits.

The receive thread asks :meth:`Guard.admit` about every datagram *before* it
decodes anything, so a packet that is dropped costs a dict lookup and a few
float operations, never an OSC parse: a flood cannot buy itself CPU time by
being expensive to read.

Senders
    A sender is a ``(host, port)`` pair, the address replies go to. Limits
    are per sender, not per host, because the clients of one machine
    (SuperCollider, Tidal, a Pd patch) share a host address and only one of
    them may be misbehaving. A hostile sender can change ports at will; the
    allow-list is the defence against hostile networks, the rate limit the
    defence against buggy or runaway clients. At most :data:`MAX_SENDERS`
    senders are tracked (the least recently heard is forgotten first), so a
    scan of every port cannot grow memory.

Rate
    Each sender has a token bucket: ``rate`` tokens a second up to ``burst``.
    A datagram costs one token when it arrives; once decoded, each message of
    a bundle beyond the first costs one more (the bucket may go into debt),
    so a bundle cannot carry a flood past the limit. ``rate`` 0 turns all
    limits off.

Total
    Per-sender limits alone let many flooders together outrun the control
    thread (four at 2000 a second each kept it busy all the time on two
    cores, and then the receive thread, which gives up the GIL at every
    socket call, fell behind and the kernel dropped datagrams at random,
    pings among them). So the *heavy* senders, those whose bucket is below
    half full because they send near their limit, split ``total`` messages a
    second evenly between them: with four heavy senders and a total of 4000,
    each refills at 1000 a second instead of ``rate``. Light senders (a
    performer, a ping every second, ``vamen status``) keep their own
    ``rate``: however many clients flood, the others are not held back, and
    the control thread keeps time to spare.

Allow-list
    ``None`` lets everyone in. Otherwise only hosts inside one of the
    networks, plus this machine's own loopback addresses ``127.0.0.1`` and
    ``::1`` (so ``vamen status`` and local clients keep working whatever the
    list says), get through; the rest are dropped silently and counted.
    IPv4 addresses mapped into IPv6 (a server bound to ``::``) are checked
    as IPv4. A server bound beyond loopback without a list still starts (a
    performer with Tidal on a second laptop should not need one), but
    :func:`exposure` says at start-up that anyone who can reach it can play
    it, and how to limit that.

Drops
    Counted per sender and reason (``rate``, ``load`` for a heavy sender
    held back by the total, ``denied``, ``busy`` for a command refused
    because the sender's share of the command queue was full), and logged once per sender every :data:`REPORT_SECONDS`, never
    once per packet. Reports list at most :data:`MAX_LISTED` senders by
    name, the rest as ``other``, so ``/vamen/state`` and the Prometheus
    labels stay small.

Contents
--------
Guard           ``admit``, ``charge``, ``allows``, ``note_busy``, ``health``, ``drops``, ``senders``
parse_networks  ``["192.168.1.0/24", "10.0.0.7"]`` -> networks, or ValueError
exposure        one sentence about who can reach a bound address
DEFAULT_RATE, DEFAULT_BURST, DEFAULT_TOTAL
"""
from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from typing import Callable, Iterable

log = logging.getLogger(__name__)

#: Messages a second one sender may send (vamen.toml ``osc-rate``).
DEFAULT_RATE = 2000.0
#: Messages one sender may send at once after a quiet spell (``osc-burst``).
DEFAULT_BURST = 500
#: Messages a second the heavy senders together may send (``osc-total``).
DEFAULT_TOTAL = 4000.0
MAX_SENDERS = 1024
MAX_LISTED = 16
REPORT_SECONDS = 10.0
HEAVY_SECONDS = 1.0  # a sender counts as heavy this long after it last was
RECOUNT_SECONDS = 0.1
OTHER = "other"
_OTHER = (OTHER, 0)

Sender = tuple[str, int]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
_REASONS = {"rate": "over its rate limit", "denied": "not on the allow-list",
            "load": "one of the heaviest senders while all of them were over osc-total",
            "busy": "its share of the command queue was full"}


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``"192.168.1.0/24"``, ``"10.0.0.7"``, ``"::1"`` ... -> networks.

    Raises
    ------
    ValueError
        One sentence naming the entry that is not an address or network.
    """
    out = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(f"allow: {entry!r} is not an IP address or network "
                             "(e.g. 192.168.1.0/24)") from None
    return tuple(out)


def _address(host: str):
    """An ip_address for a sender's host (scope ids stripped, mapped IPv4 unwrapped), or None."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip


def exposure(bound_host: str, networks: tuple[Network, ...] | None) -> str | None:
    """One sentence for the start-up notes about who can reach ``bound_host``, or None.

    Nothing to say for a loopback address without an allow-list: only this
    machine can send.
    """
    ip = _address(bound_host)
    loopback = ip is not None and ip.is_loopback
    if networks is not None:
        if not networks:
            return "OSC accepts only this machine (the allow-list is empty)"
        return f"OSC accepts only this machine and {', '.join(str(n) for n in networks)}"
    if loopback:
        return None
    return (f"OSC on {bound_host} answers anyone who can reach this machine; "
            "allow = [\"192.168.1.0/24\"] in vamen.toml (or --allow NET) limits who may play it")


def _name(sender: Sender) -> str:
    return OTHER if sender == _OTHER else f"{sender[0]}:{sender[1]}"


class _Bucket:
    __slots__ = ("tokens", "stamp", "heavy_at")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        self.heavy_at = -math.inf  # when it last sent near its limit


class _Count:
    __slots__ = ("count", "pending")

    def __init__(self) -> None:
        self.count = 0  # since start
        self.pending = 0  # since the last report


class Guard:
    """Allow-list and per-sender token buckets for the OSC receive thread.

    Parameters
    ----------
    allow : iterable of str or networks, optional
        Networks that may send; None (the default) lets everyone in.
    rate : float
        Messages a second per sender; 0 turns every limit off (the total too).
    burst : float, optional
        Bucket size [default: :data:`DEFAULT_BURST`, at least one].
    total : float
        Messages a second all heavy senders together may send; 0: no total.
    clock : callable () -> float
        Seconds, monotonic; tests pass their own to step time exactly.

    ``admit``, ``charge`` and ``note_busy`` are the receive thread's; ``health``,
    ``drops`` and ``allows`` may be called from any thread.
    """

    def __init__(self, allow: Iterable | None = None, rate: float = DEFAULT_RATE,
                 burst: float | None = None, total: float = DEFAULT_TOTAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0 or total < 0 or (burst is not None and burst < 0):
            raise ValueError("osc-rate, osc-burst and osc-total must be >= 0")
        self.networks = None if allow is None else parse_networks(allow)
        self.rate = float(rate)
        self.burst = max(1.0, float(DEFAULT_BURST if burst is None else burst))
        self.total = float(total)
        self._heavy = self.burst / 2  # a sender whose bucket is below half full
        self._heavy_count = 0
        self._recount_at = clock()
        self._clock = clock
        self._buckets: OrderedDict[Sender, _Bucket] = OrderedDict()
        self._verdicts: dict[str, bool] = {}
        self._counts: dict[tuple[Sender, str], _Count] = {}  # (sender, reason) -> drops
        self._lock = threading.Lock()  # guards the shape of _counts, not the per-packet increments
        self.totals = {reason: 0 for reason in _REASONS}
        self._next_report = clock() + REPORT_SECONDS
        self._reported = 0  # drops counted at the last report

    # -- the receive thread ----------------------------------------------------

    def admit(self, sender: Sender) -> bool:
        """Whether a datagram from ``sender`` may be decoded; charges it one token."""
        bucket = self._buckets.get(sender)
        if bucket is None:
            if not self.allows(sender[0]):
                self._drop(sender, "denied")
                return False
            bucket = self._new(sender)
        else:
            self._buckets.move_to_end(sender)
        if self.rate <= 0:
            return True
        now = self._clock()
        rate = self.rate
        if self.total > 0 and bucket.tokens < self._heavy:  # sending near its limit: a heavy sender
            if bucket.heavy_at <= now - HEAVY_SECONDS:
                self._heavy_count += 1  # newly heavy: counted now, the recount corrects later
            bucket.heavy_at = now
            share = self.total / max(1, self._heavy_count)  # the heavy ones split the total evenly
            if share < rate:
                rate = share
            if now >= self._recount_at:
                self._recount(now)
        tokens = bucket.tokens + (now - bucket.stamp) * rate
        bucket.tokens = tokens if tokens < self.burst else self.burst
        bucket.stamp = now
        if bucket.tokens < 1.0:
            self._drop(sender, "rate" if rate == self.rate else "load", now)
            return False
        bucket.tokens -= 1.0
        return True

    def _recount(self, now: float) -> None:
        """How many senders were heavy in the last :data:`HEAVY_SECONDS`."""
        since = now - HEAVY_SECONDS
        self._heavy_count = sum(1 for b in self._buckets.values() if b.heavy_at > since)
        self._recount_at = now + RECOUNT_SECONDS

    def charge(self, sender: Sender, messages: int) -> None:
        """Charge an admitted datagram for its extra messages (a bundle's); may leave a debt."""
        bucket = self._buckets.get(sender)
        if bucket is not None and self.rate > 0 and messages > 0:
            bucket.tokens -= messages

    def note_busy(self, sender: Sender | None) -> None:
        """Count a command refused because the sender's share of the queue was full."""
        if sender is not None:
            self._drop(sender, "busy")

    def _new(self, sender: Sender) -> _Bucket:
        if len(self._buckets) >= MAX_SENDERS:
            self._buckets.popitem(last=False)
        bucket = self._buckets[sender] = _Bucket(self.burst, self._clock())
        return bucket

    def _drop(self, sender: Sender, reason: str, now: float | None = None) -> None:
        self.totals[reason] += 1
        key = (sender, reason)
        count = self._counts.get(key)
        if count is None:
            with self._lock:
                if len(self._counts) >= MAX_LISTED:
                    key = (_OTHER, reason)
                count = self._counts.setdefault(key, _Count())
        count.count += 1
        count.pending += 1
        now = self._clock() if now is None else now
        if now >= self._next_report:
            self.report(now)

    def report(self, now: float | None = None) -> list[str]:
        """Log (and return) one line per sender dropped from since the last report."""
        now = self._clock() if now is None else now
        elapsed = REPORT_SECONDS + now - self._next_report
        self._next_report = now + REPORT_SECONDS
        self._reported = sum(self.totals.values())
        lines = []
        with self._lock:
            counts = list(self._counts.items())
        for (sender, reason), count in counts:
            if count.pending:
                name = _name(sender)
                lines.append(f"OSC: dropped {count.pending} packets from {name} in the last "
                             f"{elapsed:.0f} s ({_REASONS[reason]})")
                count.pending = 0
        for line in lines:
            log.warning("%s", line, extra={"summary": True})  # a summary already: the log lets it through
        return lines

    def tick(self) -> None:
        """Report the drops of an interval that is over, though nothing has been dropped since.

        Reports are otherwise made by the next drop, so the last interval of a
        flood would wait for the next flood. The receive thread calls this
        when it has nothing to read: a comparison, unless a report is due.
        """
        if self._clock() >= self._next_report and sum(self.totals.values()) != self._reported:
            self.report()

    # -- any thread ------------------------------------------------------------

    def allows(self, host: str) -> bool:
        """Whether ``host`` may send at all (the answer is remembered per host)."""
        if self.networks is None:
            return True
        verdict = self._verdicts.get(host)
        if verdict is None:
            ip = _address(host)
            verdict = ip is not None and (ip in _LOOPBACK or any(
                ip.version == net.version and ip in net for net in self.networks))
            if len(self._verdicts) >= MAX_SENDERS:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        return verdict

    def senders(self) -> list[str]:
        """``"host:port"`` of the senders heard lately, the latest first (at most :data:`MAX_LISTED`)."""
        for _ in range(3):  # the receive thread may add one while this reads
            try:
                heard = list(self._buckets)
                break
            except RuntimeError:
                continue
        else:
            return []
        return [_name(sender) for sender in reversed(heard[-MAX_LISTED:])]

    def drops(self) -> list[tuple[str, str, int]]:
        """``("host:port", reason, count)`` since start, most first.

        At most :data:`MAX_LISTED` named rows, plus one ``other`` row per reason.
        """
        with self._lock:
            rows = [(_name(sender), reason, c.count) for (sender, reason), c in self._counts.items()]
        return sorted(rows, key=lambda row: -row[2])

    def health(self) -> dict:
        """``osc_dropped`` (all reasons), ``osc_denied``, ``osc_busy`` and ``osc_dropped_by``.

        ``osc_dropped`` counts every reason: over the rate, over the shared
        total, not allowed, and commands refused by a full queue.

        ``osc_dropped_by`` is ``"host:port=count,..."``, the senders with the
        most drops first (at most eight), for ``/vamen/state``.
        """
        by_sender: dict[str, int] = {}
        for name, _, count in self.drops():
            by_sender[name] = by_sender.get(name, 0) + count
        top = sorted(by_sender.items(), key=lambda item: -item[1])[:8]
        return {"osc_dropped": sum(self.totals.values()), "osc_denied": self.totals["denied"],
                "osc_busy": self.totals["busy"],
                "osc_dropped_by": ",".join(f"{name}={count}" for name, count in top)}
