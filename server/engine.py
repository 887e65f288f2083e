"""The running server: one object that wires the threads together.

::

    OSC thread ──> command queue ──> control thread (owns Control) ──> render worker
                                                                         │ cues
    sound card callback (or timer) <── Player <──────────────────────────┘
                                  └──> taps (file recorder)

The control thread is the only one that changes the control state; the OSC
thread only parses and enqueues; the worker is the only one that touches
torch; the callback only copies.
"""
from __future__ import annotations

import gc
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .clock import BEATS_PER_BAR, TempoMap
from .control import Change, Control
from .midi.commands import EngineCommand
from .oscserver import OscServer
from .player import Player
from .presets import PresetStore
from .session import load_session, save_session, session_path
from .worker import RenderWorker

log = logging.getLogger("vamen")

SLOWEST_TEMPO = 20.0
FADE_SECONDS = 0.005
GIL_SWITCH_SECONDS = 0.0005
MIN_LEAD_SECONDS, MAX_LEAD_SECONDS = 0.05, 0.3  # time a quantised change needs to be rendered


@dataclass
class ServeOptions:
    """Everything ``vamen serve`` and ``vamen.toml`` can set."""

    model: Path | None = None
    host: str = "127.0.0.1"
    osc_port: int = 57140
    sinks: tuple[str, ...] = ("soundcard",)
    device: str | None = None
    midi: str | None = None
    clock: str = "internal"  # or "midi": follow the MIDI input's clock and transport
    config: Path | None = None  # the vamen.toml read, for its [midi] table
    tempo: float | None = None  # None: the saved session's, else the model's
    quantize: float | None = None  # None: the saved session's, else 1 beat
    quality: int | None = None  # None: the saved session's, else 32 iterations
    gain: float | None = None  # None: the saved session's, else 1.0
    record: Path | None = None
    sample_rate: int | None = None
    blocksize: int = 256
    lookahead: float = 0.6
    seed: int = 0
    presets: Path | None = None
    fresh: bool = False
    # loop sinks (vamen.server.sinks): where the notify and supercollider sinks send
    notify: tuple[str, ...] = ("127.0.0.1:57150",)  # OSC clients told of each loop file
    notify_dir: Path | None = None  # where loop files go [default: a temporary folder]
    scsynth: str = "127.0.0.1:57110"
    sclang: tuple[str, ...] = ("127.0.0.1:57120",)
    sc_buffers: int = 1000  # first of the scsynth buffer numbers vamen fills
    status: bool = True
    notes: list[str] = field(default_factory=list)


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
        self.commands: queue.Queue = queue.Queue(maxsize=4096)
        self.started_at = time.time()
        self.last_error = ""
        self._reported = (0, 0)  # underruns and late loops already logged
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.output = None
        self.recorder = None
        self.osc: OscServer | None = None
        self.midi = None  # the MIDI thread (vamen.server.midi), when MIDI is on
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
        # The audio callback is Python and needs the GIL every block (5 ms at
        # 256 frames); by default a busy thread keeps it for up to 5 ms. A
        # shorter interval cut xruns under a saturated CPU from 15 to 2 in 12 s.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        if self.model is None:
            self.model = LoopModel.load(o.model)
        model = self.model
        from .midi.setup import plan as midi_plan

        midi = midi_plan(o, model.latent_dim)  # checked before anything starts
        self.sample_rate, make_output, self.output_name = self._choose_output()
        self.presets = PresetStore(o.presets)
        self.session_file = session_path(o.presets)
        saved = None if o.fresh else load_session(self.session_file, model.latent_dim)
        # carry on where the last run stopped; options given now still win
        last = saved or {}
        tempo = o.tempo or last.get("tempo") or model.config.tempo
        quantize = _first(o.quantize, last.get("quantize"), 1.0)
        gain = _first(o.gain, last.get("gain"), 1.0)
        quality = int(_first(o.quality, last.get("quality"), 32))
        longest = int(BEATS_PER_BAR * 60.0 / SLOWEST_TEMPO * self.sample_rate) + 1
        self.player = Player(self.sample_rate, longest, channels=2,
                             fade=int(FADE_SECONDS * self.sample_rate))
        self.player.gain = gain
        self.tempo_map = TempoMap.start(self.sample_rate, tempo)
        self.control = Control(model.latent_dim, model.anchors, self.presets,
                               encode=self._encode, reply=self._reply,
                               extra_state=self.health, tempo=tempo, quantize=quantize,
                               gain=gain, quality=quality, seed=o.seed,
                               start=saved["point"] if saved else None)
        if saved:
            self._resume(saved)
        self.worker = RenderWorker(model, self.player, self.tempo_map, self.control.trajectory,
                                   quality, o.lookahead, o.seed)
        if "file" in o.sinks or o.record:
            self._start_recorder(o.record)
        self.osc = OscServer(self.commands, latent_dim=model.latent_dim, host=o.host,
                             port=o.osc_port).start()
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
        if background:
            self.worker.start()
            self._thread = threading.Thread(target=self._control_loop, name="vamen-control",
                                            daemon=True)
            self._thread.start()
        return self

    def _resume(self, saved: dict) -> None:
        """Restore the walk and glide of a saved session through ordinary commands."""
        from .commands import Glide, Walk

        walk = saved["walk"]
        for cmd in (Glide(saved["glide"]), Walk(walk["depth"], walk["rate"], int(walk["seed"]))):
            self.control.apply(cmd, 0.0, 0.0)
        self.options.notes.append(f"carrying on from the last session ({self.session_file}); "
                                  "--fresh starts anew")

    def _choose_output(self):
        o = self.options
        if self._output_factory is not None:
            return o.sample_rate or 48000, self._output_factory, "custom"
        from .output import SoundcardOutput, TimerOutput

        if "soundcard" in o.sinks:
            from .devices import DeviceError, find_output, rescan_audio, set_jack_client_name

            # on JACK the ports read vamen:out_0, vamen:out_1 (JACK numbers a second one)
            if set_jack_client_name("vamen"):
                rescan_audio()
            try:
                index, rate = find_output(o.device)
                rate = int(o.sample_rate or rate)
                name = _device_name(index)
                return rate, (lambda p: SoundcardOutput(p, index, o.blocksize)), name
            except DeviceError as exc:
                if o.device:  # a device the user named and we cannot find: say so, stop
                    raise
                path = o.record or default_recording()
                o.record = path
                o.notes.append(f"{exc}; recording to {path} instead")
        rate = o.sample_rate or 48000
        return rate, (lambda p: TimerOutput(p, 512)), "timer"

    def _start_recorder(self, path: Path | None) -> None:
        from .recorder import WavRecorder

        path = Path(path or default_recording())
        self.options.record = path
        self.recorder = WavRecorder(path, self.sample_rate, self.player.channels).start()
        self.player.taps.append(self.recorder)

    # -- control thread -------------------------------------------------------
    def _control_loop(self) -> None:
        last_beat = -1
        while not self._stop.is_set():
            try:
                cmd = self.commands.get(timeout=0.01)
            except queue.Empty:
                cmd = None
            if cmd is not None:
                try:
                    self.handle(cmd)
                except Exception as exc:  # a bug in one command must not stop the show
                    self.last_error = f"{cmd.address}: {type(exc).__name__}: {exc}"
                    log.exception("command %s failed", cmd.address)
            beat = int(self.now_beat())
            if beat != last_beat:
                last_beat = beat
                self.control.send_feedback(float(beat))
                self._report_trouble()

    def _report_trouble(self) -> None:
        """Log new underruns and late loops once a beat (the callback itself never logs)."""
        counts = (self.player.underruns, self.worker.late)
        seen = self._reported
        if counts != seen:
            log.warning("%d underruns, %d late loops since the last report (%d, %d in all)",
                        counts[0] - seen[0], counts[1] - seen[1], *counts)
            self._reported = counts

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
        p99 = self.worker.render_ms()[1] / 1000.0
        lead = min(MAX_LEAD_SECONDS, max(MIN_LEAD_SECONDS, 2.0 * p99))
        return self.tempo_map.beat_at(self.player.position + lead * self.sample_rate)

    def block_beats(self) -> float:
        block = getattr(self.output, "blocksize", self.options.blocksize) or self.options.blocksize
        return block / self.sample_rate * self.tempo_map.tempo_at(self.now_beat()) / 60.0

    def handle(self, cmd) -> Change | None:
        """Apply one command on the control thread (tests may call this directly)."""
        if isinstance(cmd, EngineCommand):  # MIDI clock alignment and learn (vamen.server.midi)
            cmd.run(self)
            return None
        at_beat = None
        if getattr(cmd, "at", None) is not None:
            ahead = (cmd.at - time.time()) * self.sample_rate
            at_beat = self.tempo_map.beat_at(self.player.position + ahead)
        change = self.control.apply(cmd, self.earliest_beat(), self.block_beats(), at_beat=at_beat)
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
    def sample_at_time(self, when: float) -> float:
        """The output sample heard at wall-clock time ``when`` (epoch seconds).

        Output latency is taken off: the sample written now is heard ``latency`` later.
        """
        latency = float(getattr(self.output, "latency", 0.0) or 0.0)
        return self.player.position + (when - time.time() - latency) * self.sample_rate

    def align(self, sample: float, beat: float, tolerance: float = 0.0) -> bool:
        """Re-anchor musical time so ``sample`` falls on ``beat``'s place in the bar.

        The external clock leads (MIDI Start, Continue, its beats): the beat
        count moves to the nearest beat with the same place in the bar as
        ``beat`` (at most half a bar either way), tempo changes keep their
        samples, and loops queued from now on are re-planned on the new grid.
        A disagreement within ``tolerance`` samples is left alone. Returns
        whether the map moved. Control thread only.
        """
        old = self.tempo_map
        here = old.beat_at(sample)
        shift = (beat - here) % BEATS_PER_BAR
        if shift > BEATS_PER_BAR / 2:
            shift -= BEATS_PER_BAR
        if abs(shift) * 60.0 / old.tempo_at(here) * self.sample_rate <= tolerance:
            return False
        self.tempo_map = TempoMap(old.sample_rate, tuple(b + shift for b in old.beats),
                                  old.samples, old.tempos)
        now = self.player.position
        self.worker.change(min(old.beat_at(now), self.tempo_map.beat_at(now)),
                           tempo_map=self.tempo_map)
        return True

    # -- replies and figures ----------------------------------------------------
    def _reply(self, address: str, args: list, to) -> None:
        if address == "/vamen/error":
            self.last_error = f"{args[0]}: {args[1]}" if len(args) > 1 else str(args)
        if self.osc is not None:
            self.osc.send(address, args, to)

    def _encode(self, path: str) -> np.ndarray:
        return self.model.encode_file(path)

    def health(self) -> dict:
        p50, p99 = self.worker.render_ms()
        ahead = sum(1 for s in self.worker.slots if s.cue.start > self.player.position)
        return {
            "uptime": round(time.time() - self.started_at, 1),
            "sample_rate": self.sample_rate,
            "output": self.output_name,
            "underruns": self.player.underruns,
            "starved": self.player.starved,
            "late_loops": self.worker.late,
            "render_ms_p50": round(p50, 2),
            "render_ms_p99": round(p99, 2),
            "queued_loops": ahead,
            "recording": str(self.options.record or ""),
            "last_error": (self.last_error or self.worker.error
                           or next((k.error for k in self.sinks if k.error), "")),
            **{key: value for sink in self.sinks for key, value in sink.health().items()},
            **(self.midi.health() if self.midi is not None else {}),
        }

    def status_line(self) -> str:
        beat = self.now_beat()
        z = self.control.trajectory.at(beat)
        shown = " ".join(f"{v:+.1f}" for v in z[:6]) + (" …" if len(z) > 6 else "")
        return (f"{'▶' if self.control.playing else '■'} {self.tempo_map.tempo_at(beat):6.1f} BPM"
                f"  bar {int(beat // BEATS_PER_BAR) + 1:>5}.{int(beat % BEATS_PER_BAR) + 1}"
                f"  z [{shown}]  underruns {self.player.underruns}  late {self.worker.late}")

    # -- stopping -------------------------------------------------------------
    def close(self) -> None:
        """Stop every thread and close the sinks; safe to call twice."""
        self._stop.set()
        if self.midi is not None:
            self.midi.close()
            self.midi = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.osc is not None:
            self.osc.close()
        worker = getattr(self, "worker", None)
        if worker is not None:
            worker.stop()
        for sink in self.sinks:
            sink.close()
        if self.output is not None:
            self.output.close()
        if self.recorder is not None:
            self.recorder.close()
        control = getattr(self, "control", None)
        if control is not None:
            try:
                save_session(self.session_file, control)
            except OSError as exc:
                log.warning("could not save the session: %s", exc)


def _first(*values):
    """The first value that is not None."""
    return next(v for v in values if v is not None)


def default_recording() -> Path:
    return Path(time.strftime("vamen-%Y%m%d-%H%M%S.wav"))


def _device_name(index) -> str:
    try:
        import sounddevice as sd

        info = sd.query_devices(index, "output") if index is not None else sd.query_devices(kind="output")
        return str(info["name"])
    except Exception:
        return str(index)
