"""Dead air: the output silent or broken while the music says it should sound.

The audio callback measures what it plays (the player's ``audible_at``: the
output sample where the last block above -60 dBFS ended; ``broken``: blocks
that held NaN or inf, played as silence). The control thread asks
:meth:`DeadAir.check` a few times a second with those figures and with what
*should* be heard over the same stretch: the loop queued there, read from
the loop pool (:func:`expected_audible`). Intentional silence is never dead
air: a stop, gain 0, a loop that is quiet by design (a silent preset, the
rests of a chop, the silence between hits) all say "quiet expected".

After ``seconds`` of sound expected and none heard, :class:`DeadAir` says
so once (an alert), counts it, and heals: first the playing bar is rendered
again, then, if the air stays dead for another ``seconds``, the audio
process is replaced (which re-opens the device). When sound is back it
alerts again with how long the dead air lasted.
"""
from __future__ import annotations

import math

import numpy as np

from vamen.server.core.constants import AUDIBLE

#: Seconds of dead air before vamen acts [default of ``dead-air``].
DEAD_AIR_SECONDS = 4.0
#: A loop counts as meant to sound when it peaks this far above the silence line.
EXPECT_ABOVE = AUDIBLE * 4.0


def expected_audible(schedule, pool: np.ndarray, start: int, end: int, gain: float) -> bool:
    """Whether the loops cued over output samples ``[start, end)`` should be heard.

    A loop with NaN or inf in it counts as meant to sound (it is broken, not quiet).
    """
    if end <= start or gain <= 0.0:
        return False
    cues = list(schedule)
    for i, cue in enumerate(cues):
        until = cues[i + 1].start if i + 1 < len(cues) else math.inf
        a, b = max(start, cue.start), min(end, until)
        if a >= b or cue.length <= 0:
            continue
        loop = pool[cue.slot, :cue.length]
        first = (a - cue.bar) % cue.length
        n = min(b - a, cue.length)
        part = loop[first:first + n]
        if len(part) < n:  # the stretch runs over the bar line
            part = np.concatenate([part, loop[:n - len(part)]])
        peak = float(np.max(np.abs(part))) if len(part) else 0.0
        if not peak * gain < EXPECT_ABOVE:  # NaN compares False: broken counts
            return True
    return False


class DeadAir:
    """Counts dead air and decides when to heal (see the module docstring).

    Parameters
    ----------
    seconds : float
        Dead air this long (sound expected, none heard) before acting.
    sample_rate : int
    alert : callable ``(kind, message)``
    heal : callable ``(step)``: step 0 renders the playing bar again, 1 replaces
        the audio process; returns what it did (a few words), or None if it cannot.
    """

    def __init__(self, seconds: float, sample_rate: int, alert, heal):
        self.seconds = seconds
        self.sample_rate = sample_rate
        self.alert = alert
        self.heal = heal
        self.count = 0  # dead airs so far
        self.total = 0.0  # seconds of dead air, in all
        self._checked: int | None = None  # output sample of the last check
        self._dead = 0.0  # seconds of dead air in the stretch now
        self._broken = 0
        self._since: int | None = None  # output sample where the dead air now began, when acted on
        self._step = 0
        self._acted_at = 0.0

    @property
    def active(self) -> bool:
        return self._since is not None

    def check(self, position: int, audible_at: int, broken: int, expect) -> str | None:
        """Look at the output up to ``position``; what was done (for the log), or None.

        ``expect(start, end)`` says whether sound was meant over those samples
        (transport, gain and the loops queued there).
        """
        if self._checked is None or position < self._checked:
            self._checked, self._broken = position, broken
            return None
        start, self._checked = self._checked, position
        if position == start:
            return None  # no block played since (a hung audio process is the watcher's)
        seconds = (position - start) / self.sample_rate
        newly_broken, self._broken = broken > self._broken, broken
        heard = audible_at > start and not newly_broken
        if heard:
            self._dead = 0.0
            if self.active:
                lasted = (audible_at - self._since) / self.sample_rate
                self.total += lasted
                self._since = None
                self.alert("dead-air-over", f"sound is back after {lasted:.1f} s of dead air")
                return "over"
            return None
        if not (newly_broken or expect(start, position)):
            return None  # quiet, as meant: a stop, gain 0, a quiet loop, the rests of a chop
        self._dead += seconds
        if not self.active and self._dead >= self.seconds:
            self.count += 1
            self._since = position - int(self._dead * self.sample_rate)
            what = "broken audio (NaN or inf) in the loop playing" if newly_broken else "silence"
            self._step, self._acted_at = 0, self._dead
            done = self.heal(0)
            self.alert("dead-air", f"{self._dead:.1f} s of {what} while the music plays; {done}")
            return "dead"
        if self.active and self._dead - self._acted_at >= self.seconds:
            self._step, self._acted_at = self._step + 1, self._dead
            done = self.heal(self._step % 2)
            if done:
                self.alert("dead-air", f"still dead after {self._dead:.1f} s; {done}")
            return "healing"
        return None

    def health(self) -> dict:
        return {"dead_air": self.count, "dead_air_seconds": round(self.total, 1),
                "dead_air_now": int(self.active)}
