"""Underruns and late loops, summarised in one log line now and then.

The audio callback never logs: it counts. The control thread asks
:meth:`TroubleReport.check` once a beat, and at most once a minute a line
says what went wrong since the last one (a non-real-time JACK once gave a
line every 2 s: 270 lines in 9.5 minutes).
"""
from __future__ import annotations

import logging
import math
import os
import time

log = logging.getLogger("vamen")

def rss_of(pid: int | str = "self") -> float | None:
    """Resident memory of a process in MiB (Linux /proc), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc, else psutil)."""
    rss = rss_of()
    if rss is None:
        import psutil

        rss = psutil.Process().memory_info().rss / 2**20
    return rss


#: The shortest time between two trouble lines.
REPORT_SECONDS = 60.0


def counted(n: int, noun: str) -> str:
    """``1 underrun``, ``3 underruns``: a count with its noun in the right number."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


class TroubleReport:
    """Remembers what was reported, so each line tells only what is new.

    Parameters
    ----------
    card : bool
        Whether a sound card asks for the audio. Underruns are the card's:
        blocks it asked for that were not ready. With no card (the timer
        that feeds a recording) they mean nothing and are not reported; late
        loops (renders that missed their beat, so the loop before played
        on) are vamen's own, and always are.
    """

    def __init__(self, card: bool, every: float = REPORT_SECONDS):
        self.card = card
        self.every = every
        self._reported = (0, 0)
        self._at = -math.inf

    def check(self, underruns: int, late: int, now: float | None = None) -> str | None:
        """Log new underruns and late loops in one line, if it is time; the line or None."""
        now = time.monotonic() if now is None else now
        if now - self._at < self.every:
            return None
        counts = (underruns if self.card else 0, late)
        new = (counts[0] - self._reported[0], counts[1] - self._reported[1])
        if not any(new):
            return None
        since = "since the start" if self._at == -math.inf else f"in the last {now - self._at:.0f} s"
        parts = []
        if new[0]:
            parts.append(f"{counted(new[0], 'underrun')} (the sound card asked for audio before it "
                         f"was ready; {counts[0]} in all)")
        if new[1]:
            parts.append(f"{counted(new[1], 'late loop')} (a render missed its beat and the loop before "
                         f"played on; {counts[1]} in all)")
        line = f"{' and '.join(parts)} {since}"
        log.warning("%s", line)
        self._reported, self._at = counts, now
        return line
