"""The MIDI door of ``make fuzz``: mutated MIDI over JACK MIDI at a live ``vamen serve``.

``scripts/fuzz.py`` runs it (``--midi COUNT``); this module holds its parts.

The path is the one a controller takes on stage: a JACK dummy server (its
own, or ``--jack-server NAME``), a python-rtmidi virtual output on it
(:data:`PORT`), and ``vamen serve --midi vamen-fuzz-ctl`` reading it through
rtmidi's JACK API, with :data:`MAPPINGS` in its ``vamen.toml``. What travels
is whatever rtmidi's JACK output carries: events of one to three bytes of
any value, or sysex-started events of any length. Events, in bursts:

* random bytes, lone status bytes, messages cut short, data bytes in
  running status, status bytes where data belongs (out-of-range values);
* sysex garbage: unterminated, interrupted by real-time bytes or by a
  message, spread over several events; stray end-of-exclusive bytes;
* notes, CCs, NRPN and RPN sequences, program changes, aftertouch and pitch
  bend on all sixteen channels;
* clock floods with start, stop and continue; song position, song select,
  MTC quarter frames, tune request, active sensing, reset; the undefined
  0xF4, 0xF5, 0xF9 and 0xFD.

Which of it means anything is decided by a reference, written here from the
MIDI 1.0 specification and the ``[midi]`` contract rather than from vamen's
parser (:class:`Wire` and :class:`Knobs`): every status byte but a real-time
one ends a sysex and any unfinished message and cancels running status;
system common messages (0xF1 to 0xF7, undefined ones too) cancel it; data
bytes with no status are ignored. Bursts alternate:

garbage
    Events the reference says move no knob (an event that would is held
    back, and counted). ``/vamen/state`` must stay what it was.
mixed
    The same garbage with mapped CCs among it: knobs, a 14-bit pair, an
    endless encoder, on their channels and on others, whole, in running
    status, inside a sysex. ``/vamen/state`` must show what the reference
    says they set, and nothing else moved.

Each burst ends with a fence: an end of exclusive and a gain CC whose value
the state did not have. After each burst ``/vamen/ping`` must be answered
within the deadline; once the fence shows in ``/vamen/state`` (within
:data:`SETTLE` s), vamen has read the whole burst, and every other key must
be what the reference says. So "unchanged" is checked after the garbage
was read, not before it arrived.

JACK itself may lose MIDI on a starved machine: a client that misses a cycle
(jackd logs it) loses or repeats that cycle's events. A second reader of the
controller's port (the witness) and jackd's log tell such bursts apart from
vamen misreading: a burst whose state is wrong while jackd reported a
missed cycle, or which the witness did not read whole either, is counted,
not failed, and the next burst sets every knob again; a run that loses
more than a tenth of its bursts fails, having judged too little. Otherwise
any difference is vamen's.
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PORT = "vamen-fuzz-ctl"
JACK_MIDI = "mido.backends.rtmidi/UNIX_JACK"
SETTLE = 5.0  # seconds for a burst's fence to show in /vamen/state (a starved server is slow, not wrong)
#: The period of the JACK server this run starts: 2048 frames, 42.7 ms at 48 kHz. Without
#: real-time scheduling, a loaded 2-core machine starved the JACK clients at 256 frames: dozens
#: of missed cycles a minute, and a client that misses a cycle loses or repeats its MIDI. With
#: the longer period a starved client still runs once a period; latency is not on trial here.
FRAMES = 2048
#: Bytes handed to rtmidi before the sender pauses for the next period: its JACK output
#: keeps 16 kB, and drops what does not fit.
BYTES_AT_ONCE = 4096
EVENT_OVERHEAD = 8  # the size rtmidi stores beside each event
PAUSE = 2 * FRAMES / 48000
#: The lines jackd logs when a client missed a cycle (and with it that cycle's MIDI).
MISSED = ("was not finished", "finished after current callback")

#: What the knobs do. Soft takeover is off, so a knob's value is set as sent (the reference
#: need not model the pickup); quantize 0 (on the command line) lands it at the next block.
MAPPINGS = """\
[midi]
takeover = false
[midi.cc]
1 = { target = "latent/0", min = -3, max = 3, channel = 0 }
7 = { target = "gain", min = 0, max = 1.5, curve = "exp" }
3 = { target = "latent/1", bits = 14 }
16 = { target = "latent/3", mode = "relative2c", step = 0.25, channel = 9 }
"""
#: (CC number, channel or None for all) of each mapping above, the 14-bit pair's LSB included.
MAPPED = ((1, 0), (7, None), (3, None), (35, None), (16, 9))
#: The /vamen/state keys no MIDI may change (those the knobs move are compared to the reference).
STABLE = ("latent_dim", "tempo", "quantize", "playing", "quality", "glide", "walk_depth", "walk_rate",
          "walk_seed", "anchors", "presets", "subscribers", "midi_learn", "chop", "follow")
TOLERANCE = 2e-4  # the state's latent has four decimals


# -- the reference --------------------------------------------------------------------------------

_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2, 0xF1: 1, 0xF2: 2, 0xF3: 1}


class Wire:
    """MIDI 1.0 bytes to messages (tuples of ints), as the specification says a receiver reads them."""

    def __init__(self) -> None:
        self.status: int | None = None  # running status, or the system common message being read
        self.data: list[int] = []
        self.in_sysex = False

    def feed(self, data: list[int]) -> list[tuple[int, ...]]:
        out = []
        for byte in data:
            if byte >= 0xF8:  # real-time: anywhere, and changes nothing around it
                if byte not in (0xF9, 0xFD):
                    out.append((byte,))
                continue
            if byte >= 0x80:  # any other status byte ends a sysex and an unfinished message
                self.in_sysex, self.data = byte == 0xF0, []
                if byte >= 0xF0:  # system exclusive and common cancel running status
                    self.status = byte if byte in _DATA_BYTES else None
                    if byte == 0xF6:
                        out.append((byte,))
                else:
                    self.status = byte
                continue
            if self.in_sysex or self.status is None:
                continue  # a sysex body, or data with no status: nothing
            self.data.append(byte)
            if len(self.data) == _DATA_BYTES[self.status & 0xF0 if self.status < 0xF0 else self.status]:
                out.append((self.status, *self.data))
                self.data = []
                if self.status >= 0xF0:  # system common has no running status
                    self.status = None
        return out


@dataclass
class Knobs:
    """What :data:`MAPPINGS` make of CC messages: the values ``/vamen/state`` must show."""

    latent0: float = 0.0
    latent1: float = 0.0
    latent3: float = 0.0
    gain: float = 1.0
    msb: dict = field(default_factory=dict)  # channel -> the 14-bit pair's coarse value

    def act(self, message: tuple[int, ...]) -> bool:
        """Apply one message; whether a mapping acted on it."""
        if len(message) != 3 or message[0] & 0xF0 != 0xB0:
            return False
        channel, number, value = message[0] & 0x0F, message[1], message[2]
        if number == 1 and channel == 0:
            self.latent0 = -3.0 + 6.0 * value / 127
        elif number == 7:
            self.gain = self.gain_of(value)
        elif number == 3:  # the MSB: a coarse value, the fine one starts again at 0
            self.msb[channel] = value
            self.latent1 = -3.0 + 6.0 * (value << 7) / 16383
        elif number == 35 and channel in self.msb:  # the LSB, once its MSB was heard on this channel
            self.latent1 = -3.0 + 6.0 * ((self.msb[channel] << 7) | value) / 16383
        elif number == 16 and channel == 9:  # two's complement steps
            self.latent3 += 0.25 * (value - 128 if value >= 64 else value)
        else:
            return False
        return True

    @staticmethod
    def gain_of(value: int) -> float:
        """The exp curve: (e^(kx) - 1) / (e^k - 1) with e^k = 100, over 0..1.5."""
        return 1.5 * (100.0 ** (value / 127) - 1.0) / 99.0

    def unclipped(self) -> bool:
        """Whether the encoder's coordinate is where no clipping happens.

        vamen clips the latent to +-4 (``motion.LIMIT``) and folds the steps of
        one read of the port into one nudge, so beyond the limit the outcome
        would hang on how the steps fell into reads: the mixed bursts stay inside.
        """
        return abs(self.latent3) <= 3.5

    def differences(self, state: dict, initial: dict) -> dict:
        """``{key: (expected, shown)}`` for what the state shows otherwise than it should."""
        out = {}
        try:
            latent = [float(v) for v in str(state.get("latent", "")).split(",")]
        except ValueError:
            latent = []
        want = [float(v) for v in str(initial["latent"]).split(",")]
        want[0], want[1], want[3] = self.latent0, self.latent1, self.latent3
        if len(latent) != len(want) or any(abs(a - b) > TOLERANCE * max(1.0, abs(b))
                                           for a, b in zip(latent, want)):
            out["latent"] = (",".join(f"{v:.4f}" for v in want), state.get("latent"))
        gain = state.get("gain")
        if not isinstance(gain, float) or abs(gain - self.gain) > 1e-5:
            out["gain"] = (self.gain, gain)
        for key in STABLE:
            if state.get(key) != initial.get(key):
                out[key] = (initial.get(key), state.get(key))
        return out


# -- the mutants -----------------------------------------------------------------------------------

class Mutants:
    """MIDI events from a seeded ``random.Random``: ``garbage()`` and ``mapped()`` give lists of events.

    An event is what one ``send_message`` of rtmidi's JACK output carries:
    one to three bytes of any value, or any length starting with 0xF0.
    """

    def __init__(self, rng) -> None:
        self.rng = rng
        self.kinds = [self.noise, self.lone_status, self.cut, self.running, self.sysex, self.split_sysex,
                      self.stray_eox, self.notes, self.ccs, self.nrpn, self.voice, self.clock_flood,
                      self.system, self.undefined, self.status_as_data]

    def data(self) -> int:
        return self.rng.randrange(128)

    def channel_status(self) -> int:
        return self.rng.choice([0x80, 0x90, 0xA0, 0xB0, 0xB0, 0xB0, 0xC0, 0xD0, 0xE0]) | self.rng.randrange(16)

    def whole(self, status: int) -> list[int]:
        size = _DATA_BYTES.get(status & 0xF0 if status < 0xF0 else status, 0)
        message = [status] + [self.data() for _ in range(size)]
        if status & 0xF0 == 0xB0 and self.rng.random() < 0.5:  # a mapped number, where garbage hurts most
            message[1] = self.rng.choice(MAPPED)[0]
        return message

    def noise(self):
        event = [self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 3))]
        if event[0] == 0xFE and len(event) > 1:
            # vamen asks rtmidi to drop active sensing, and rtmidi drops an event that starts
            # with 0xFE whole: the bytes after it would never reach vamen (JACK events are one
            # message each, so a real sender cannot send this)
            event[0] = 0xFF
        return [event]

    def lone_status(self):
        return [[self.rng.randrange(0x80, 0x100)]]

    def cut(self):
        message = self.whole(self.rng.choice([self.channel_status(), 0xF1, 0xF2, 0xF3]))
        return [message[:self.rng.randrange(1, len(message))]]

    def running(self):
        """A status, then data bytes alone that reuse it (as many keyboards send)."""
        status = self.channel_status()
        events = [self.whole(status)]
        for _ in range(self.rng.randint(1, 12)):
            events.append([self.data() for _ in range(self.rng.randint(1, 3))])
        return events

    def body(self, size: int) -> list[int]:
        r = self.rng
        body = [self.data() for _ in range(size)]
        for _ in range(r.choice([0, 0, 1, 3])):  # real-time bytes inside, or a message breaking in
            at = r.randrange(len(body) + 1)
            body[at:at] = r.choice([[0xF8], [0xFA], [0xFE], [0xFC], self.whole(self.channel_status())])
        return body

    def sysex(self):
        r = self.rng
        body = self.body(r.choice([0, 1, 5, 60, 300]))
        return [[0xF0] + body + ([0xF7] if r.random() < 0.6 else [])]

    def split_sysex(self):
        """A sysex spread over events: F0 in one, the body in pieces of one to three bytes, F7 later or never."""
        r = self.rng
        body = self.body(r.randint(1, 40))
        events = [[0xF0] + body[:r.randint(0, 3)]]
        rest = body[len(events[0]) - 1:]
        while rest:
            n = r.randint(1, 3)
            events.append(rest[:n])
            rest = rest[n:]
        if r.random() < 0.5:
            events.append([0xF7])
        return events

    def stray_eox(self):
        """An end of exclusive with no sysex, inside a message or before data bytes."""
        r = self.rng
        message = self.whole(self.channel_status())
        at = r.randrange(1, len(message) + 1)
        return [message[:at], [0xF7], message[at:] or [self.data(), self.data()]]

    def notes(self):
        r = self.rng
        status = r.choice([0x80, 0x90]) | r.randrange(16)
        return [[status, self.data(), r.choice([0, 1, 64, 127, self.data()])]]

    def ccs(self):
        """A CC of any number on any channel (in a garbage burst, mapped ones on their channels are held back)."""
        return [[0xB0 | self.rng.randrange(16), self.data(), self.data()]]

    def nrpn(self):
        r = self.rng
        status = 0xB0 | r.randrange(16)
        high, low = r.choice([(99, 98), (101, 100)])  # NRPN, RPN
        events = [[status, high, self.data()], [status, low, self.data()], [status, 6, self.data()]]
        if r.random() < 0.5:
            events.append([status, 38, self.data()])
        if r.random() < 0.5:
            events.append([status, r.choice([96, 97]), self.data()])  # increment, decrement
        return events

    def voice(self):
        """Program change, aftertouch, pitch bend (its extremes too)."""
        r = self.rng
        status = r.choice([0xA0, 0xC0, 0xD0, 0xE0]) | r.randrange(16)
        message = self.whole(status)
        if status & 0xF0 == 0xE0 and r.random() < 0.5:
            message[1:] = r.choice([[0, 0], [127, 127], [0, 64]])
        return [message]

    def clock_flood(self):
        r = self.rng
        events = [[0xF8] for _ in range(r.choice([24, 96, 200]))]
        for _ in range(r.randint(0, 4)):
            events.insert(r.randrange(len(events) + 1), [r.choice([0xFA, 0xFB, 0xFC])])
        return events

    def system(self):
        r = self.rng
        return [r.choice([[0xFA], [0xFB], [0xFC], [0xFE], [0xFF], [0xF6], self.whole(0xF1), self.whole(0xF2),
                          self.whole(0xF3), [0xF2, 127, 127]])]

    def undefined(self):
        r = self.rng
        status = r.choice([0xF4, 0xF5, 0xF9, 0xFD])
        return [[status] + [self.data() for _ in range(r.randint(0, 2))], [self.data(), self.data()]]

    def status_as_data(self):
        """Values beyond 127 where data belongs: status bytes breaking into a message."""
        r = self.rng
        message = self.whole(self.channel_status())
        message[r.randrange(1, len(message))] = r.randrange(0x80, 0x100)
        return [message]

    def garbage(self) -> tuple[str, list[list[int]]]:
        """(the kind, its events); a clock flood, a hundred events at a time, comes a tenth as often."""
        kind = self.rng.choices(self.kinds, [0.1 if k == self.clock_flood else 1 for k in self.kinds])[0]
        return kind.__name__, kind()

    def mapped(self) -> list[list[int]]:
        """Mapped CCs: on their channels mostly, whole or in running status or inside a sysex."""
        r = self.rng
        number, channel = r.choice(MAPPED)
        channel = channel if channel is not None and r.random() < 0.85 else r.randrange(16)
        if number == 16:  # an endless encoder: small steps, now and then any value
            value = r.choice([1, 2, 3, 127, 126, 125]) if r.random() < 0.9 else self.data()
        else:
            value = self.data()
        status = 0xB0 | channel
        how = r.random()
        if how < 0.7:
            return [[status, number, value]]
        if how < 0.9:  # a run of values, the status sent once
            return [[status, number, value]] + [[number, self.data()] for _ in range(r.randint(1, 6))]
        return [[0xF0, self.data(), status, number, value, 0xF7]]


# -- JACK ----------------------------------------------------------------------------------------------

class DummyJack:
    """``jackd`` with the dummy driver (no sound card) under a name of its own, or one already running.

    ``log`` is jackd's output, where it says which client missed a cycle.
    """

    def __init__(self, name: str | None = None, log: Path | None = None) -> None:
        self.name = name or f"vamen-fuzz-{os.getpid()}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {"JACK_DEFAULT_SERVER": self.name, "JACK_NO_AUDIO_RESERVATION": "1", "JACK_NO_START_SERVER": "1"}

    def answers(self) -> bool:
        done = subprocess.run(["jack_wait", "-c", "-s", self.name], capture_output=True, text=True,
                              env={**os.environ, **self.env()}, timeout=10)
        return done.stdout.strip() == "running"

    def start(self) -> "DummyJack":
        missing = [tool for tool in ("jackd", "jack_wait") if shutil.which(tool) is None]
        if missing:
            raise SystemExit(f"fuzz: MIDI over JACK needs {' and '.join(missing)} (Debian jackd2, installed by "
                             f"make system-deps); --midi 0 leaves MIDI out")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(["jackd", "--no-realtime", "-n", self.name, "-d", "dummy", "-r", "48000",
                                          "-p", str(FRAMES)], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env={**os.environ, **self.env()})
        deadline = time.monotonic() + 20
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = " ".join(self.log.read_text(errors="replace").split())
                raise SystemExit(f"fuzz: jackd did not start: {text[-600:]}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class MissedCycles:
    """Counts the cycles jackd's log says a client missed, since last asked (None without a log)."""

    def __init__(self, log: Path | None) -> None:
        self.log = log
        self.at = log.stat().st_size if log is not None and log.exists() else 0

    def new(self) -> int | None:
        if self.log is None:
            return None
        with open(self.log, "rb") as f:
            f.seek(self.at)
            text = f.read().decode(errors="replace")
        self.at += len(text.encode())
        return sum(any(m in line for m in MISSED) for line in text.splitlines())


