"""Figures and names the whole server shares, written once.

Contents
--------
BEATS_PER_BAR   a bar is four quarter-note beats (4/4): loops, Link's quantum, the autopilot's bars
OSC_PORT        the UDP port vamen listens on unless told otherwise
CLOCKS          who may lead tempo and bar (:mod:`vamen.server.clocks`)
SINKS           where the sound may go (``--sink``)
ConfigError     a setting that cannot be used: one line, exit status 2
"""
from __future__ import annotations

from vamen.model.errors import VamenError

BEATS_PER_BAR = 4
OSC_PORT = 57140
CLOCKS = ("internal", "midi", "link")
SINKS = ("soundcard", "file", "supercollider", "notify")


class ConfigError(VamenError):
    """A value in ``vamen.toml``, a scenes file or a MIDI mapping that cannot be used."""

#: A block whose peak stays below this (-60 dBFS) is silent: the player notes the last one above
#: it, and dead air (vamen.server.ops.deadair) is measured against it.
AUDIBLE = 10.0 ** (-60.0 / 20.0)
