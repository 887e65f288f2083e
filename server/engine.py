"""The running server: one object that builds the wings and wires them together.

The threads it starts and who owns what are drawn in :mod:`vamen.server`.
The control thread (:meth:`Engine.take`, :meth:`Engine.tick`) is the only
one that changes the control state and the tempo map.
"""
from __future__ import annotations

import gc
import logging
import math
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .sources.autopilot import NO_SCENES, off_state, start_flight
from .core.tempo import BEATS_PER_BAR, TempoMap
from .core.commands import AutopilotSwitch, Encode, EngineCommand, State
from .core.control import Change, Control
from .render.encoder import EncodeWorker
from .sources.fairqueue import FairQueue
from .ops.folders import Folders
from .sources.guard import Guard
from .options import ServeOptions, check_setting
from .sources.oscserver import OscServer
from .audio.output import choose_output, default_recording
from .audio.player import Player
from .ops.presets import PresetStore
from .sources.scenes import flight_for, resolve
from .ops.sdnotify import Watchdog
from .ops.session import SessionSaver, load_session, resume_commands, session_path
from .render.worker import RenderWorker

log = logging.getLogger("vamen")

SLOWEST_TEMPO = 20.0
FADE_SECONDS = 0.005
GIL_SWITCH_SECONDS = 0.0005
AUTOPILOT_LEAD_SECONDS = 0.5  # the autopilot plans a bar this long before the worker renders it
#: Underruns and late loops are summarised in one log line at most this often (a non-real-time
#: JACK gave one line every 2 s: 270 lines in 9.5 minutes).
TROUBLE_REPORT_SECONDS = 60.0


