"""Commands the MIDI thread enqueues that act on the engine rather than the control state.

Like every command they are built on the MIDI thread and carried out on the
control thread (:meth:`Engine.handle` runs ``cmd.run(engine)``), so the
tempo map and the learned mappings still have one owner each. They are not
part of the OSC contract.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from vamen.server.core.commands import EngineCommand

__all__ = ["Align", "EngineCommand", "Learned"]


@dataclass(frozen=True)
class Align(EngineCommand):
    """The external clock says: the sound heard at time ``at`` is ``beat`` (modulo a bar).

    ``tolerance`` (seconds): a smaller disagreement is left alone, so that a
    steady clock does not re-anchor at every beat.
    """

    beat: float
    tolerance: float = 0.0
    address: ClassVar[str] = "/vamen/midi/align"

    def run(self, engine) -> None:
        sample = engine.sample_at_time(time.time() if self.at is None else self.at)
        engine.align(sample, self.beat, self.tolerance * engine.sample_rate)


@dataclass(frozen=True)
class Learned(EngineCommand):
    """A CC moved while MIDI learn waited: bind it to the pending target and save."""

    number: int
    channel: int
    address: ClassVar[str] = "/vamen/midi/learned"

    def run(self, engine) -> None:
        target = engine.control.take_midi_learn()
        if target and engine.midi is not None:
            engine.midi.learned(target, self.number, self.channel)
