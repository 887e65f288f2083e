"""The input's clock: a stretch of monotonic time cut from the ring lands where it was played.

The real callback (:class:`InputCallback`) fills the real shared ring and
stamps of a :class:`ProcessInput`, block by block, on a clock the test
holds: callbacks run late by a jittery amount (never early), and some
cycles are lost, as JACK loses a client's cycles on a loaded machine. The
input's content is the time each frame reached vamen (its cycle's time, as
the output's samples are counted in the same cycles; the latencies are the
listener's), so what :meth:`ProcessInput.span` returns says by itself where
it was placed.
"""
from types import SimpleNamespace

import numpy as np
import pytest

from vamen.server.audio.inputchild import InputCallback
from vamen.server.audio.inputproc import ProcessInput

RATE = 48000
BLOCK = 256
T0 = 1000.0  # monotonic time the first frame reached vamen


class Card:
    """A sound card's cycles: cycle ``k``, due at ``T0 + k * BLOCK / RATE``, brings a block."""

    def __init__(self, seed=0):
        self.input = ProcessInput("test", RATE)
        self.input.map(1)
        self.now = 0.0
        self.callback = InputCallback(self.input.status, self.input.stamps, self.input.ring, RATE,
                                      clock=lambda: self.now)
        self.cycle = 0
        self.rng = np.random.default_rng(seed)

    def run(self, cycles, late=(0.0, 0.003), lost=False, on_time_every=8):
        """``cycles`` callbacks, each ``late`` seconds after its cycle (one in ``on_time_every`` on time);
        ``lost``: the cycle before the first was lost (the callback is told of an overflow)."""
        for i in range(cycles):
            start = T0 + self.cycle * BLOCK / RATE
            played = start + np.arange(BLOCK) / RATE  # the content: when each frame reached vamen
            delay = 0.0 if i % on_time_every == 0 else self.rng.uniform(*late)
            self.now = start + delay  # the cycle's callback runs late, never early
            flags = SimpleNamespace(input_overflow=lost and i == 0)
            self.callback((played - T0).astype(np.float32)[:, None], BLOCK, None, flags)
            self.cycle += 1

    def skip(self, cycles):
        """Cycles lost: nothing of them reaches vamen."""
        self.cycle += cycles


def placed(audio):
    """When each frame of a span reached vamen (seconds after T0), NaN where nothing did."""
    out = audio[:, 0].astype(np.float64)
    out[out == 0.0] = np.nan
    return out


def test_a_span_is_cut_at_the_time_it_was_played_when_callbacks_run_late():
    card = Card()
    card.run(1000)
    start = T0 + 1.2345
    audio, covered = card.input.span(start, RATE)
    assert covered == 1.0
    got = placed(audio)
    want = start - T0 + np.arange(RATE) / RATE
    assert np.nanmax(np.abs(got - want)) <= 1.0 / RATE


def test_cycles_lost_are_silence_in_their_place_and_do_not_shift_what_came_before_or_after():
    card = Card(1)
    card.run(300)
    card.skip(19)  # 101 ms lost, as JACK skipped vamen here under load
    card.run(5, late=(0.004, 0.008), lost=True, on_time_every=10 ** 6)  # the next ones late too
    card.run(300)
    start = T0 + 1.0
    audio, covered = card.input.span(start, RATE)
    got = placed(audio)
    want = start - T0 + np.arange(RATE) / RATE
    hole = np.isnan(got)
    lost_from, lost_to = 300 * BLOCK / RATE, 319 * BLOCK / RATE  # seconds after T0
    in_hole = (want >= lost_from) & (want < lost_to)
    assert hole.sum() == pytest.approx(in_hole.sum(), abs=2), "the hole is as long as what was lost"
    assert np.all(hole[in_hole[: len(hole)]][2:-2])
    assert np.nanmax(np.abs(got - want)) <= 1.0 / RATE, "everything else where it was played"
    assert covered == pytest.approx(1.0 - 19 * BLOCK / RATE, abs=1e-3)


def test_an_xrun_that_lost_nothing_here_leaves_no_hole():
    """JACK tells every client of an xrun, also one that lost no cycle: its late callbacks are
    not taken for a loss."""
    card = Card(2)
    card.run(300)
    card.run(3, late=(0.004, 0.005), lost=True, on_time_every=10 ** 6)
    card.run(300)
    audio, covered = card.input.span(T0 + 1.0, RATE)
    assert covered == 1.0
    got = placed(audio)
    assert not np.isnan(got[1:]).any()
    assert np.nanmax(np.abs(got - (1.0 + np.arange(RATE) / RATE))) <= 1.0 / RATE


def test_what_has_not_arrived_or_is_gone_from_the_ring_is_not_covered():
    card = Card(3)
    card.run(200)  # about a second
    arrived = card.input.arrived_until()
    assert arrived == pytest.approx(T0 + 200 * BLOCK / RATE, abs=1e-6)  # the last block's end
    _, covered = card.input.span(arrived - 0.5, RATE)  # half of it still to come
    assert covered == pytest.approx(0.5, abs=0.01)
    card.run(int(20 * RATE / BLOCK))  # 20 s more: more than the ring holds
    _, covered = card.input.span(T0, RATE)
    assert covered == 0.0
