"""MIDI messages to typed commands: the pure part of the MIDI input, tested without ports.

A :class:`Router` takes the messages of one poll of the port (each with its
monotonic arrival time) and returns the commands they mean, in order, with
a knob's many values in one poll folded into its last one and an encoder's
steps summed: a sweep costs one command, not a hundred. On the way:

- the port's channel filter and each mapping's own;
- 14-bit knobs: the MSB (CC n) sets the coarse value and the LSB (CC n+32)
  the fine one; either acts;
- soft takeover (:mod:`.takeover`) for absolute knobs whose target has a
  value in the control state;
- endless encoders: nudges for latent coordinates, steps from the current
  value for the rest;
- pads: their action on note-on (velocity above 0), and CC buttons on a
  press; ``walk/toggle`` reads the walk's depth; a pad or button holding a
  slice (``chop/hold``) lets it go on note-off or release;
- MIDI learn: while a target waits, the next CC moved becomes a
  :class:`~.commands.Learned` command instead of acting;
- clock and transport to the :class:`~.clock.ClockFollower`, when the
  external clock leads.

The router never touches the control state: it reads values through the
``state`` callable (target name -> value or None) the engine hands it.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Hashable

from vamen.server.core import commands as c

from .clock import ClockFollower
from .commands import Learned
from .mapping import CCMapping, MidiSettings, NoteAction, latent_index
from .takeover import GRACE, Pickup

State = Callable[[str], "float | None"]
CLOCK_TYPES = ("clock", "start", "stop", "continue", "songpos")


def control_state(control) -> State:
    """Reads a target's current value from a :class:`~vamen.server.core.control.Control`.

    Called from the MIDI thread: it only reads attributes that the control
    thread replaces whole, never mutates.
    """

    def read(target: str) -> float | None:
        index = latent_index(target)
        if index is not None:
            target_point = control.target
            return float(target_point[index]) if index < len(target_point) else None
        if target == "walk/depth":
            return float(control.walk.depth)
        if target == "walk/rate":
            return float(control.walk.rate)
        if target in ("gain", "glide", "tempo", "quality"):
            return float(getattr(control, target))
        return None

    return read


class _Batch:
    """Commands in order; a keyed one replaces the earlier one of its key and moves to the end."""

    def __init__(self) -> None:
        self._items: dict[Hashable, c.Command] = {}

    def add(self, cmd: c.Command, key: Hashable | None = None) -> None:
        key = object() if key is None else key
        self._items.pop(key, None)
        self._items[key] = cmd

    def get(self, key: Hashable) -> c.Command | None:
        return self._items.get(key)

    def commands(self) -> list[c.Command]:
        return list(self._items.values())


class Router:
    """Turns MIDI messages into commands.

    Parameters
    ----------
    settings : MidiSettings
        May be replaced at any time (``router.settings = ...``): one
        reference swap, read once per message.
    state : callable (target -> float or None), optional
        Current values, for soft takeover, encoders and ``walk/toggle``.
    learning : callable (() -> str or None), optional
        The MIDI-learn target waiting for a CC, if any.
    clock : ClockFollower, optional
        Given when the external clock leads; else clock and transport
        messages are ignored.
    """

    def __init__(self, settings: MidiSettings, state: State | None = None,
                 learning: Callable[[], str | None] | None = None,
                 clock: ClockFollower | None = None) -> None:
        self.settings = settings
        self._state: State = state or (lambda target: None)
        self._learning = learning or (lambda: None)
        self.clock = clock
        self.spread = 1.0  # for random actions, set by a random/spread knob
        self._learn_sent: str | None = None
        self._msb: dict[tuple[int, int], int] = {}
        self._lsb: dict[tuple[int, int], int] = {}
        self._pickups: dict[tuple[int, int], Pickup] = {}
        self._own: dict[str, tuple[float, float]] = {}  # target -> (value sent, when)
        self._walk_depth = 1.0  # the depth walk/toggle restarts at
        self._pressed: dict[tuple[int, int], bool] = {}  # CC buttons held down
        self.ignored = 0

    # -- entry point ------------------------------------------------------------
    def feed(self, events: list[tuple[object, float]]) -> list[c.Command]:
        """Commands for ``(mido message, monotonic time)`` pairs, in order, folded."""
        batch = _Batch()
        for msg, t in events:
            kind = getattr(msg, "type", None)
            try:
                if kind == "control_change":
                    self._cc(batch, msg.channel, msg.control, msg.value, t)
                elif kind == "note_on" and msg.velocity > 0:
                    self._note(batch, msg.channel, msg.note)
                elif kind == "note_off" or kind == "note_on":
                    self._note_off(batch, msg.channel, msg.note)
                elif kind in CLOCK_TYPES:
                    if self.clock is not None:
                        for cmd in self.clock.feed(kind, t, getattr(msg, "pos", 0)):
                            batch.add(cmd, "tempo" if isinstance(cmd, c.Tempo) else None)
                else:
                    self.ignored += 1
            except (ValueError, TypeError, OverflowError):  # a value no mapping can use
                self.ignored += 1
        return batch.commands()

    def forget(self) -> None:
        """The device went away: knobs must be caught again, pairs start over."""
        self._msb.clear()
        self._lsb.clear()
        self._pressed.clear()
        for pickup in self._pickups.values():
            pickup.release()

    # -- control change ----------------------------------------------------------
    def _listens(self, channel: int, own: int | None) -> bool:
        wanted = self.settings.channel
        return (wanted is None or channel == wanted) and (own is None or channel == own)

    def _cc(self, batch: _Batch, channel: int, number: int, value: int, t: float) -> None:
        settings = self.settings
        if not self._listens(channel, None):
            return
        pending = self._learning()
        if pending is None:
            self._learn_sent = None
        elif pending != self._learn_sent:  # learn: this CC is the one
            self._learn_sent = pending
            batch.add(Learned(number, channel))
            return
        else:
            return  # the binding is on its way to the control thread
        button = settings.buttons.get(number)
        if button is not None:
            pressed, was = value >= 64, self._pressed.get((channel, number), False)
            self._pressed[channel, number] = pressed
            if pressed and not was and self._listens(channel, button.channel):
                self._act(batch, button)
            elif was and not pressed:
                self._let_go(batch, channel, button)
            return
        mapping = settings.cc.get(number)
        raw = value
        if mapping is None and number >= 32:
            pair = settings.cc.get(number - 32)
            if pair is not None and pair.bits == 14:  # the LSB of a 14-bit knob
                mapping, number = pair, number - 32
                if (channel, number) not in self._msb:
                    return  # fine without coarse means nothing yet
                self._lsb[channel, number] = value
                raw = (self._msb[channel, number] << 7) | value
        elif mapping is not None and mapping.bits == 14:
            self._msb[channel, number] = value
            self._lsb[channel, number] = 0  # a new MSB starts a new fine value
            raw = value << 7
        if mapping is None or not self._listens(channel, mapping.channel):
            self.ignored += mapping is None
            return
        if mapping.relative:
            self._step(batch, mapping, value, t)
        else:
            self._absolute(batch, mapping, channel, raw, t)

    def _absolute(self, batch: _Batch, mapping: CCMapping, channel: int, raw: int, t: float) -> None:
        value = mapping.value(raw)
        if self.settings.takeover:
            now = self._state(mapping.target)
            where = None if now is None else mapping.position(now)
            pickup = self._pickups.setdefault((channel, mapping.number), Pickup())
            if not pickup.offer(raw / mapping.full_scale, where, t):
                return
        self._set(batch, mapping, value, t)

    def _step(self, batch: _Batch, mapping: CCMapping, value: int, t: float) -> None:
        delta = mapping.steps(value)
        index = latent_index(mapping.target)
        if index is not None:  # nudges add up on the control thread, even mid-glide
            before = batch.get(("nudge", index))
            if isinstance(before, c.Nudge):
                delta += before.delta
            batch.add(c.Nudge(index, delta), ("nudge", index))
            return
        base = self._current(mapping.target, t)
        if base is None:
            base = min(mapping.low, mapping.high)
        self._set(batch, mapping, mapping.clamp(base + delta), t)

    def _current(self, target: str, t: float) -> float | None:
        """The target's value: what this router sent a moment ago, else the state's."""
        own = self._own.get(target)
        if own is not None and t - own[1] <= GRACE:
            return own[0]
        return self._state(target)

    def _set(self, batch: _Batch, mapping: CCMapping, value: float, t: float) -> None:
        target = mapping.target
        self._own[target] = (value, t)
        index = latent_index(target)
        if index is not None:
            batch.add(c.SetCoord(index, value), ("latent", index))
        elif target == "gain":
            batch.add(c.Gain(value), target)
        elif target == "glide":
            batch.add(c.Glide(value), target)
        elif target == "tempo":
            batch.add(c.Tempo(value), "tempo")
        elif target == "quality":
            batch.add(c.Quality(int(value)), target)
        elif target in ("walk/depth", "walk/rate"):
            self._walk(batch, target, value, t)
        elif target == "interp/fraction":
            batch.add(c.Interp(mapping.a, mapping.b, value), ("interp", mapping.number))
        elif target == "random/spread":
            self.spread = value

    def _walk(self, batch: _Batch, target: str, value: float, t: float) -> None:
        before = batch.get("walk")
        if target == "walk/depth":
            rate = before.rate if isinstance(before, c.Walk) else None
            batch.add(c.Walk(value, rate), "walk")
            return
        depth = before.depth if isinstance(before, c.Walk) else self._current("walk/depth", t)
        batch.add(c.Walk(depth or 0.0, value), "walk")

    # -- pads --------------------------------------------------------------------
    def _note(self, batch: _Batch, channel: int, note: int) -> None:
        action: NoteAction | None = self.settings.notes.get(note)
        if action is None or not self._listens(channel, action.channel):
            self.ignored += action is None
            return
        self._act(batch, action)

    def _note_off(self, batch: _Batch, channel: int, note: int) -> None:
        action: NoteAction | None = self.settings.notes.get(note)
        if action is not None:
            self._let_go(batch, channel, action)

    def _let_go(self, batch: _Batch, channel: int, action: NoteAction) -> None:
        """A pad or button let go: a held slice (``chop/hold``) stops rolling; other actions ignore it."""
        if isinstance(action.command, c.ChopHold) and self._listens(channel, action.channel):
            batch.add(c.ChopRelease(action.command.slice, action.command.slices))

    def _act(self, batch: _Batch, action: NoteAction) -> None:
        cmd = action.command
        if cmd is None:  # walk/toggle
            depth = self._state("walk/depth") or 0.0
            if depth > 0:
                self._walk_depth = depth
                cmd = c.Walk(0.0)
            else:
                cmd = c.Walk(action.depth or self._walk_depth)
        elif isinstance(cmd, c.Random) and len(action.text.split()) == 1:
            cmd = dataclasses.replace(cmd, spread=self.spread)
        batch.add(cmd)
