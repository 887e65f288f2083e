"""The control thread's work: commands in, musical time kept, the wings told.

:class:`Conductor` is the half of :class:`~vamen.server.engine.Engine` that
runs once everything is built: it takes commands, applies them to the
control state, keeps the tempo map, and tells the render worker and the
player what changed. Only the control thread calls it, except
:meth:`Conductor.step`, which plays that thread's part, and the render
worker's and the sound card's, for tests and benchmarks: the offline clock.

What it needs, the engine builds (see :meth:`Engine.start`): ``options``,
``commands``, ``control``, ``tempo_map``, ``player``, ``sample_rate``,
``worker``, ``output``, ``clock``, ``autopilot``, ``saver``, ``watchdog``,
``trouble``, ``encoder``, ``osc``.
"""
from __future__ import annotations

import logging
import math
import queue
import time

import numpy as np

from .core.commands import AutopilotSwitch, Encode, EngineCommand, State
from .core.control import Change
from .core.tempo import BEATS_PER_BAR
from .ops.deadair import expected_audible
from .ops.trouble import rss_mb
from .sources.autopilot import NO_SCENES

log = logging.getLogger("vamen")

AUTOPILOT_LEAD_SECONDS = 0.5  # the autopilot plans a bar this long before the worker renders it
LOOK_SECONDS = 0.25  # seconds of output between two looks for dead air
#: The exit status when the memory ceiling is reached: a planned restart (see scripts/vamen.service).
EXIT_MEMORY = 75


