"""Who leads tempo and bar: one interface, swappable clocks.

Musical time is always the engine's :class:`~vamen.server.core.tempo.TempoMap`
against output samples; a clock only decides who moves it.

=============  ================================================================
``internal``   vamen leads: the sound card (or a timer) counts samples, OSC,
               MIDI and the autopilot set the tempo. Nothing runs.
``midi``       the MIDI input's clock leads (24 ppqn, Start, Stop, Continue,
               Song Position): :class:`~vamen.server.midi.clock.ClockFollower`
               inside the MIDI thread sends ``Tempo``, ``Play``, ``Stop`` and
               ``Align``.
``link``       an Ableton Link session leads and hears vamen's own tempo
               and transport changes: :class:`~vamen.server.clocks.link.LinkClock`
               polls the session on a thread of its own.
offline        tests: the engine started with ``start(background=False)``; the
               test plays the sound card's part and calls ``clock.poll()``
               itself, so no clock thread runs and nothing sleeps.
=============  ================================================================

Every clock has the same four calls: ``start(engine, background)``,
``poll()``, ``close()`` and ``health()`` (plus ``status()`` for the status
line). A clock only enqueues typed commands, like the OSC and MIDI threads:
the control thread alone changes the tempo map. ``/vamen/clock s name``
(:class:`~vamen.server.core.commands.UseClock`, carried out by :func:`hand_over`) swaps clocks during a performance: the old one is closed,
the new one started; the tempo map, the loops queued and the audio carry on.

Contents
--------
Clock           the interface (and the internal clock: it does nothing); in :mod:`.base`
ClockError      a clock that cannot run here
MidiClock       attaches a ClockFollower to the running MIDI input
LinkClock       follows an Ableton Link session (:mod:`.link`, imported only when asked for)
make_clock      a clock from a name and the serve options; ClockError if it cannot run
hand_over       close one clock and start another: what ``/vamen/clock`` does
CLOCKS          the names

This wing may import the core (:mod:`vamen.server.core`) and the MIDI
wing's clock follower (:mod:`vamen.server.midi.clock`), nothing else of
the server. :mod:`.link` and :mod:`.base` never import this package's
``__init__``: the interface lives in :mod:`.base`, so the Link clock and
the chooser no longer import each other.
"""
from __future__ import annotations

import logging
from typing import ClassVar

from vamen.server.core.constants import CLOCKS

from .base import Clock, ClockError

log = logging.getLogger("vamen")

__all__ = ["CLOCKS", "Clock", "ClockError", "MidiClock", "hand_over", "make_clock"]


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
        from vamen.server.midi.clock import ClockFollower

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
        from .link import LinkClock

        return LinkClock.open(offset_ms=float(getattr(options, "link_offset_ms", 0.0) or 0.0))
    raise ClockError(f"unknown clock {name!r}; clocks are {', '.join(CLOCKS)}")


def hand_over(old: Clock | None, name: str, engine, background: bool) -> Clock:
    """Hand the lead from ``old`` to the clock called ``name``; ClockError if it cannot run here.

    The old clock is closed first, so two clocks never lead at once; the
    tempo map and the queued loops are left alone, so the audio carries on
    and the new clock re-aligns it. When the new clock cannot be built the
    old one keeps the lead (nothing is closed).
    """
    if old is not None and old.name == name:
        return old
    new = make_clock(name, engine.options, engine)
    if old is not None:
        old.close()
    started = new.start(engine, background)
    log.warning("clock: %s leads now", name)
    return started
