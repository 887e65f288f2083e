"""Musical time against output samples.

A :class:`TempoMap` says which output sample each beat falls on, with tempo
changes at given beats. It is immutable: a change makes a new map, so the
render worker and the control thread can hold different versions without
locks. Clocks count output samples: the sound card's callback (internal
clock), a timer (no sound card), or a test stepping it by hand (offline).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from vamen.server.core.constants import BEATS_PER_BAR


@dataclass(frozen=True)
class TempoMap:
    """Piecewise-constant tempo: ``beats[i]`` starts at ``samples[i]`` at ``tempos[i]`` BPM."""

    sample_rate: int
    beats: tuple[float, ...]
    samples: tuple[float, ...]
    tempos: tuple[float, ...]

    @classmethod
    def start(cls, sample_rate: int, tempo: float, at_sample: float = 0.0) -> "TempoMap":
        """Beat 0 (a downbeat) at ``at_sample``."""
        return cls(sample_rate, (0.0,), (float(at_sample),), (float(tempo),))

    def _segment_for_beat(self, beat: float) -> int:
        return max(0, bisect.bisect_right(self.beats, beat) - 1)

    def _segment_for_sample(self, sample: float) -> int:
        return max(0, bisect.bisect_right(self.samples, sample) - 1)

    def sample_at(self, beat: float) -> float:
        i = self._segment_for_beat(beat)
        return self.samples[i] + (beat - self.beats[i]) * 60.0 / self.tempos[i] * self.sample_rate

    def beat_at(self, sample: float) -> float:
        i = self._segment_for_sample(sample)
        return self.beats[i] + (sample - self.samples[i]) / self.sample_rate * self.tempos[i] / 60.0

    def tempo_at(self, beat: float) -> float:
        return self.tempos[self._segment_for_beat(beat)]

    def with_tempo(self, beat: float, tempo: float) -> "TempoMap":
        """A new map whose tempo becomes ``tempo`` from ``beat`` on.

        Segments after ``beat`` are dropped; segments that ended long ago are
        kept only as far as needed, so a map never grows over a long run.
        """
        i = self._segment_for_beat(beat)
        sample = self.sample_at(beat)
        beats = self.beats[: i + 1] + (beat,)
        samples = self.samples[: i + 1] + (sample,)
        tempos = self.tempos[: i + 1] + (float(tempo),)
        keep = max(0, len(beats) - 4)
        return TempoMap(self.sample_rate, beats[keep:], samples[keep:], tempos[keep:])

    def loop_samples(self, beat: float) -> int:
        """Length in output samples of one bar at the tempo in force at ``beat``."""
        return int(round(BEATS_PER_BAR * 60.0 / self.tempo_at(beat) * self.sample_rate))


    def aligned(self, sample: float, beat: float, tolerance: float = 0.0) -> "TempoMap | None":
        """This map with ``sample`` moved onto ``beat``'s place in the bar; None if within ``tolerance`` samples.

        The beat count moves to the nearest beat with the same place in the
        bar as ``beat`` (at most half a bar either way); tempo changes keep
        their samples. What an external clock (MIDI Start, Link) asks for.
        """
        here = self.beat_at(sample)
        shift = (beat - here) % BEATS_PER_BAR
        if shift > BEATS_PER_BAR / 2:
            shift -= BEATS_PER_BAR
        if abs(shift) * 60.0 / self.tempo_at(here) * self.sample_rate <= tolerance:
            return None
        return TempoMap(self.sample_rate, tuple(b + shift for b in self.beats), self.samples, self.tempos)


def next_landing(beat: float, quantize: float) -> float:
    """The first multiple of ``quantize`` beats strictly after ``beat`` (0: ``beat`` itself)."""
    if quantize <= 0:
        return beat
    return (math.floor(beat / quantize + 1e-9) + 1) * quantize