class Conductor:
    """Commands, musical time and the tick of the control thread (see the module docstring)."""

    last_error = ""
    _last_beat, _last_bar = -1, None
    _bar_written = None  # monotonic time the last bar line was written (for the listener)
    _looked_at = 0  # output sample of the last look for dead air
    _weighed_at = 0.0  # monotonic time of the last look at the memory
    listener = None
    _thread = None

    def _control_loop(self) -> None:
        while not self._stop.is_set():
            try:
                cmd = self.commands.get(timeout=0.01)
            except queue.Empty:
                cmd = None
            if cmd is not None:
                self.take(cmd)
            self.tick()

    # -- the offline clock ----------------------------------------------------------
    def step(self, blocks: int = 1) -> np.ndarray:
        """Play ``blocks`` blocks with no threads, as the running server would.

        For each block: the render worker plans and renders what is due, the
        sound card takes one block (the engine must be started with
        ``background=False`` on an output with ``play(1)``, such as
        :class:`~vamen.server.audio.output.OfflineOutput`), then the control
        thread has its turn (:meth:`turn`). Returns the first channel of what
        was played.
        """
        out = []
        for _ in range(blocks):
            self.worker.step()
            out.append(self.output.play(1))
            self.turn()
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def turn(self) -> None:
        """One turn of the control thread that does not wait: the clock looks,
        every waiting command is taken, then :meth:`tick`."""
        if self.clock is not None:
            self.clock.poll()
        while True:
            try:
                cmd = self.commands.get_nowait()
            except queue.Empty:
                break
            self.take(cmd)
        self.tick()

    # -- the control thread -----------------------------------------------------------
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
        """What the control thread does between commands.

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
            self.trouble.check(self.player.underruns, self.worker.late)
            bar = beat // BEATS_PER_BAR
            if bar != self._last_bar:
                if self.listener is not None:
                    self._bar_ended(bar)
                self._last_bar = bar
                self.save_session(bar * BEATS_PER_BAR)
        self._look_after()
        if self.autopilot is not None:
            ahead = min(BEATS_PER_BAR, max(1.0, (self.options.lookahead + AUTOPILOT_LEAD_SECONDS)
                                           * self.tempo_map.tempo_at(now) / 60.0))
            for at_beat, cmd in self.autopilot.due(now, self.player.position / self.sample_rate, ahead):
                self.handle(cmd, at_beat=at_beat)
        self.alerts.flush(self.control.tell)
        self.watchdog.feed()

    def _bar_ended(self, bar: int) -> None:
        """Bar ``bar - 1`` just ended: the listener hears it, from when its first sample was written.

        When a sample was written is taken as it is written, here on the bar
        line, and again a bar later; the earlier of the two counts. Output
        lost in between (JACK skipping vamen's cycles on a loaded machine)
        moves the clock later by what was lost, and taken only a bar later
        the cut would move with it; taken only on the bar line, an estimate
        just started again after such a loss may still run late.
        """
        line = self.tempo_map.sample_at(bar * BEATS_PER_BAR)
        now = time.monotonic()
        written = now + (line - self.player.sample_at(now)) / self.sample_rate
        began = self._bar_written if self._last_bar == bar - 1 else None
        self._bar_written = written
        if self._last_bar is None:
            return
        begin = self.tempo_map.sample_at((bar - 1) * BEATS_PER_BAR)
        # The clock's estimate now bounds it too (output is lost, never found: see the player's
        # clock), and has had a bar's more callbacks to come close: the earlier of the two.
        again = now + (begin - self.player.sample_at(now)) / self.sample_rate
        began = again if began is None else min(began, again)
        self.listener.bar_ended(bar * BEATS_PER_BAR, began, int(round(line - begin)))

    def _look_after(self) -> None:
        """Four times a second of output, dead air (:mod:`.ops.deadair`); once a second, the memory ceiling."""
        player = self.player
        position = player.position
        if position - self._looked_at >= LOOK_SECONDS * self.sample_rate or position < self._looked_at:
            self._looked_at = position
            gain = self.control.gain if self.control.playing else 0.0
            self.dead_air.check(position, player.audible_at, player.broken,
                                lambda a, b: expected_audible(player.schedule, player.pool, a, b, gain))
        now = time.monotonic()
        if now - self._weighed_at < 1.0:
            return
        self._weighed_at = now
        ceiling = self.options.max_rss_mb
        if ceiling is not None and self.exit_code is None and (rss := rss_mb()) > ceiling:
            self.alerts.raise_("memory", f"{rss:.0f} MB is above the ceiling of {ceiling} MB "
                               f"(max-rss-mb): saving the session and exiting with status {EXIT_MEMORY} "
                               "for a clean restart")
            self.alerts.flush(self.control.tell)
            self.save_session()
            self.exit_code = EXIT_MEMORY
            self._stop.set()

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

    def handle(self, cmd, at_beat: float | None = None) -> Change | None:
        """Apply one command on the control thread (tests may call this directly).

        ``at_beat``: land it on that beat (the autopilot's bar lines) rather
        than at ``cmd.at`` or the next quantisation point.

        A time-tagged command lands at its stamp while the playhead has not
        reached it, however near; one stamped for a time already played lands
        on the next quantisation point, like an untagged one.
        """
        if isinstance(cmd, EngineCommand):  # MIDI clock alignment and learn, Link, clocks
            cmd.run(self)
            return None
        if isinstance(cmd, AutopilotSwitch):
            self._autopilot_switch(cmd)
            return None
        if isinstance(cmd, Encode) and self.encoder is not None:  # read and encoded off this thread
            if not self.encoder.submit(cmd):
                self.reply_error(cmd.address, "busy: too many files waiting to be encoded; "
                                 "send it again later", cmd.source)
            return None
        stamped = at_beat is None and getattr(cmd, "at", None) is not None
        if stamped:
            # Through the player's clock estimate, not its block counter: the counter moves a
            # block at a time, and Tidal's notes (0.5 s apart, not a whole number of blocks)
            # drifted across a block and jumped back, a 10 ms sawtooth.
            at_beat = self.tempo_map.beat_at(self.sample_at_time(cmd.at))
        # A change lands no earlier than one render ahead; the state is told as it sounds now,
        # so bar, beat and latent agree with the autopilot's figures in the same reply.
        now = self.now_beat() if isinstance(cmd, State) else self.earliest_beat()
        if stamped and now > at_beat >= self.now_beat():
            # Stamped nearer than the render lead (a guess: twice the slowest recent render,
            # up to 0.3 s) but not yet played: it still lands at its stamp, and the render
            # races for it. Tidal sends 0.2 s ahead; on a loaded machine the lead passed that,
            # a strike moved to the next beat, onto the next one's, and was lost.
            now = at_beat
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
        chops = change.chops if "chops" in kinds else None
        if trajectory is not None or tempo_map is not None or iterations is not None or chops is not None:
            self.worker.change(change.from_beat, trajectory, tempo_map, iterations, chops)

    def _autopilot_switch(self, cmd) -> None:
        """``/vamen/autopilot [i on]``: switch, then reply with the autopilot's state."""
        if self.autopilot is None:
            self.reply_error(cmd.address, NO_SCENES, cmd.source)
            return
        if cmd.on is not None:
            self.autopilot.switch(bool(cmd.on))
        args = [v for pair in self.autopilot.state(self.now_beat()).items() for v in pair]
        self.reply("/vamen/autopilot", args, cmd.source)

    # -- musical time -------------------------------------------------------------
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
        whether the map moved.
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

    def retempo(self, sample: float, bpm: float) -> float:
        """``bpm`` from output ``sample`` on (a sample already played means now); the beat there.

        The beat at that sample stays where it is and loops queued after it
        are re-planned. What an outside clock (Link) does before :meth:`align`.
        """
        sample = max(float(sample), float(self.player.position))
        old = self.tempo_map
        here = old.beat_at(sample)
        if old.tempo_at(here) != bpm or old.beats[-1] > here:
            self.tempo_map = old.with_tempo(here, bpm)
            self.worker.change(here, tempo_map=self.tempo_map)
        return here

    def use_clock(self, name: str, source=None) -> None:
        """Hand the lead to the clock called ``name`` (``/vamen/clock``)."""
        from .clocks import ClockError, hand_over

        try:
            self.clock = hand_over(self.clock, name, self, background=self._thread is not None)
        except ClockError as exc:  # the old clock keeps the lead
            self.reply_error("/vamen/clock", str(exc), source)
            return
        self.options.clock = name

    # -- replies ----------------------------------------------------------------------
    def reply_error(self, address: str, message: str, to) -> None:
        """Send ``/vamen/error address message`` to ``to`` (None: nobody) and remember it."""
        self.reply("/vamen/error", [address, message], to)

    def reply(self, address: str, args: list, to) -> bool:
        """Send one message; whether it left (feedback to a subscriber that keeps failing stops)."""
        if address == "/vamen/error":
            self.note_error(args)
        web = getattr(self, "web", None)
        if web is not None and web.owns(to):  # a page's command: the answer goes to that page
            return web.send(address, args, to)
        return self.osc is not None and self.osc.send(address, args, to)

    def note_error(self, args: list) -> None:
        """``last_error`` in ``/vamen/state``: every ``/vamen/error`` sent, the parser's too."""
        self.last_error = f"{args[0]}: {args[1]}" if len(args) > 1 else str(args)
