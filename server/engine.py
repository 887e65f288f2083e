"""The running server: one object that builds the wings and wires them together.

The threads it starts and who owns what are drawn in :mod:`vamen.server`.
What the control thread does once all is built (commands, musical time,
the tick) is :class:`~vamen.server.conductor.Conductor`'s, which the engine
is; it is the only thread that changes the control state and the tempo map.
"""
from __future__ import annotations

import gc
import math
import os
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .conductor import Conductor
from .sources.autopilot import off_state, start_flight
from .core.tempo import BEATS_PER_BAR, TempoMap
from .core.control import Control
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
from .ops.alerts import Alerter
from .ops.deadair import DeadAir
from .ops.trouble import TroubleReport, rss_mb
from .ops.session import SessionSaver, load_session, resume_commands, session_path
from .render.listener import Listener
from .render.worker import RenderWorker

SLOWEST_TEMPO = 20.0
FADE_SECONDS = 0.005
GIL_SWITCH_SECONDS = 0.0005


class Engine(Conductor):
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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.output = None
        self.audio_process = None  # the sound card's child process (vamen.server.audio.audioproc)
        self.cpu_awake = None  # the PM QoS request of --keep-cpu-awake
        self.cpus_before = None  # vamen's CPUs before --audio-cpus moved it off the sound's
        self.recorder = None
        self.input = None  # the live input's child process (vamen.server.audio.inputproc), with --input
        self.listener = None  # cuts and encodes the input bar by bar (vamen.server.render.listener)
        self.input_recorder = None
        self.osc: OscServer | None = None
        self.encoder: EncodeWorker | None = None  # /vamen/encode off the control thread
        self.metrics = None  # the Prometheus endpoint (vamen.server.ops.metrics), when asked for
        self.web = None  # the web page (vamen.server.web), when asked for
        self.midi = None  # the MIDI thread (vamen.server.midi), when MIDI is on
        self.clock = None  # who leads tempo and bar (vamen.server.clocks)
        self.autopilot = None  # vamen.server.sources.autopilot, when scenes are configured
        self.saver = None  # saves the session every bar (vamen.server.ops.session)
        self.watchdog = Watchdog({})  # systemd's, fed by the control thread (vamen.server.ops.sdnotify)
        self.trouble = TroubleReport(card=False)  # underruns and late loops in the log
        self.sinks: list = []  # loop sinks (notify, supercollider): the worker's listeners
        self.alerts = Alerter(options.on_alert)  # dead air, devices, memory (vamen.server.ops.alerts)
        self.dead_air = None  # vamen.server.ops.deadair, once the player is built
        self.exit_code: int | None = None  # set when vamen decides to stop (the memory ceiling)

    # -- building ------------------------------------------------------------
    def start(self, background: bool = True) -> "Engine":
        """Build everything and start playing.

        ``background=False`` starts no worker or control thread: a test or
        a benchmark then drives it with :meth:`step` (the offline clock).
        """
        from vamen.model.loopmodel import LoopModel

        o = self.options
        if o.keep_cpu_awake:
            from .audio.cpuwake import CpuAwake

            self.cpu_awake = CpuAwake()
            if (why := self.cpu_awake.start()) is not None:
                o.notes.append(why)
        if o.audio_cpus:
            self._keep_off(o.audio_cpus)
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
        self.trouble = TroubleReport(card=self.output_name != "timer")
        self.audio_process = chosen.process
        if o.input:
            self._open_input(o.input, chosen)
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
        if self.audio_process is not None:
            self.audio_process.alerts = self.alerts
        self.dead_air = DeadAir(o.dead_air, self.sample_rate, self.alerts.raise_, self._heal)
        self.tempo_map = TempoMap.start(self.sample_rate, tempo)
        self.control = Control(model.latent_dim, model.anchors, self.presets,
                               encode=self._encode, reply=self.reply,
                               extra_state=self.health, tempo=tempo, quantize=quantize,
                               gain=gain, quality=quality, seed=o.seed,
                               start=saved["centre"] if saved else None,
                               subscription_expiry=o.subscription_expiry,
                               listening=self.input is not None, prior=model.prior)
        if saved:
            self._resume(saved)
        self._start_autopilot(flight, saved)
        self.worker = RenderWorker(model, self.player, self.tempo_map, self.control.trajectory,
                                   quality, o.lookahead, o.seed)
        self.worker.chops = self.control.chops  # a resumed session's chops play from the first bar
        if "file" in o.sinks or o.record:
            self._start_recorder(o.record)
        self.folders = Folders(o.allow_dirs)
        for folder in o.allow_dirs or ():  # --allow-dir is checked; [files] allow may name one to come
            if not Path(folder).expanduser().is_dir():
                o.notes.append(f"allowed folder {folder} does not exist: /vamen/encode finds nothing there")
        guard = Guard(o.allow, o.osc_rate, o.osc_burst, o.osc_total)
        try:
            self.osc = OscServer(self.commands, latent_dim=model.latent_dim, host=o.host,
                                 port=o.osc_port, guard=guard, on_error=self.note_error).start()
        except OSError as exc:  # the port is taken, the host is not this machine's or does not resolve
            from vamen.model.errors import VamenError

            raise VamenError(f"cannot listen for OSC on {o.host}:{o.osc_port}: {exc.strerror or exc}") from None
        if (exposure := self.osc.exposure()) is not None:
            o.notes.append(exposure)
        if o.metrics_port is not None:
            from .ops.metrics import MetricsServer

            self.metrics = MetricsServer(
                lambda: {**self.health(), "tempo": self.control.tempo, "playing": self.control.playing},
                guard, o.metrics_host, o.metrics_port).start()
        if o.web_port is not None:
            self.start_web(o.web_host, o.web_port)
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
        # the input's recording begins where the output's does, so the two line up
        heard_from = self.input.written if self.input is not None else 0
        self.output = make_output(self.player).start()
        self.clock = clock.start(self, background)
        if background:
            if self.input is not None:
                self.listener = Listener(self.input, lambda: float(self.output.latency or 0.0),
                                         self._encode_bar, self.commands, self.input_recorder,
                                         since=heard_from).start()
            self.encoder = EncodeWorker(self._encode, self.commands).start()
            self.worker.start()
            self._thread = threading.Thread(target=self._control_loop, name="vamen-control",
                                            daemon=True)
            self._thread.start()
        return self

    def _keep_off(self, audio_cpus: str) -> None:
        """Every thread of vamen on the CPUs ``--audio-cpus`` leaves it; the audio children
        pin themselves to the others (:mod:`vamen.server.audio.cpus`)."""
        from .audio.cpus import format_cpus, pin, split_cpus

        before = frozenset(os.sched_getaffinity(0))
        _, rest = split_cpus(audio_cpus, before)
        if pin(os.getpid(), rest):
            self.cpus_before = before
        else:
            self.options.notes.append(f"could not move vamen to CPUs {format_cpus(rest)}; "
                                      "it runs where it was")

    def start_web(self, host: str = "127.0.0.1", port: int = 0):
        """Serve the web page (:mod:`vamen.server.web`) with OSC's allow-list and limits; returns it."""
        from .web.server import WebServer
        from .web.spectrogram import Spectrograms

        o = self.options
        player = self.player
        spectrograms = Spectrograms(player.sample_rate, lambda: player.position).start()
        guard = Guard(o.allow, o.osc_rate, o.osc_burst, o.osc_total)
        try:
            self.web = WebServer(self, spectrograms, guard, host, port).start()
        except Exception:
            spectrograms.close()
            raise
        self.web.spectrograms = spectrograms
        self.worker.listeners.append(spectrograms)
        if (exposure := self.web.exposure()) is not None:
            o.notes.append(exposure)
        return self.web

    def _resume(self, saved: dict) -> None:
        """Carry on from a saved session's move, walk and glide, through ordinary commands."""
        for cmd in resume_commands(saved, listening=self.input is not None):
            self.control.apply(cmd, 0.0, 0.0)
        self.options.notes.append(f"carrying on from the last session ({self.session_file}); "
                                  "--fresh starts anew")
        if saved.get("follow") is not None and self.input is None:
            self.options.notes.append("the last session followed the live input; this one has no --input "
                                      "to follow, so it plays your own point")

    def _start_recorder(self, path: Path | None) -> None:
        from .audio.recorder import WavRecorder

        path = Path(path or default_recording())
        self.options.record = path
        self.recorder = WavRecorder(path, self.sample_rate, self.player.channels).start()
        self.player.taps.append(self.recorder)
        if self.input is not None:  # the input beside it, so a set can be heard back as it was played
            self.input_recorder = WavRecorder(input_recording(path), self.sample_rate,
                                              self.input.layout.channels).start()

    def _open_input(self, name: str, chosen) -> None:
        """Start listening to ``--input``; a missing device stops the start in one line."""
        from .audio.inputproc import ProcessInput

        self.input = ProcessInput(name, self.sample_rate, self.options.blocksize or 256,
                                  cpus=self.options.audio_cpus)
        try:
            self.input.start()
        except Exception:
            self.input.close()
            self.input = None
            if chosen.process is not None:
                chosen.process.close()
            raise

    def _encode_bar(self, audio: np.ndarray, rate: int) -> np.ndarray:
        """One bar of the input (mono, at ``rate``) as a latent point, as /vamen/encode does a file's bar."""
        model_rate = self.model.config.sample_rate
        if rate != model_rate:
            import librosa

            audio = librosa.resample(np.ascontiguousarray(audio, dtype=np.float32), orig_sr=rate,
                                     target_sr=model_rate)
        return self.model.encode_loops(audio[None])[0]

    def _start_autopilot(self, flight, saved: dict | None) -> None:
        """The session saver, systemd's watchdog, and the autopilot when there are scenes."""
        self.saver = SessionSaver(self.session_file, check=check_setting)
        self.watchdog = Watchdog()
        if flight is None:
            return
        self.autopilot, note, first = start_flight(flight, self.model.latent_dim, self.options, saved,
                                                         self.model.prior)
        self.options.notes.append(note)
        for beat, cmd in first:  # settled before anything plays (the worker, built next, renders it first)
            change = self.control.apply(cmd, 0.0, 0.0, at_beat=beat)
            if change is not None and "tempo" in change.changed:
                self.tempo_map = TempoMap.start(self.sample_rate, change.tempo)
            if change is not None and "gain" in change.changed:
                self.player.gain = change.gain

    def _encode(self, path: str) -> np.ndarray:
        """Encode a file inside the allowed folders (by its resolved name: the one checked)."""
        return self.model.encode_file(self.folders.check(path))

    def _heal(self, step: int) -> str:
        """Dead air's cure, step by step: render the playing bar again, then a new audio process."""
        if step == 1 and self.audio_process is not None:
            self.audio_process.replace("dead air that a new render did not cure")
            return "replacing the audio process"
        self.worker.redo(self.now_beat())
        return "rendering the playing bar again"

    def health(self) -> dict:
        """The ``/vamen/state`` figures: the engine's own, then each part's ``health()``."""
        parts = (self.worker, *self.sinks, self.midi, self.clock, self.osc, self.audio_process,
                 self.dead_air, self.alerts, self.web, self.listener)
        errors = (self.last_error, self.worker.error,
                  getattr(self.audio_process, "error", ""), getattr(self.input, "error", ""),
                  getattr(self.listener, "error", ""), *(k.error for k in self.sinks))
        figures = {"uptime": round(time.time() - self.started_at, 1), "sample_rate": self.sample_rate,
                   "output": self.output_name, "underruns": self.player.underruns,
                   "starved": self.player.starved, "clipped": self.player.clipped,
                   "broken_blocks": self.player.broken, "rss_mb": round(rss_mb(), 1),
                   "queue_depth": self.commands.qsize(),
                   "recording": str(self.options.record or ""),
                   "input_recording": str(self.input_recorder.path) if self.input_recorder else "",
                   "output_latency_ms": round(1000.0 * float(getattr(self.output, "latency", 0.0) or 0.0), 2),
                   "next_bar_at": self.next_bar_at(),
                   "last_error": next((e for e in errors if e), "")}
        for part in parts:
            if part is not None:
                figures.update(part.health())
        figures.update(self.autopilot.state(self.now_beat()) if self.autopilot is not None else off_state())
        figures["cpu_awake"] = int(self.cpu_awake is not None and self.cpu_awake.holding)
        if self.options.audio_cpus:  # where the audio process really runs, not what was asked
            from .audio.cpus import cpus_of, format_cpus

            pid = getattr(self.audio_process, "pid", None)
            held = cpus_of(pid) if pid else None
            figures["audio_cpus"] = format_cpus(held) if held else ""
        return figures

    def next_bar_at(self) -> str:
        """When the next bar line is heard, in epoch seconds (a string: OSC floats are too coarse)."""
        now = time.monotonic()
        beat = self.tempo_map.beat_at(self.player.sample_at(now))
        sample = self.tempo_map.sample_at((math.floor(beat / BEATS_PER_BAR) + 1) * BEATS_PER_BAR)
        heard = now + (sample - self.player.sample_at(now)) / self.sample_rate
        heard += float(getattr(self.output, "latency", 0.0) or 0.0)
        return f"{heard - now + time.time():.6f}"

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
        if self.web is not None:
            self.web.close()
            self.web.spectrograms.close()
        # the input stops listening when the output stops playing, so the two recordings end together
        for part in (self.encoder, self.metrics, getattr(self, "worker", None), *self.sinks, self.output,
                     self.listener, self.input, self.recorder, self.input_recorder, self.cpu_awake):
            if part is not None:
                part.close()
        if self.cpus_before is not None:  # a bench or a test goes on in this process
            from .audio.cpus import pin

            pin(os.getpid(), self.cpus_before)
            self.cpus_before = None
        if getattr(self, "control", None) is not None:
            self.save_session()  # the latest: a change asked for just before the stop counts


def input_recording(path: Path) -> Path:
    """Where ``--record PATH`` puts the input: ``set.wav`` -> ``set-input.wav``."""
    path = Path(path)
    return path.with_name(f"{path.stem}-input{path.suffix or '.wav'}")


def _first(*values):
    """The first value that is not None."""
    return next(v for v in values if v is not None)
