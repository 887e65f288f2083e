"""The player: what the audio callback runs.

Rendered loops arrive as *cues*: "from output sample S on, play loop L,
whose bar starts at sample B". The callback finds the cue in force, reads
the loop at the right place in the bar, crossfades into a new cue over a
few milliseconds, applies the gain and copies the block out.

The callback's rules, as python-sounddevice puts them: write into the
output buffer, never allocate arrays, never block, never log, never touch
torch or the file system. Everything it touches is allocated here, up
front: the loop pool, the cue table, scratch buffers and ramps. The worker
thread fills a free pool slot, then publishes a new schedule (an immutable
tuple, swapped by one reference assignment, which the GIL makes atomic).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from vamen.server.core.constants import AUDIBLE

NEVER = np.iinfo(np.int64).max
#: The output never goes above -1 dBFS: the loops are rendered to it, and the limiter
#: after the gain holds it through crossfades and gains above 1.
CEILING = 10.0 ** (-1.0 / 20.0)
RELEASE_SECONDS = 0.25  # the limiter comes back from full reduction to none over this long
CLOCK_WINDOW = 1.0  # seconds per half of the window the sample clock is estimated over


@dataclass(frozen=True)
class Cue:
    """Loop ``slot`` plays from output sample ``start``; its bar began at ``bar``.

    ``fade``: crossfade from the loop before (the usual). A cue that only
    carries on the same audio (a bar re-cut for a new strike, hits bar after
    bar) takes over at once, so a strike's attack is not faded in.
    """

    slot: int
    start: int
    bar: int
    length: int
    fade: bool = True


class Player:
    """Plays cues into output blocks.

    Parameters
    ----------
    sample_rate : int
    max_loop : int
        Longest loop in samples (one bar at the slowest tempo).
    slots : int
        Loops held at once: the one playing, the one fading out, and the
        queue ahead.
    channels : int
    fade : int
        Crossfade length in samples when a cue takes over.
    max_block : int
        Largest block the callback will be asked for.
    pool : ndarray [slots, max_loop] float32, optional
        Where the loops live, when someone else owns the memory (the audio
        process maps it from shared memory); else allocated here.
    """

    def __init__(self, sample_rate: int, max_loop: int, slots: int = 32, channels: int = 2,
                 fade: int = 256, max_block: int = 8192, pool: np.ndarray | None = None):
        self.sample_rate = sample_rate
        self.channels = channels
        self.fade = fade
        self.max_block = max_block
        self.pool = np.zeros((slots, max_loop), dtype=np.float32) if pool is None else pool
        self.schedule: tuple[Cue, ...] = ()
        self.position = 0  # output sample at the start of the next block
        self.gain = 1.0
        self.playing = True
        self.underruns = 0  # blocks the device reported late
        self.starved = 0  # blocks with nothing to play while playing
        self.blocks = 0
        self.clipped = 0  # output samples that reached full scale (|x| >= 1) before the last guard
        self.broken = 0  # blocks that held NaN or inf, played as silence instead
        self.audible_at = 0  # output sample where the last block above AUDIBLE ended
        self.switches = 0  # cues that took over (for latency measurement)
        self.switch_time = 0.0  # perf_counter() of the block where the last one did
        # monotonic time at which output sample 0 was due, from the callbacks'
        # lower envelope (see fill): maps any time to the sample playing then
        self.epoch: float | None = None
        self.filled_at = 0.0  # monotonic time of the latest block
        self._window_start = -np.inf
        self._this_min = self._last_min = np.inf
        self._current: Cue | None = None
        self._leaving: Cue | None = None  # the cue fading out
        self._fade_pos = 0
        self._gain_now = 1.0
        self._mute_now = 1.0
        self._mono = np.zeros(max_block, dtype=np.float32)
        self._other = np.zeros(max_block, dtype=np.float32)
        self._scratch = np.zeros(max_block, dtype=np.float32)
        self._flags = np.zeros(max_block, dtype=bool)
        self._limit_gain = 1.0
        self._release_step = 1.0 / (RELEASE_SECONDS * sample_rate)  # gain a sample may win back
        t = (np.arange(fade, dtype=np.float32) + 0.5) / fade
        # Equal-gain fades (up + down = 1): the two loops are the same groove at the same
        # place in the bar, and a sum never exceeds the louder of them. Equal-power
        # (sin/cos) fades reached 1.41 times a loop's peak mid-fade and clipped.
        self._up = t
        self._down = (1.0 - t).astype(np.float32)
        self._ramp = (np.arange(max_block, dtype=np.float32) + 1) / max_block
        self.taps: list = []
        self.lock = threading.Lock()  # for writers only; the callback never waits

    # -- worker side ---------------------------------------------------------
    def publish(self, schedule: tuple[Cue, ...]) -> None:
        """Swap in a new schedule (sorted by start). Called by the render worker."""
        self.schedule = schedule

    def in_use(self) -> set[int]:
        """Pool slots that the callback may still read."""
        used = {c.slot for c in self.schedule}
        for cue in (self._current, self._leaving):
            if cue is not None:
                used.add(cue.slot)
        return used

    # -- callback side -------------------------------------------------------
    def _read(self, cue: Cue, start: int, n: int, dst: np.ndarray) -> None:
        """Copy n samples of ``cue``'s loop from output sample ``start`` into dst."""
        pos = (start - cue.bar) % cue.length
        done = 0
        loop = self.pool[cue.slot]
        while done < n:
            take = min(n - done, cue.length - pos)
            dst[done:done + take] = loop[pos:pos + take]
            done += take
            pos = 0

    def _due(self, end: int) -> Cue | None:
        """The latest cue starting before ``end``."""
        due = None
        for cue in self.schedule:
            if cue.start < end:
                due = cue
            else:
                break
        return due

    def fill(self, out: np.ndarray, frames: int, late: bool = False, resync: bool | None = None) -> None:
        """Write ``frames`` frames into ``out`` [shape=(frames, channels)].

        ``late`` is the device's report that the previous block came too late
        (an underrun, counted). ``resync`` says the device lost time with it,
        so the clock estimate must start again; by default it did (a sound
        card's skipped cycle is never played). An output that catches up on
        a late wake-up without losing a sample (the timer output) says False.
        """
        if late:
            self.underruns += 1
        if late if resync is None else resync:
            # the device lost time: the old bounds no longer hold, so the
            # estimate starts again from here
            self._this_min = self._last_min = np.inf
        self.blocks += 1
        t0 = self.position
        self._keep_time(t0)
        mono = self._mono[:frames]
        due = self._due(t0 + frames)
        if due is not None and due is not self._current and (
                self._current is None or due.start >= self._current.start):
            split = min(frames, max(0, due.start - t0))
            if self._current is not None and split > 0:
                self._read(self._current, t0, split, mono[:split])
            elif split > 0:
                mono[:split] = 0.0
            self._leaving = self._current if due.fade else None
            self._current = due
            self._fade_pos = 0 if due.fade else self.fade
            self.switch_time = time.perf_counter()
            self.switches += 1
            self._play_span(t0 + split, frames - split, mono[split:])
        elif self._current is not None:
            self._play_span(t0, frames, mono)
        else:
            mono[:] = 0.0
            if self.playing:
                self.starved += 1
        if not np.isfinite(np.dot(mono, mono)):
            # a broken loop (NaN, inf) never reaches the speakers, nor the limiter's memory
            mono[:] = 0.0
            self.broken += 1
        self._apply_gain(mono, frames)
        self._limit(mono, frames)
        self._count_clipped(mono, frames)
        np.clip(mono, -1.0, 1.0, out=mono)  # the last guard: nothing may wrap around in a DAC
        if mono.max() >= AUDIBLE or mono.min() <= -AUDIBLE:
            self.audible_at = t0 + frames
        for ch in range(self.channels):
            out[:frames, ch] = mono
        self.position = t0 + frames
        for tap in self.taps:
            tap.push(out, frames)

    def _keep_time(self, t0: int) -> None:
        """Track when output sample 0 was due, for :meth:`sample_at`.

        A callback can run late (the scheduler, a busy CPU) but never early,
        so each block gives an upper bound on that time, and the smallest
        bound of the last one to two seconds is the estimate: the position
        alone jitters by however late this block was. The window lets the
        estimate follow a device clock that drifts, or a block the device
        skipped, within two seconds.
        """
        now = time.monotonic()
        bound = now - t0 / self.sample_rate
        if now - self._window_start > CLOCK_WINDOW:
            self._window_start = now
            self._last_min, self._this_min = self._this_min, bound
        elif bound < self._this_min:
            self._this_min = bound
        self.epoch = min(self._last_min, self._this_min)
        self.filled_at = now

    def sample_at(self, monotonic: float) -> float:
        """The output sample the device plays at ``monotonic`` (no output latency added)."""
        if self.epoch is None:
            return float(self.position)
        return (monotonic - self.epoch) * self.sample_rate

    def _play_span(self, start: int, n: int, dst: np.ndarray) -> None:
        if n <= 0:
            return
        self._read(self._current, start, n, dst)
        leaving = self._leaving
        if leaving is None:
            return
        k = min(n, self.fade - self._fade_pos)
        if k > 0:
            other = self._other[:k]
            self._read(leaving, start, k, other)
            f = self._fade_pos
            np.multiply(dst[:k], self._up[f:f + k], out=dst[:k])
            np.multiply(other, self._down[f:f + k], out=other)
            np.add(dst[:k], other, out=dst[:k])
            self._fade_pos += k
        if self._fade_pos >= self.fade:
            self._leaving = None

    def _limit(self, mono: np.ndarray, frames: int) -> None:
        """Hold the block under CEILING: instant attack, a linear release, no lookahead.

        A block whose peak (after the gain) would pass the ceiling is scaled
        as a whole; the gain comes back at most ``1 / RELEASE_SECONDS`` per
        second, ramped within the block, and never above what the block's
        peak allows. So no sample of the block leaves above the ceiling.
        """
        if frames == 0:
            return
        mag = self._scratch[:frames]
        np.abs(mono, out=mag)
        peak = float(mag.max())
        room = CEILING / peak if peak > CEILING else 1.0
        start = self._limit_gain
        end = min(1.0, room, start + self._release_step * frames)
        if start > room:  # attack: the whole block at the reduced gain
            np.multiply(mono, end, out=mono)
        elif start != 1.0 or end != 1.0:  # release, both ends within the block's room
            ramp = mag
            np.multiply(self._ramp[self.max_block - frames:], end - start, out=ramp)
            np.add(ramp, start, out=ramp)
            np.multiply(mono, ramp, out=mono)
        self._limit_gain = end

    def _count_clipped(self, mono: np.ndarray, frames: int) -> None:
        """Count samples at full scale (none, while the limiter holds): preallocated, no logging."""
        mag, flags = self._scratch[:frames], self._flags[:frames]
        np.abs(mono, out=mag)
        np.greater_equal(mag, 1.0, out=flags)
        self.clipped += int(np.count_nonzero(flags))

    def _apply_gain(self, mono: np.ndarray, frames: int) -> None:
        """Gain and mute, ramped across the block so changes never click."""
        target = self.gain * (1.0 if self.playing else 0.0)
        start = self._gain_now
        if start == target:
            if target != 1.0:
                np.multiply(mono, target, out=mono)
            return
        ramp = self._scratch[:frames]
        np.multiply(self._ramp[self.max_block - frames:], target - start, out=ramp)
        np.add(ramp, start, out=ramp)
        np.multiply(mono, ramp, out=mono)
        self._gain_now = target