class Controller:
    """The sender, a virtual JACK MIDI output, and the witness, a second reader of it beside vamen."""

    def __init__(self) -> None:
        import rtmidi

        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="vamen-fuzz")
        self.out.open_virtual_port(PORT)
        self.witness = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="vamen-fuzz-witness", queue_size_limit=1 << 16)
        self.witness.ignore_types(sysex=False, timing=False, active_sense=False)
        ports = self.witness.get_ports()
        self.witness.open_port(next(i for i, p in enumerate(ports) if p.endswith(PORT)), "witness")
        self.room = BYTES_AT_ONCE

    def send(self, events: list[list[int]]) -> None:
        for event in events:
            cost = len(event) + EVENT_OVERHEAD
            if cost > self.room:
                time.sleep(PAUSE)
                self.room = BYTES_AT_ONCE
            self.out.send_message(event)
            self.room -= cost

    def heard(self) -> list[int]:
        """The bytes the witness read since it was last asked."""
        out: list[int] = []
        while (got := self.witness.get_message()) is not None:
            out.extend(got[0])
        return out

    def close(self) -> None:
        for port in (self.witness, self.out):
            port.close_port()
            port.delete()


# -- the run ---------------------------------------------------------------------------------------------

def fuzz_midi(count: int, burst: int, rng, model: Path | None, folder: Path, served, say,
              deadline: float, jack_server: str | None = None, jack_log: Path | None = None) -> dict:
    """Send ``count`` MIDI events in bursts of ``burst`` at a live server; the figures and failures.

    ``served`` is ``fuzz.Served`` (the server and its socket), ``say`` prints progress. Without
    ``jack_server`` the run starts its own JACK server; with it, ``jack_log`` is that server's log.
    """
    if jack_server is None:
        jack = DummyJack(None, folder / "jackd.log").start()
    else:
        jack = DummyJack(jack_server, jack_log)
        if not jack.answers():
            raise SystemExit(f"fuzz: no JACK server {jack_server!r} answers")
    saved = {key: os.environ.get(key) for key in jack.env()}
    os.environ.update(jack.env())  # this process's JACK clients (rtmidi) land on it too
    (folder / "vamen.toml").write_text(MAPPINGS)
    controller = server = None
    try:
        controller = Controller()
        env = {**jack.env(), "MIDO_BACKEND": JACK_MIDI}
        server = served(model, folder, env=env, extra=["--midi", PORT, "--config", str(folder / "vamen.toml"),
                                                        "--quantize", "0"])
        started = time.monotonic()
        while not str((server.state() or {}).get("midi_input", "")).endswith(PORT):
            if time.monotonic() > started + 20:
                raise SystemExit(f"fuzz: vamen serve did not open {PORT} in 20 s:\n{server.output()[-3000:]}")
            time.sleep(0.1)
        return Run(count, burst, rng, server, controller, MissedCycles(jack.log), say, deadline).go(folder)
    finally:
        if server is not None and server.proc.poll() is None:
            server.stop()
        if controller is not None:
            controller.close()
        jack.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Run:
    """The bursts, the reference's account of them, and the verdict after each."""

    def __init__(self, count, burst, rng, server, controller, missed: MissedCycles, say, deadline) -> None:
        self.count, self.burst, self.rng = count, burst, rng
        self.server, self.controller, self.missed, self.say, self.deadline = server, controller, missed, say, deadline
        self.wire, self.knobs, self.make = Wire(), Knobs(), Mutants(rng)
        self.failures: list[str] = []
        self.kinds: dict[str, int] = {}
        self.sent = self.bursts = self.held_back = self.acting = self.cycles_missed = 0
        self.lossy: list[int] = []  # bursts that lost MIDI in cycles JACK says a client missed
        self.resync = False

    def take(self, event: list[int], kind: str, garbage: bool, chunk: list) -> None:
        """Add ``event`` to ``chunk`` unless the reference says it does what its burst may not."""
        wire, knobs = copy.deepcopy(self.wire), copy.deepcopy(self.knobs)
        acts = sum(knobs.act(m) for m in wire.feed(event))
        if acts and (garbage or not knobs.unclipped()):
            self.held_back += 1  # it would move a knob (in a garbage burst), or an encoder too far
            return
        self.wire, self.knobs = wire, knobs
        self.acting += acts if kind not in ("fence", "resync") else 0
        chunk.append(event)
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def compose(self, size: int) -> list[list[int]]:
        garbage = self.bursts % 2 == 0
        chunk: list[list[int]] = []
        if self.resync:  # after a burst JACK lost part of: every knob to a known value again
            preamble = [[0xB0, 1, 64], [0xB0, 7, 64]] + [[0xB0 | ch, 3, 64] for ch in range(16)]
            for event in preamble:
                self.take(event, "resync", False, chunk)
            self.resync = False
        while len(chunk) < size - 2:
            kind, events = ("mapped", self.make.mapped()) if not garbage and self.rng.random() < 0.25 \
                else self.make.garbage()
            for event in events[:size - 2 - len(chunk)]:
                self.take(event, kind, garbage, chunk)
        # The fence: an end of exclusive, then a whole gain CC. rtmidi's JACK input holds every
        # event after one that opens a sysex and does not close it, until an event ends in 0xF7:
        # the 0xF7 lets them through. Once the state shows the fence's gain, vamen has read all
        # before it (one ordered path: JACK, the MIDI thread, the command queue, the control thread).
        fence = next(v for v in (90, 91) if abs(self.knobs.gain - Knobs.gain_of(v)) > 1e-3)
        for event in ([0xF7], [0xB0, 7, fence]):
            self.take(event, "fence", False, chunk)
        return chunk

    def settled(self) -> tuple[float | None, dict]:
        """Seconds until the state shows what the reference says (None if not within SETTLE), and what differs."""
        asked = time.monotonic()
        while True:
            state = self.server.state()
            diff = self.knobs.differences(state, self.initial) if state is not None else {"state": ("a reply", None)}
            if not diff:
                return time.monotonic() - asked, {}
            if time.monotonic() - asked > SETTLE:
                return None, diff
            time.sleep(0.01)

    def judge(self, chunk, took, diff) -> None:
        """A burst the state shows right passes. One it does not is JACK's loss if jackd says a
        client missed a cycle, or if the witness did not read it whole either; else vamen's failure."""
        garbage = self.bursts % 2 == 1  # (compose counted from 0, this burst is counted now)
        heard = self.controller.heard()  # (bytes a late witness read of the burst before come first)
        missed = self.missed.new()
        if took is None and missed == 0:
            time.sleep(3 * PAUSE)  # jackd says a client missed a cycle when the next one starts
            missed = self.missed.new()
        self.cycles_missed += missed or 0
        if took is not None:
            return
        self.resync = True
        sent = [b for event in chunk for b in event]
        if missed or heard[len(heard) - len(sent):] != sent:  # lost or doubled on the way
            self.lossy.append(self.bursts)
        else:
            what = "garbage moved" if garbage else "the MIDI sent did not do what it means"
            self.failures.append(f"MIDI burst {self.bursts} ({'garbage' if garbage else 'mixed'}): {what}: "
                                 f"{{key: (expected, shown)}} = {diff}")
        # Go on from what vamen shows: let through whatever rtmidi holds, read the encoder's
        # coordinate, and set the other knobs again at the start of the next burst.
        self.controller.send([[0xF7]])
        self.wire.feed([0xF7])
        self.sent += 1
        time.sleep(0.3)
        self.controller.heard()
        state = self.server.state() or {}
        try:
            self.knobs.latent3 = float(str(state.get("latent")).split(",")[3])
        except (ValueError, IndexError):
            pass

    def go(self, folder: Path) -> dict:
        server = self.server
        self.initial = server.state()
        # the knobs start where the server does (a model's centre, not always zero)
        start = [float(v) for v in str(self.initial["latent"]).split(",")]
        self.knobs.latent0, self.knobs.latent1, self.knobs.latent3 = start[0], start[1], start[3]
        lines_at_start, threads_at_start = server.log_lines(), server.status("Threads")
        pings, settles = [], []
        rss_at_start = None
        warm_up = max(1, min(10, self.count // self.burst // 4))  # bursts before RSS is measured
        started = time.monotonic()
        self.controller.heard()
        self.missed.new()
        while self.sent < self.count:
            chunk = self.compose(min(self.burst, self.count - self.sent))
            self.controller.send(chunk)
            self.sent += len(chunk)
            self.bursts += 1
            answered = server.ping(self.deadline)
            if answered is None:
                late = server.ping(2.0)
                self.failures.append(f"MIDI burst {self.bursts}: no /vamen/pong within {self.deadline * 1000:.0f} ms"
                                     + (f" (it came after {late * 1000:.0f} ms)" if late is not None
                                        else " (none in 2 s)"))
                if server.proc.poll() is not None:
                    self.failures.append(f"vamen serve exited with status {server.proc.returncode}")
                    break
            else:
                pings.append(answered)
            took, diff = self.settled()
            if took is not None:
                settles.append(took)
            self.judge(chunk, took, diff)
            if rss_at_start is None and self.bursts >= warm_up:
                rss_at_start = server.status("VmRSS")
            if self.bursts % 10 == 0 or self.sent >= self.count:
                self.say(f"MIDI {self.sent:,}/{self.count:,} messages, ping max {max(pings, default=0) * 1000:.1f} ms, "
                         f"RSS {server.status('VmRSS') / 1024:.1f} MB, log +{server.log_lines() - lines_at_start} lines")
        seconds = time.monotonic() - started
        final = server.state() or {}
        rss_at_end, threads_at_end = server.status("VmRSS"), server.status("Threads")
        failures = self.failures
        text, growth, lines = server.ended({"rss": rss_at_start, "threads": threads_at_start},
                                           {"rss": rss_at_end, "threads": threads_at_end},
                                           lines_at_start, failures, "the MIDI run")
        if len(self.lossy) > self.bursts // 10:
            failures.append(f"JACK lost MIDI in {len(self.lossy)} of {self.bursts} bursts (clients missed "
                            f"{self.cycles_missed} cycles): too few bursts judged; a less loaded machine")
        if not str(final.get("midi_input", "")).endswith(PORT):
            failures.append(f"the MIDI input closed: midi_input is {final.get('midi_input')!r}")
        if final.get("midi_dropped"):
            failures.append(f"{final['midi_dropped']} MIDI commands dropped (the command queue was full)")
        if "MIDI input failed" in text:
            failures.append("the MIDI thread caught an exception: " + next(
                line for line in text.splitlines() if "MIDI input failed" in line))
        pings.sort()
        settles.sort()
        return {"messages": self.sent, "bursts": self.bursts, "seconds": round(seconds, 1), "kinds": self.kinds,
                "acting": self.acting, "held_back": self.held_back,
                "ping_ms_max": round(pings[-1] * 1000, 2) if pings else None,
                "ping_ms_p50": round(pings[len(pings) // 2] * 1000, 2) if pings else None,
                "pings_late": self.bursts - len(pings), "ping_deadline_ms": round(self.deadline * 1000),
                "settle_ms_max": round(settles[-1] * 1000, 1) if settles else None,
                "rss_kb_start": rss_at_start, "rss_kb_end": rss_at_end, "rss_growth_percent": round(100 * growth, 2),
                "threads_start": threads_at_start, "threads_end": threads_at_end, "log_lines": lines,
                "cycles_missed": self.cycles_missed, "bursts_lost_by_jack": self.lossy,
                "tracebacks": text.count("Traceback"), "failures": failures}
