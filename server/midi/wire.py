"""MIDI bytes to messages, as a real MIDI wire delivers them.

mido's own parser drops running status (a note or CC that reuses the last
status byte); controllers that save bandwidth send exactly that. This
tokenizer keeps the running status of channel messages across packets,
lets real-time bytes (clock, start, stop) through from anywhere, even from
inside a sysex, skips sysex bodies without storing them (a flood costs
nothing), ends a sysex that a new status byte interrupts (the bytes after it
are a message again), lets a stray end-of-exclusive cancel running status as
every other system status byte does, and drops stray data bytes, undefined
status bytes and anything else it cannot read. Complete messages become ``mido.Message``
objects.
"""
from __future__ import annotations

import re
from typing import Iterable

SYSEX, SYSEX_END = 0xF0, 0xF7
_STATUS = re.compile(rb"[\x80-\xff]")
# data bytes that follow a status byte
_LENGTH = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_COMMON = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}
_REALTIME = {0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF}


class Tokenizer:
    """Feed bytes, get messages; never raises on what it is fed."""

    def __init__(self) -> None:
        self._status = 0  # running status (channel messages) or 0
        self._need = 0
        self._data: list[int] = []
        self._in_sysex = False
        self.dropped = 0  # bytes that made no message (garbage, sysex bodies aside)

    def feed(self, data: Iterable[int]) -> list:
        """The ``mido.Message`` objects ``data`` completes (ints 0..255; others are skipped)."""
        import mido

        raw = bytes(b for b in data if isinstance(b, int) and 0 <= b <= 255)
        out = []
        i, n = 0, len(raw)
        while i < n:
            if self._in_sysex:  # skip the body at C speed, up to the next status byte
                match = _STATUS.search(raw, i)
                if match is None:
                    break
                i = match.start()
            byte = raw[i]
            i += 1
            for message in self._byte(byte):
                try:
                    out.append(mido.Message.from_bytes(message))
                except (ValueError, TypeError):
                    self.dropped += len(message)
        return out

    def _byte(self, byte: int) -> list[list[int]]:
        if byte >= 0xF8:
            return [[byte]] if byte in _REALTIME else []
        if byte == SYSEX:
            self._in_sysex, self._status = True, 0
            return []
        if byte == SYSEX_END:
            # The body was skipped: vamen has no use for sysex. Outside a sysex it is a stray
            # status byte, and (MIDI 1.0) any status byte but a real-time one ends an unfinished
            # message and cancels running status: the data bytes after it are not a knob's.
            self._in_sysex, self._status, self._data = False, 0, []
            return []
        if byte >= 0x80:
            self._in_sysex = False
            self._data = []
            kind = byte & 0xF0
            if kind in _LENGTH:
                self._status, self._need = byte, _LENGTH[kind]
                return []
            self._status = 0  # system common cancels running status
            if byte in _COMMON:
                if _COMMON[byte] == 0:
                    return [[byte]]
                self._status, self._need = byte, _COMMON[byte]
            else:
                self.dropped += 1  # 0xF4, 0xF5: undefined
            return []
        if not self._status:
            self.dropped += 1
            return []
        self._data.append(byte)
        if len(self._data) < self._need:
            return []
        message = [self._status, *self._data]
        self._data = []
        if self._status >= 0xF0:  # system common messages have no running status
            self._status = 0
        return [message]
