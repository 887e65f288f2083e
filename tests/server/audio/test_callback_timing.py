"""The audio process's callback tells a slow callback that worked from one that was off the CPU.

A callback over half its block is slow by the wall clock; only when its
thread's own CPU time is over too was vamen's code busy. Slow by the wall
clock alone, the thread was off the CPU: preempted, its virtual CPU taken by
the host, or waiting (for the GIL); ``vamen bench soak --peer`` does not call
those vamen's code.
"""
import time

import numpy as np
import sounddevice as sd  # noqa: F401  (CallbackFlags, as PortAudio's callback gets them)

from vamen.server.audio import audiochild as ac
from vamen.server.audio.player import Player

RATE, FRAMES = 48000, 256  # half a block: 2.67 ms


class _Late(Player):
    """The real player, then ``hold`` seconds more: spent working, or asleep."""

    def __init__(self, hold: float, busy: bool):
        super().__init__(RATE, 4096, slots=2)
        self.hold, self.busy = hold, busy

    def fill(self, out, frames, late=False):
        super().fill(out, frames, late)
        if not self.busy:
            time.sleep(self.hold)
            return
        end = time.thread_time() + self.hold  # this much CPU, however long a busy machine takes
        while time.thread_time() < end:
            pass


def _run(player, blocks=3):
    layout = ac.Layout.for_rate(RATE, 2, 2, 4096)
    status, _, tap = layout.views(bytearray(layout.size))
    callback = ac.Callback(player, status, tap)
    out = np.zeros((FRAMES, 2), np.float32)
    for _ in range(blocks):
        callback(out, FRAMES, None, sd.CallbackFlags())
    return status


def test_a_busy_slow_callback_is_slow_in_cpu_time_too():
    status = _run(_Late(0.006, busy=True))
    assert status[ac.SLOW] == 3 and status[ac.SLOW_CPU] == 3
    assert status[ac.CALLBACK_SUM] >= 3 * 0.006 and status[ac.CALLBACK_MAX] >= 0.006


def test_a_callback_off_the_cpu_is_slow_by_the_wall_clock_only():
    status = _run(_Late(0.006, busy=False))
    assert status[ac.SLOW] == 3 and status[ac.SLOW_CPU] == 0


def test_a_quick_callback_is_not_slow_in_cpu_time():
    status = _run(_Late(0.0, busy=True), blocks=20)
    # (by the wall clock a loaded machine may preempt one; its CPU time stays microseconds)
    assert status[ac.SLOW_CPU] == 0 and 0 < status[ac.CALLBACK_SUM] < 20 * 0.00267
