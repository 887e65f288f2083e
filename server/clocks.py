"""Who leads tempo and bar: one interface, swappable clocks.

Musical time is always the engine's :class:`~vamen.server.clock.TempoMap`
against output samples; a clock only decides who moves it.

=============  ================================================================
``internal``   vamen leads: the sound card (or a timer) counts samples, OSC,
               MIDI and the autopilot set the tempo. Nothing runs.
``midi``       the MIDI input's clock leads (24 ppqn, Start, Stop, Continue,
               Song Position): :class:`~vamen.server.midi.clock.ClockFollower`
               inside the MIDI thread sends ``Tempo``, ``Play``, ``Stop`` and
               ``Align``.
``link``       an Ableton Link session leads and hears vamen's own tempo
               and transport changes: :class:`~vamen.server.linkclock.LinkClock`
               polls the session on a thread of its own.
offline        tests: the engine started with ``start(background=False)``; the
               test plays the sound card's part and calls ``clock.poll()``
               itself, so no clock thread runs and nothing sleeps.
=============  ================================================================

Every clock has the same four calls: ``start(engine, background)``,
``poll()``, ``close()`` and ``health()`` (plus ``status()`` for the status
line). A clock only enqueues typed commands, like the OSC and MIDI threads:
the control thread alone changes the tempo map. ``/vamen/clock s name``
(:class:`UseClock`) swaps clocks during a performance: the old one is closed,
the new one started; the tempo map, the loops queued and the audio carry on.

Contents
--------
Clock           the interface (and the internal clock: it does nothing)
MidiClock       attaches a ClockFollower to the running MIDI input
make_clock      a clock from a name and the serve options; ClockError if it cannot run
UseClock        the command behind ``/vamen/clock``
CLOCKS          the names
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from .config import CLOCKS, ConfigError
from .midi.commands import EngineCommand

log = logging.getLogger("vamen")

__all__ = ["CLOCKS", "Clock", "ClockError", "MidiClock", "UseClock", "make_clock"]


class ClockError(ConfigError):
    """A clock that cannot run here (no MIDI input, the Link binding missing)."""


class Clock:
    """The internal clock, and the interface every clock has.

    ``start`` may be called once; ``close`` is safe to call twice.
    """

    name: ClassVar[str] = "internal"

    def start(self, engine, background: bool = True) -> "Clock":
        """Begin leading ``engine``; ``background=False`` starts no thread (offline)."""
        return self

    def poll(self) -> None:
        """One step of following, for offline tests (a clock thread does it on its own)."""

    def close(self) -> None:
        """Stop leading; the tempo map stays where it is."""

    def health(self) -> dict:
        """``/vamen/state`` pairs."""
        return {"clock": self.name}

    def status(self) -> str:
        """A few words for the status line ('' for none)."""
        return ""


class MidiClock(Clock):
    """The MIDI input's clock leads: a :class:`ClockFollower` in the MIDI thread's router.

    The router reads its ``clock`` attribute once per message, so attaching
    and detaching is one reference swap, safe from the control thread.
    """

    name: ClassVar[str] = "midi"
    NO_INPUT: ClassVar[str] = ("the MIDI clock needs a MIDI input: start vamen with --midi NAME "
                               "(or port = \"NAME\" in vamen.toml's [midi])")

    def __init__(self) -> None:
        self._router = None
        self._follower = None

    def start(self, engine, background: bool = True) -> "MidiClock":
        from .midi.clock import ClockFollower

        listener = getattr(engine, "midi", None)
        if listener is None:
            raise ClockError(self.NO_INPUT)
        self._router = listener.router
        self._follower = ClockFollower()
        self._router.clock = self._follower
        return self

    def close(self) -> None:
        if self._router is not None and self._router.clock is self._follower:
            self._router.clock = None
        self._router = None

    def status(self) -> str:
        return "MIDI clock"


def make_clock(name: str, options=None, engine=None) -> Clock:
    """The clock called ``name``, built but not started; ClockError if it cannot run here.

    ``options`` (ServeOptions) gives the Link clock its ``link_offset_ms``;
    ``engine``, when given, is checked for what the clock needs (a MIDI input).
    """
    if name == "internal":
        return Clock()
    if name == "midi":
        if engine is not None and getattr(engine, "midi", None) is None:
            raise ClockError(MidiClock.NO_INPUT)
        return MidiClock()
    if name == "link":
        from .linkclock import LinkClock

        return LinkClock.open(offset_ms=float(getattr(options, "link_offset_ms", 0.0) or 0.0))
    raise ClockError(f"unknown clock {name!r}; clocks are {', '.join(CLOCKS)}")


@dataclass(frozen=True)
class UseClock(EngineCommand):
    """``/vamen/clock s name``: hand the lead to another clock, mid-performance.

    The old clock is closed first, so two clocks never lead at once; the
    tempo map and the queued loops are left alone, so the audio carries on
    and the new clock re-aligns it. A clock that cannot run here (no MIDI
    input, no Link binding) gets ``/vamen/error`` and the old one keeps the lead.
    """

    name: str
    address: ClassVar[str] = "/vamen/clock"

    def run(self, engine) -> None:
        old = engine.clock
        if old is not None and old.name == self.name:
            return
        try:
            new = make_clock(self.name, engine.options, engine)
        except ClockError as exc:  # the old clock keeps the lead
            engine._reply("/vamen/error", [self.address, str(exc)], self.source)
            return
        if old is not None:
            old.close()
        engine.clock = new.start(engine, background=engine._thread is not None)
        engine.options.clock = self.name
        log.warning("clock: %s leads now", self.name)
