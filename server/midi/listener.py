"""The MIDI thread: one input port, found by name, re-opened when it comes back.

It reads the port's bytes every couple of milliseconds, turns them into
messages (:mod:`.wire`) and commands (:mod:`.router`), and puts the commands
on the engine's queue. It never touches torch, the player or the control
state: values for soft takeover come through a read-only callable, and a
learned binding is carried out on the control thread
(:class:`~.commands.Learned` calls :meth:`MidiListener.learned`).

Every ``scan`` seconds (0.5) it lists the ports. A port that is gone is
said so once in the log and closed, and its knobs must be caught again
(soft takeover); a port matching the name that appears is opened, and said
so once. A backend that cannot be used (no JACK server) is retried the
same way. The audio never waits for any of it.

Feedback: with ``feedback = "NAME"`` in ``[midi]``, CC values of absolute
7-bit knobs are sent to that output port whenever their target moved by
other means (a preset, OSC, the walk's depth from a pad), ten times a
second at most, so LED rings and motor faders show the state. A knob the
performer is turning gets nothing back until it has been still for half a
second: the control thread may not have applied its last value yet, and
echoing the state as it was would pull a motor fader back against the hand.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
from pathlib import Path
from typing import Callable

from vamen.server.audio.devices import _quiet_stderr

from .learned import read_learned, write_learned
from .mapping import CCMapping, MidiSettings, parse_cc
from .ports import match_port, open_input, open_output
from .router import Router
from .wire import Tokenizer

log = logging.getLogger("vamen")
POLL = 0.002
SCAN = 0.5
BACKEND_RETRY = 5.0  # seconds between tries at a MIDI backend that failed (no JACK server yet)
FEEDBACK_EVERY = 0.1
HANDS_ON = 0.5  # seconds after a knob moved in which nothing is echoed to it


class MidiListener:
    """Reads one MIDI input and enqueues the commands it means.

    Parameters
    ----------
    settings : MidiSettings
        Mappings, with learned ones already merged in.
    query : str
        Substring of the input port's name.
    router : Router
    enqueue : callable (command -> None)
        Puts a command on the engine's queue; may raise ``queue.Full``.
    learned_file : Path, optional
        Where :meth:`learned` saves bindings.
    state : callable (target -> float or None), optional
        For feedback.
    """

    def __init__(self, settings: MidiSettings, query: str, router: Router,
                 enqueue: Callable[[object], None], learned_file: Path | None = None,
                 latent_dim: int | None = None, state: Callable[[str], float | None] | None = None,
                 scan: float = SCAN, poll: float = POLL) -> None:
        self.settings = settings
        self.query = query
        self.router = router
        self._enqueue = enqueue
        self.learned_file = learned_file
        self.latent_dim = latent_dim
        self._state = state or (lambda target: None)
        self.scan = scan
        self.poll = poll
        self.port = None
        self.output = None
        self.connected: str | None = None
        self.feedback_port: str | None = None
        self.last_learned = ""
        self.dropped = 0
        self.messages = 0
        self.reconnects = 0
        self._tokenizer = Tokenizer()
        self._said: set[str] = set()
        self._echoed: dict[tuple[int, int], int] = {}
        self._touched: dict[int, float] = {}  # when the controller last moved each CC number
        self._backend_retry = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------
    def start(self) -> "MidiListener":
        self._thread = threading.Thread(target=self._run, name="vamen-midi", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for port in (self.port, self.output):
            if port is not None:
                try:
                    port.delete()
                except Exception:  # a backend that died with its server cannot be closed politely
                    pass
        self.port = self.output = None
        self.connected = None

    def _say_once(self, key: str, level: int, text: str, *args) -> None:
        if key not in self._said:
            self._said.add(key)
            log.log(level, text, *args)

    def _run(self) -> None:
        next_scan = next_echo = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_scan:
                self._scan_ports()
                next_scan = now + self.scan
            busy = False
            try:
                busy = self._pump()
            except Exception as exc:  # a bug here must not take MIDI down for the night
                self._say_once(f"pump:{type(exc).__name__}", logging.ERROR,
                               "MIDI input failed: %s: %s", type(exc).__name__, exc)
            if self.output is not None and now >= next_echo:
                self._echo()
                next_echo = now + FEEDBACK_EVERY
            if not busy:
                self._stop.wait(self.poll)

    # -- ports ---------------------------------------------------------------------
    def _scan_ports(self) -> None:
        try:
            if self.port is None:
                if time.monotonic() < self._backend_retry:
                    return
                with _quiet_stderr():  # ALSA and JACK print their own complaints on fd 2
                    self.port = open_input()
            names = self.port.names()
        except Exception as exc:  # no JACK server yet, no ALSA sequencer...
            self._say_once("backend", logging.WARNING, "MIDI is not usable yet (%s); vamen keeps "
                           "playing and tries again", " ".join(str(exc).split()) or type(exc).__name__)
            self.port = None
            self._backend_retry = time.monotonic() + BACKEND_RETRY
            return
        self._said.discard("backend")
        if self.connected is not None and self.connected not in names:
            log.warning("MIDI input %r went away; vamen keeps playing and re-opens it when it returns",
                        self.connected)
            self.port.close()
            self.connected = None
            self.router.forget()
        if self.connected is None:
            name = match_port(names, self.query)
            if name is None:
                self._say_once("missing", logging.WARNING, "no MIDI input matches %r (inputs: %s); "
                               "waiting for it", self.query, ", ".join(names) or "none")
                return
            try:
                self.port.open(name)
            except Exception as exc:
                self._say_once("open", logging.WARNING, "cannot open MIDI input %r: %s", name, exc)
                return
            self._tokenizer = Tokenizer()
            self.connected = name
            if self.reconnects or "missing" in self._said:
                log.warning("MIDI input %r is back", name)
            else:
                log.info("MIDI input: %s", name)
            self.reconnects += 1
            self._said -= {"missing", "open"}
        if self.settings.feedback:
            self._scan_output()

    def _scan_output(self) -> None:
        try:
            if self.output is None:
                self.output = open_output()
                if self.output is None:
                    self._say_once("feedback", logging.WARNING,
                                   "MIDI feedback needs an rtmidi backend; no feedback")
                    self.settings = dataclasses.replace(self.settings, feedback=None)
                    return
            names = self.output.names()
            if self.feedback_port is not None and self.feedback_port not in names:
                self.output.close()
                self.feedback_port = None
            if self.feedback_port is None:
                name = match_port(names, self.settings.feedback)
                if name is not None:
                    self.output.open(name)
                    self.feedback_port = name
                    self._echoed.clear()
        except Exception as exc:
            self._say_once("feedback-open", logging.WARNING, "MIDI feedback output: %s", exc)

    # -- messages ------------------------------------------------------------------
    def _pump(self) -> bool:
        if self.connected is None:
            return False
        events = []
        for data, t in self.port.read():
            events.extend((msg, t) for msg in self._tokenizer.feed(data))
        if not events:
            return False
        self.messages += len(events)
        now = time.monotonic()
        for msg, _ in events:
            if msg.type == "control_change":
                self._echoed[msg.channel, msg.control] = msg.value  # the knob shows it already
                self._touched[msg.control] = now
        for cmd in self.router.feed(events):
            try:
                self._enqueue(cmd)
            except queue.Full:
                self.dropped += 1
                self._say_once("full", logging.WARNING, "command queue full: MIDI messages dropped")
        return True

    def _echo(self) -> None:
        if self.feedback_port is None:
            return
        settings = self.settings
        hands_off = time.monotonic() - HANDS_ON
        for mapping in settings.cc.values():
            if mapping.relative or mapping.bits != 7:
                continue
            if self._touched.get(mapping.number, -math.inf) > hands_off:
                continue
            channel = mapping.channel if mapping.channel is not None else (settings.channel or 0)
            value = self._state(mapping.target)
            if value is None:
                continue
            raw = mapping.raw(value)
            if self._echoed.get((channel, mapping.number)) != raw:
                try:
                    self.output.send([0xB0 | channel, mapping.number, raw])
                except Exception:
                    return
                self._echoed[channel, mapping.number] = raw

    # -- learn (control thread) ----------------------------------------------------
    def learned(self, target: str, number: int, channel: int) -> CCMapping | None:
        """Bind CC ``number`` (heard on ``channel``) to ``target`` and save it.

        Called on the control thread. The new settings replace the old ones
        in one reference swap; the file is written atomically.
        """
        try:
            mapping = parse_cc(number, {"target": target, "channel": channel}, self.latent_dim)
        except ValueError as exc:  # a target no knob can have: say so, bind nothing
            log.warning("MIDI learn: cannot bind CC %d: %s", number, exc)
            return None
        self.settings = self.settings.with_cc(mapping)
        self.router.settings = self.settings
        where = ""
        if self.learned_file is not None:
            try:
                saved = read_learned(self.learned_file, self.latent_dim)
                saved[number] = mapping
                write_learned(self.learned_file, saved)
                where = f", saved in {self.learned_file}"
            except OSError as exc:
                log.warning("MIDI learn: could not save %s: %s", self.learned_file, exc)
        self.last_learned = f"CC {number} channel {channel} -> {target}"
        log.warning("MIDI learn: %s%s", self.last_learned, where)
        return mapping

    def health(self) -> dict:
        return {"midi_input": self.connected or "", "midi_learned": self.last_learned,
                "midi_dropped": self.dropped}
