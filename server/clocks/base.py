"""The clock interface: what every clock (internal, MIDI, Link, offline) answers.

Imports nothing of the server but the core, so every clock can build on it
without importing the chooser in :mod:`vamen.server.clocks`.
"""
from __future__ import annotations

from typing import ClassVar

from vamen.server.core.constants import ConfigError


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
