"""The timer output (the file and network sinks' clock) keeps time through late wake-ups.

Tidal's notes and Link's bar lines land on output samples through the
player's clock estimate (when sample 0 was due). The timer output catches up
on a late wake-up without losing a sample, so the estimate must hold through
one: a late wake is counted as an underrun, and a note lands where it did.
"""
import time

from vamen.server.audio.output import TimerOutput
from vamen.server.audio.player import Player

RATE, BLOCK = 48000, 512  # a block is 10.7 ms
STALL = 0.03  # every so often the timer's thread is away for this long: the next wake is late


class _Stalling(Player):
    """The real player; every ``every``-th block its thread is away ``STALL`` s after filling."""

    def __init__(self, every: int):
        super().__init__(RATE, 4096, slots=2)
        self.every, self.first, self.epochs = every, None, []

    def fill(self, out, frames, late=False, resync=None):
        if self.first is None:
            self.first = time.monotonic()  # block 0 was due (within a wake-up's delay) now
        super().fill(out, frames, late, resync)
        self.epochs.append(self.epoch)
        if self.blocks % self.every == 0:
            time.sleep(STALL)


def test_a_late_wake_up_is_counted_and_the_clock_estimate_holds():
    player = _Stalling(every=15)
    output = TimerOutput(player, blocksize=BLOCK).start()
    try:
        time.sleep(1.5)
    finally:
        output.close()
    assert player.underruns >= 5  # each stall made a late wake-up, and each is counted
    settled = player.epochs[10:]
    # Through every late wake the estimate stayed within 2 ms of the first (on-time) block's
    # due time: a note mapped onto the output lands within 2 ms of where it belongs.
    # (Restarted at each late wake, it jumped by the lateness, 20-30 ms.)
    worst = max(abs(epoch - player.first) for epoch in settled)
    assert worst < 0.002, f"the clock estimate moved {1000 * worst:.1f} ms at a late wake-up"
