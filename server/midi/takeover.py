"""Soft takeover: a knob that disagrees with the state waits until it catches it.

After a preset load, an OSC message or a restart, a knob's physical position
and the value it controls disagree; acting on the first nudge would make the
sound jump. A :class:`Pickup` ignores the knob until it passes the current
value (crosses it between two messages) or comes within ``window`` of it,
then follows it. While it follows, the state moving on by other means
(another client, a preset) drops it again. Positions are knob travel, 0..1,
so the window means the same on every curve and range.
"""
from __future__ import annotations

#: How close (knob travel, 0..1) counts as caught: about three CC steps.
WINDOW = 3 / 127
#: Seconds the control thread may take to apply what the knob sent before a
#: disagreement means the state moved by other means.
GRACE = 0.3


class Pickup:
    """The takeover state of one knob.

    ``offer(knob, state, now)`` says whether the knob's new position acts.
    ``state`` is where the target sits now in knob travel, or None where
    there is nothing to catch (the knob then always acts).
    """

    def __init__(self, window: float = WINDOW, grace: float = GRACE) -> None:
        self.window = window
        self.grace = grace
        self.engaged = False
        self._last: float | None = None  # the knob's last position seen
        self._sent: float | None = None  # the last position that acted
        self._sent_at = float("-inf")

    def offer(self, knob: float, state: float | None, now: float) -> bool:
        last, self._last = self._last, knob
        if state is None:
            self.engaged = True
        else:
            if (self.engaged and self._sent is not None and now - self._sent_at > self.grace
                    and abs(state - self._sent) > self.window):
                self.engaged = False  # the state moved on without this knob
            if not self.engaged:
                crossed = last is not None and (last - state) * (knob - state) <= 0
                self.engaged = crossed or abs(knob - state) <= self.window
        if self.engaged:
            self._sent, self._sent_at = knob, now
        return self.engaged

    def release(self) -> None:
        """Forget the knob's position (its device went away): it must catch up again."""
        self.engaged = False
        self._last = self._sent = None