def counted(n: int, noun: str) -> str:
    """``1 underrun``, ``3 underruns``: a count with its noun in the right number."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


class Engine:
    """Builds and runs the server; ``start()``, then ``close()``.

    Parameters
    ----------
    options : ServeOptions
    model : LoopModel, optional
        Already loaded (tests share one); else loaded from ``options.model``.
    output : object, optional
        Something with ``start()``, ``close()``, ``latency`` and ``alive``
        built around the player (tests pass their own); else chosen from
        ``options.sinks``.
    """

    def __init__(self, options: ServeOptions, model=None, output_factory=None):
        self.options = options
        self.model = model
        self._output_factory = output_factory
        self.commands: queue.Queue = FairQueue(maxsize=4096)  # takes turns between senders
        self.started_at = time.time()
        self.last_error = ""
        self._reported = (0, 0)  # underruns and late loops already logged
        self._reported_at = -math.inf  # time.monotonic() of that report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.output = None
        self.audio_process = None  # the sound card's child process (vamen.server.audio.audioproc)
        self.cpu_awake = None  # the PM QoS request of --keep-cpu-awake
        self.recorder = None
        self.osc: OscServer | None = None
        self.encoder: EncodeWorker | None = None  # /vamen/encode off the control thread
        self.metrics = None  # the Prometheus endpoint (vamen.server.ops.metrics), when asked for
        self.midi = None  # the MIDI thread (vamen.server.midi), when MIDI is on
        self.clock = None  # who leads tempo and bar (vamen.server.clocks)
        self.autopilot = None  # vamen.server.sources.autopilot, when scenes are configured
        self.saver = None  # saves the session every bar (vamen.server.ops.session)
        self.watchdog = Watchdog({})  # systemd's, fed by the control thread (vamen.server.ops.sdnotify)
        self._last_beat, self._last_bar = -1, None
        self.sinks: list = []  # loop sinks (notify, supercollider): the worker's listeners

    # -- building ------------------------------------------------------------
    def start(self, background: bool = True) -> "Engine":
        """Build everything and start playing.

        ``background=False`` starts no worker or control thread: a test then
        steps ``worker.step()``, ``handle()`` and ``player.fill()`` itself,
        which is the offline clock.
        """
        from vamen.model.loopmodel import LoopModel

        o = self.options
        if o.keep_cpu_awake:
            from .audio.cpuwake import CpuAwake

            self.cpu_awake = CpuAwake()
            if (why := self.cpu_awake.start()) is not None:
                o.notes.append(why)
        # The audio callback is Python and needs the GIL every block (5 ms at
        # 256 frames); by default a busy thread keeps it for up to 5 ms. A
        # shorter interval cut xruns under a saturated CPU from 15 to 2 in 12 s.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        if self.model is None:
            self.model = LoopModel.load(o.model)
        model = self.model
        from .midi.setup import plan as midi_plan

        midi = midi_plan(o, model.latent_dim)  # checked before anything starts
        from .clocks import make_clock

        clock = make_clock(o.clock, o)  # likewise: a missing Link binding is one line
        self.presets = PresetStore(o.presets)
        flight = flight_for(o)  # checked before anything starts, like the MIDI mappings
        if flight is not None:
            flight = resolve(flight, model.latent_dim, model.anchors, self.presets)
        chosen = choose_output(o, self._output_factory)
        self.sample_rate, make_output, self.output_name = chosen.sample_rate, chosen.make, chosen.name
        self.audio_process = chosen.process
        self.session_file = session_path(o.presets)
        saved = None if o.fresh else load_session(self.session_file, model.latent_dim, check_setting)
        # carry on where the last run stopped; options given now still win
        last = saved or {}
        tempo = o.tempo or last.get("tempo") or model.config.tempo
        quantize = _first(o.quantize, last.get("quantize"), 1.0)
        gain = _first(o.gain, last.get("gain"), 1.0)
        quality = int(_first(o.quality, last.get("quality"), 32))
        longest = int(BEATS_PER_BAR * 60.0 / SLOWEST_TEMPO * self.sample_rate) + 1
        fade = int(FADE_SECONDS * self.sample_rate)
        if self.audio_process is not None:  # the loops live in memory shared with it
            self.player = self.audio_process.player(longest, channels=2, fade=fade)
        else:
            self.player = Player(self.sample_rate, longest, channels=2, fade=fade)
        self.player.gain = gain
        self.tempo_map = TempoMap.start(self.sample_rate, tempo)
        self.control = Control(model.latent_dim, model.anchors, self.presets,
                               encode=self._encode, reply=self._reply,
                               extra_state=self.health, tempo=tempo, quantize=quantize,
                               gain=gain, quality=quality, seed=o.seed,
                               start=saved["centre"] if saved else None,
                               subscription_expiry=o.subscription_expiry)
        if saved:
            self._resume(saved)
        self._start_autopilot(flight, saved)
        self.worker = RenderWorker(model, self.player, self.tempo_map, self.control.trajectory,
                                   quality, o.lookahead, o.seed)
        if "file" in o.sinks or o.record:
            self._start_recorder(o.record)
        self.folders = Folders(o.allow_dirs)
        for folder in o.allow_dirs or ():  # --allow-dir is checked; [files] allow may name one to come
            if not Path(folder).expanduser().is_dir():
                o.notes.append(f"allowed folder {folder} does not exist: /vamen/encode finds nothing there")
        guard = Guard(o.allow, o.osc_rate, o.osc_burst, o.osc_total)
        self.osc = OscServer(self.commands, latent_dim=model.latent_dim, host=o.host,
                             port=o.osc_port, guard=guard, on_error=self._note_error).start()
        if (exposure := self.osc.exposure()) is not None:
            o.notes.append(exposure)
        if o.metrics_port is not None:
            from .ops.metrics import MetricsServer

            self.metrics = MetricsServer(self, o.metrics_host, o.metrics_port).start()
        if midi is not None:
            self.midi = midi.start(self)
        if {"notify", "supercollider"} & set(o.sinks):
            from .sinks import build_sinks

            self.sinks = build_sinks(o, self)
            self.worker.listeners.extend(self.sinks)
        self.worker.step()  # the first loop is ready before the first block asks
        # A full garbage collection walks every object torch and librosa made at
        # import (about 240,000) and holds the GIL for over 100 ms: the audio
        # callback, which needs the GIL every 5 ms, underruns. Freezing them
        # leaves the collector only what the performance itself creates.
        gc.collect()
        gc.freeze()
        self.output = make_output(self.player).start()
        self.clock = clock.start(self, background)
        if background:
            self.encoder = EncodeWorker(self._encode, self.commands).start()
            self.worker.start()
            self._thread = threading.Thread(target=self._control_loop, name="vamen-control",
                                            daemon=True)
            self._thread.start()
        return self

    def _resume(self, saved: dict) -> None:
        """Carry on from a saved session's move, walk and glide, through ordinary commands."""
        for cmd in resume_commands(saved):
            self.control.apply(cmd, 0.0, 0.0)
        self.options.notes.append(f"carrying on from the last session ({self.session_file}); "
                                  "--fresh starts anew")

    def _start_recorder(self, path: Path | None) -> None:
        from .audio.recorder import WavRecorder

        path = Path(path or default_recording())
        self.options.record = path
        self.recorder = WavRecorder(path, self.sample_rate, self.player.channels).start()
        self.player.taps.append(self.recorder)

    # -- control thread -------------------------------------------------------
    def _control_loop(self) -> None:
        while not self._stop.is_set():
            try:
                cmd = self.commands.get(timeout=0.01)
            except queue.Empty:
                cmd = None
            if cmd is not None:
                self.take(cmd)
            self.tick()

    def take(self, cmd) -> None:
        """Act on one command from OSC or MIDI: it may take over from the autopilot."""
        if self.autopilot is not None and not isinstance(cmd, EngineCommand):
            self.autopilot.heard(cmd, self.player.position / self.sample_rate)
        try:
            self.handle(cmd)
        except Exception as exc:  # a bug in one command must not stop the show
            self.last_error = f"{cmd.address}: {type(exc).__name__}: {exc}"
            log.exception("command %s failed", cmd.address)

    def tick(self) -> None:
        """What the control thread does between commands (tests on the offline clock call it).

        Once a beat: subscriber feedback and trouble reports. Once a bar, on
        the bar line: the session is saved as it stands there. A little
        before each bar line: the autopilot plans that bar. Every time:
        systemd's watchdog is fed, so a hung control thread stops feeding it.
        """
        now = self.now_beat()
        beat = math.floor(now)
        if beat != self._last_beat:
            self._last_beat = beat
            self.control.send_feedback(float(beat))
            self._report_trouble()
            bar = beat // BEATS_PER_BAR
            if bar != self._last_bar:
                self._last_bar = bar
                self.save_session(bar * BEATS_PER_BAR)
        if self.autopilot is not None:
            ahead = min(BEATS_PER_BAR, max(1.0, (self.options.lookahead + AUTOPILOT_LEAD_SECONDS)
                                           * self.tempo_map.tempo_at(now) / 60.0))
            for at_beat, cmd in self.autopilot.due(now, self.player.position / self.sample_rate, ahead):
                self.handle(cmd, at_beat=at_beat)
        self.watchdog.feed()

    def save_session(self, beat: float | None = None) -> bool:
        """Save the session as it stands at ``beat`` (a bar line); None: the latest (a clean stop)."""
        if self.saver is None:
            return False
        latest = beat is None
        beat = self.now_beat() if latest else beat
        autopilot = self.autopilot.saved(beat) if self.autopilot is not None else None
        tempo = None if latest else self.tempo_map.tempo_at(beat)
        return self.saver.save(self.control, beat=beat, latest=latest, tempo=tempo, autopilot=autopilot,
                               durable=True if latest else None)

    def _start_autopilot(self, flight, saved: dict | None) -> None:
        """The session saver, systemd's watchdog, and the autopilot when there are scenes."""
        self.saver = SessionSaver(self.session_file, check=check_setting)
        self.watchdog = Watchdog()
        if flight is None:
            return
        self.autopilot, note, first = start_flight(flight, self.model.latent_dim, self.options, saved)
        self.options.notes.append(note)
        for beat, cmd in first:  # settled before anything plays (the worker, built next, renders it first)
            change = self.control.apply(cmd, 0.0, 0.0, at_beat=beat)
            if change is not None and "tempo" in change.changed:
                self.tempo_map = TempoMap.start(self.sample_rate, change.tempo)
            if change is not None and "gain" in change.changed:
                self.player.gain = change.gain

    def _autopilot_switch(self, cmd) -> None:
        """``/vamen/autopilot [i on]``: switch, then reply with the autopilot's state."""
        if self.autopilot is None:
            self.reply_error(cmd.address, NO_SCENES, cmd.source)
            return
        if cmd.on is not None:
            self.autopilot.switch(bool(cmd.on))
        args = [v for pair in self.autopilot.state(self.now_beat()).items() for v in pair]
        self._reply("/vamen/autopilot", args, cmd.source)

    def _report_trouble(self, now: float | None = None) -> str | None:
        """Summarise new underruns and late loops in one line, once a minute at most; the line or None.

        Checked once a beat (the callback itself never logs). Underruns are the
        sound card's: blocks it asked for that were not ready. With no sound
        card (the timer that feeds the recording) they mean nothing and are
        not reported; late loops (renders that missed their beat, so the loop
        before played on) are vamen's own, and always are.
        """
        now = time.monotonic() if now is None else now
        if now - self._reported_at < TROUBLE_REPORT_SECONDS:
            return None
        card = self.output_name != "timer"
        counts = (self.player.underruns if card else 0, self.worker.late)
        new = (counts[0] - self._reported[0], counts[1] - self._reported[1])
        if not any(new):
            return None
        since = ("since the start" if self._reported_at == -math.inf
                 else f"in the last {now - self._reported_at:.0f} s")
        parts = []
        if new[0]:
            parts.append(f"{counted(new[0], 'underrun')} (the sound card asked for audio before it "
                         f"was ready; {counts[0]} in all)")
        if new[1]:
            parts.append(f"{counted(new[1], 'late loop')} (a render missed its beat and the loop before "
                         f"played on; {counts[1]} in all)")
        line = f"{' and '.join(parts)} {since}"
        log.warning("%s", line)
        self._reported, self._reported_at = counts, now
        return line

    def now_beat(self) -> float:
        return self.tempo_map.beat_at(self.player.position)

    def earliest_beat(self) -> float:
        """The first beat a quantised change can still land on in time.

        A change needs one render before its loop can play; a beat closer
        than that is skipped for the next one, so changes land on the grid
        rather than late. At quantise 0 the answer is now: it plays as soon
        as it is rendered.
        """
        if self.control.quantize <= 0:
            return self.now_beat()
        lead = self.worker.change_lead()
        return self.tempo_map.beat_at(self.player.position + lead * self.sample_rate)

    def block_beats(self) -> float:
        block = getattr(self.output, "blocksize", self.options.blocksize) or self.options.blocksize
        return block / self.sample_rate * self.tempo_map.tempo_at(self.now_beat()) / 60.0

    def handle(self, cmd, at_beat: float | None = None) -> Change | None:
        """Apply one command on the control thread (tests may call this directly).

        ``at_beat``: land it on that beat (the autopilot's bar lines) rather
        than at ``cmd.at`` or the next quantisation point.
        """
        if isinstance(cmd, EngineCommand):  # MIDI clock alignment and learn (vamen.server.midi)
            cmd.run(self)
            return None
        if isinstance(cmd, AutopilotSwitch):
            self._autopilot_switch(cmd)
            return None
        if isinstance(cmd, Encode) and self.encoder is not None:  # read and encoded off this thread
            if not self.encoder.submit(cmd):
                self._reply("/vamen/error", [cmd.address, "busy: too many files waiting to be "
                                             "encoded; send it again later"], cmd.source)
            return None
        if at_beat is None and getattr(cmd, "at", None) is not None:
            ahead = (cmd.at - time.time()) * self.sample_rate
            at_beat = self.tempo_map.beat_at(self.player.position + ahead)
        # A change lands no earlier than one render ahead; the state is told as it sounds now,
        # so bar, beat and latent agree with the autopilot's figures in the same reply.
        now = self.now_beat() if isinstance(cmd, State) else self.earliest_beat()
        change = self.control.apply(cmd, now, self.block_beats(), at_beat=at_beat)
        if change is not None:
            self.follow(change)
        return change

    def follow(self, change: Change) -> None:
        """Make the worker and player follow a change."""
        kinds = change.changed
        if "gain" in kinds:
            self.player.gain = change.gain
        if "playing" in kinds:
            self.player.playing = change.playing
        tempo_map = None
        if "tempo" in kinds:
            self.tempo_map = self.tempo_map.with_tempo(change.from_beat, change.tempo)
            tempo_map = self.tempo_map
        trajectory = change.trajectory if "trajectory" in kinds else None
        iterations = change.quality if "quality" in kinds else None
        if trajectory is not None or tempo_map is not None or iterations is not None:
            self.worker.change(change.from_beat, trajectory, tempo_map, iterations)

    # -- external clock -----------------------------------------------------------
    def use_clock(self, name: str, source=None) -> None:
        """Hand the lead to the clock called ``name`` (``/vamen/clock``); control thread only."""
        from .clocks import ClockError, hand_over

        try:
            self.clock = hand_over(self.clock, name, self, background=self._thread is not None)
        except ClockError as exc:  # the old clock keeps the lead
            self.reply_error("/vamen/clock", str(exc), source)
            return
        self.options.clock = name

    def sample_at_time(self, when: float) -> float:
        """The output sample heard at wall-clock time ``when`` (epoch seconds).

        Output latency is taken off: the sample written now is heard ``latency`` later.
        """
        latency = float(getattr(self.output, "latency", 0.0) or 0.0)
        monotonic = when - time.time() + time.monotonic()
        return self.player.sample_at(monotonic - latency)

    def align(self, sample: float, beat: float, tolerance: float = 0.0) -> bool:
        """Re-anchor musical time so ``sample`` falls on ``beat``'s place in the bar (:meth:`TempoMap.aligned`).

        Loops queued from now on are re-planned on the new grid. Returns
        whether the map moved. Control thread only.
        """
        old = self.tempo_map
        new = old.aligned(sample, beat, tolerance)
        if new is None:
            return False
        self.tempo_map = new
        now = self.player.position
        self.worker.change(min(old.beat_at(now), self.tempo_map.beat_at(now)),
                           tempo_map=self.tempo_map)
        return True

    # -- replies and figures ----------------------------------------------------
    def reply_error(self, address: str, message: str, to) -> None:
        """Send ``/vamen/error address message`` to ``to`` (None: nobody) and remember it."""
        self._reply("/vamen/error", [address, message], to)

    def _reply(self, address: str, args: list, to) -> bool:
        """Send one message; whether it left (feedback to a subscriber that keeps failing stops)."""
        if address == "/vamen/error":
            self._note_error(args)
        return self.osc is not None and self.osc.send(address, args, to)

    def _note_error(self, args: list) -> None:
        """``last_error`` in ``/vamen/state``: every ``/vamen/error`` sent, the parser's too."""
        self.last_error = f"{args[0]}: {args[1]}" if len(args) > 1 else str(args)

    def _encode(self, path: str) -> np.ndarray:
        """Encode a file inside the allowed folders (by its resolved name: the one checked)."""
        return self.model.encode_file(self.folders.check(path))

    def health(self) -> dict:
        """The ``/vamen/state`` figures: the engine's own, then each part's ``health()``."""
        parts = (self.worker, *self.sinks, self.midi, self.clock, self.osc, self.audio_process)
        errors = (self.last_error, self.worker.error,
                  getattr(self.audio_process, "error", ""), *(k.error for k in self.sinks))
        figures = {"uptime": round(time.time() - self.started_at, 1), "sample_rate": self.sample_rate,
                   "output": self.output_name, "underruns": self.player.underruns,
                   "starved": self.player.starved, "clipped": self.player.clipped,
                   "queue_depth": self.commands.qsize(),
                   "recording": str(self.options.record or ""),
                   "last_error": next((e for e in errors if e), "")}
        for part in parts:
            if part is not None:
                figures.update(part.health())
        figures.update(self.autopilot.state(self.now_beat()) if self.autopilot is not None else off_state())
        figures["cpu_awake"] = int(self.cpu_awake is not None and self.cpu_awake.holding)
        return figures

    def status_line(self) -> str:
        beat = self.now_beat()
        z = self.control.trajectory.at(beat)
        shown = " ".join(f"{v:+.1f}" for v in z[:6]) + (" …" if len(z) > 6 else "")
        return (f"{'▶' if self.control.playing else '■'} {self.tempo_map.tempo_at(beat):6.1f} BPM"
                f"  bar {int(beat // BEATS_PER_BAR) + 1:>5}.{int(beat % BEATS_PER_BAR) + 1}"
                f"  z [{shown}]  underruns {self.player.underruns}  late {self.worker.late}"
                + (f"  {self.clock.status()}" if self.clock is not None and self.clock.status() else ""))

    # -- stopping -------------------------------------------------------------
    def close(self) -> None:
        """Stop every thread and close the sinks; safe to call twice."""
        self._stop.set()
        if self.clock is not None:
            self.clock.close()
        if self.midi is not None:
            self.midi.close()
            self.midi = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.osc is not None:
            self.osc.close()
        for part in (self.encoder, self.metrics, getattr(self, "worker", None), *self.sinks,
                     self.output, self.recorder, self.cpu_awake):
            if part is not None:
                part.close()
        if getattr(self, "control", None) is not None:
            self.save_session()  # the latest: a change asked for just before the stop counts


def _first(*values):
    """The first value that is not None."""
    return next(v for v in values if v is not None)
