"""The same complaint said once, then counted: a log that stays small under a flood.

A flood of bad packets, or a client stuck in a loop sending one bad command,
must not become a flood of log lines: the disk or the journal fills, and the
line that matters drowns. :class:`Repeats` lets the first ``burst`` lines of
one kind through in each interval of ``every`` seconds, counts the rest, and
once the interval is over hands back one :class:`Held` per kind it held
back, for its user to say in one line: "dropped 3,412 malformed packets
from 10.0.0.7 in the last 60 s".

It logs nothing itself. Its users:

- the OSC receive thread (:mod:`vamen.server.sources.oscserver`), one kind
  per (what went wrong, sending host), so the summary can name the host;
- every handler of vamen's log (:class:`vamen.server.ops.logfile.RepeatFilter`),
  one kind per (logger, level, message template): the net under everything
  else, other libraries' warnings included.

At most ``kinds`` kinds are told apart in one interval; the rest are counted
together under :data:`OTHER`, so a sender that changes its address for every
packet cannot grow memory or the summary.

Contents
--------
Repeats   ``admit`` (say it now, or count it), ``due`` (the summaries of an interval that is over), ``flush``
Held      one kind's summary: kind, count, seconds, last
OTHER     the kind everything beyond ``kinds`` is counted as
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable

#: The kind that kinds beyond the ``kinds`` limit are counted under.
OTHER = "other"


@dataclass(frozen=True)
class Held:
    """What one kind had held back in an interval: ``count`` of them, the ``last`` one's details.

    ``said`` of the same kind were let through in the same interval, so
    ``said + count`` happened in all.
    """

    kind: Hashable
    count: int
    seconds: float
    last: Any
    said: int


class Repeats:
    """Lets ``burst`` of each kind through per ``every`` seconds and counts the rest.

    Parameters
    ----------
    every : float
        Seconds in an interval. An interval starts with the first complaint
        after the last one ended, so a quiet server keeps no timer.
    burst : int
        Complaints of one kind said in full per interval (at least 1).
    kinds : int
        Kinds told apart per interval; further ones count as :data:`OTHER`.
    clock : callable () -> float
        Seconds, monotonic; tests pass their own.

    Safe to call from any thread.
    """

    def __init__(self, every: float = 60.0, burst: int = 1, kinds: int = 16,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = float(every)
        self.burst = max(1, int(burst))
        self.kinds = max(1, int(kinds))
        self._clock = clock
        self._lock = threading.Lock()
        self._said: dict[Hashable, int] = {}  # kind -> said in full this interval
        self._held: dict[Hashable, list] = {}  # kind -> [count, last]
        self._start: float | None = None  # when this interval began (None: no interval running)

    def admit(self, kind: Hashable, last: Any = None, now: float | None = None) -> bool:
        """Whether to say this complaint now; if not, it is counted, and ``last`` kept for the summary."""
        now = self._clock() if now is None else now
        with self._lock:
            if self._start is None:
                self._start = now
            said = self._said.get(kind)
            if said is None:
                if len(self._said) >= self.kinds:
                    kind, said = OTHER, self.burst  # OTHER is only ever counted
                else:
                    said = 0
            if said < self.burst:
                self._said[kind] = said + 1
                return True
            if kind != OTHER:
                self._said.setdefault(kind, said)
            held = self._held.get(kind)
            if held is None:
                self._held[kind] = [1, last]
            else:
                held[0] += 1
                held[1] = last
            return False

    def due(self, now: float | None = None) -> list[Held]:
        """The summaries of the interval, if it is over (then a new one starts); else ``[]``.

        Cheap when nothing is due: one comparison, no lock. Call it often.
        """
        start = self._start
        now = self._clock() if now is None else now
        if start is None or now - start < self.every:
            return []
        return self.flush(now)

    def flush(self, now: float | None = None) -> list[Held]:
        """The summaries held so far, interval over or not (at close); a new interval starts."""
        now = self._clock() if now is None else now
        with self._lock:
            start, held, said = self._start, self._held, self._said
            self._start, self._said, self._held = None, {}, {}
        if start is None:
            return []
        seconds = max(0.0, now - start)
        return [Held(kind, count, seconds, last, said.get(kind, 0)) for kind, (count, last) in held.items()]
