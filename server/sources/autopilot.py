"""The autopilot: plays the scenes of a :class:`~vamen.server.sources.scenes.Flight`, bar by bar.

Once a bar, a little ahead of the bar line, the engine's control thread asks
:meth:`Autopilot.due` what the next bar needs. The answer is a list of
ordinary typed commands (:mod:`vamen.server.core.commands`: ``Walk``, ``Morph``,
``Anchor``, ``Tempo``, ``Gain``), each stamped with the beat of the bar line
it lands on; the engine applies them exactly as it applies OSC, so the render
worker sees the change before the bar starts and renders ahead as usual.

Reproducible: every choice for bar ``p`` (which scene comes next, where a
morph goes, whether a jump happens, a scene's tempo and walk seed) is drawn
from a generator seeded with ``(seed, p, what)``, never from a generator
whose state depends on how long anything took. ``p`` counts the bars the
autopilot has flown since its first start; it survives restarts (the
engine saves :meth:`Autopilot.saved` every bar and hands it back to
:meth:`Autopilot.restore`), so after a crash the performance carries on from
the bar where it was saved. The time-of-day schedule is the one input from
outside: it decides which scenes may play, and the gain and tempo.

Taking over: any OSC or MIDI command that steers (:meth:`Autopilot.heard`)
pauses the autopilot; it leaves the music where the performer left it and
takes over again at a bar line once ``idle`` seconds (of the engine's audio
clock) have passed with no such command, re-entering its scene (walk, tempo)
with a morph from wherever the performer was. Queries (``/vamen/state``,
``ping``, ``preset/list``, subscriptions, preset saves, MIDI learn) do not
count. With an external clock (``--clock midi``) the clock owns tempo and
transport: the autopilot leaves the tempo alone, and tempo, play and stop
do not count as taking over (the clock sends them).

Contents
--------
Autopilot       ``due()``, ``heard()``, ``switch()``, ``state()``, ``saved()``, ``restore()``, ``resumed()``
Position        where the autopilot is: bar flown, scene, bar in the scene
local_minute    minutes after local midnight (the schedule's clock)
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from vamen.server.core import commands as c
from vamen.server.core import motion
from vamen.server.sources.scenes import Flight, Scene, Window

log = logging.getLogger(__name__)

from vamen.server.core.constants import BEATS_PER_BAR
HISTORY = 8  # planned bars remembered, so the state can report the bar heard, not the bar planned

# What a seeded draw is for: one stream per purpose, so adding a jump never shifts a morph.
_SCENE, _DESTINATION, _JUMP, _TEMPO, _WALK, _WINDOW_TEMPO = range(6)

#: Commands that do not take over: they ask, or keep something, but steer nothing.
PASSIVE = (c.State, c.Ping, c.PresetList, c.AnchorList, c.PresetSave, c.Subscribe, c.Unsubscribe,
           c.MidiLearn, c.AutopilotSwitch)
#: With an external clock these come from the clock, not from a performer.
CLOCK = (c.Tempo, c.Play, c.Stop)


def local_minute() -> float:
    """Minutes after local midnight, now (0 <= minute < 1440)."""
    t = time.localtime()
    return t.tm_hour * 60 + t.tm_min + t.tm_sec / 60.0


@dataclass(frozen=True)
class Position:
    """Where the autopilot is at one bar.

    Attributes
    ----------
    bar : int
        Bars flown since the autopilot first started (0, 1, ...), across restarts.
    scene : str
    scene_bar : int
        Bar within the scene, from 0.
    scene_start : int
        ``bar`` at which the scene began: its tempo and walk are drawn from it.
    last : int
        Index of the last destination chosen in the scene (-1: none yet),
        so the next morph goes somewhere else.
    tempo, gain : float or None
        What the autopilot last asked for (None: it left it alone).
    """

    bar: int
    scene: str
    scene_bar: int
    scene_start: int
    last: int = -1
    tempo: float | None = None
    gain: float | None = None

    @classmethod
    def from_saved(cls, data: dict) -> "Position":
        """From :meth:`Autopilot.saved`'s dict; ValueError, KeyError or TypeError when it is not one."""
        def number(key):
            value = data.get(key)
            return None if value is None else float(value)

        pos = cls(int(data["bar"]), str(data["scene"]), int(data["scene_bar"]),
                  int(data["scene_start"]), int(data.get("last", -1)), number("tempo"), number("gain"))
        if pos.bar < 0 or pos.scene_bar < 0 or not 0 <= pos.scene_start <= pos.bar:
            raise ValueError("not an autopilot position")
        return pos


class Autopilot:
    """Decides each bar's commands for a :class:`Flight`; plain and synchronous.

    The engine's control thread owns it (tests call it directly with any beat
    and time they like): no locks, no clock of its own.

    Parameters
    ----------
    flight : Flight
        Checked and resolved (:func:`vamen.server.sources.scenes.resolve`).
    latent_dim : int
    seed : int
        Used when the flight names none (``vamen serve --seed``).
    base_gain : float, optional
        The gain outside the schedule's windows when some window sets one and
        the flight names no ``gain`` of its own.
    tempo_free : bool
        False when an external clock leads the tempo (MIDI clock); under Link
        the autopilot's tempo is proposed to the session.
    clock_led : bool
        An external clock (MIDI, Link) sends tempo and transport: those
        commands are the clock's, not a performer taking over.
    time_of_day : callable () -> float
        Minutes after midnight, for the schedule (tests pass their own).
    prior : (mean, std), optional
        The model's prior, where a scene with nowhere named flies (default: a standard normal).
    """

    def __init__(self, flight: Flight, latent_dim: int, *, seed: int = 0, base_gain: float = 1.0,
                 tempo_free: bool = True, clock_led: bool = False, time_of_day: Callable[[], float] = local_minute,
                 prior: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.flight = flight
        self.prior = prior
        self.latent_dim = int(latent_dim)
        self.seed = int(flight.seed if flight.seed is not None else seed)
        self.tempo_free = tempo_free
        self.clock_led = clock_led
        self.time_of_day = time_of_day
        gains = any(w.gain is not None for w in flight.schedule)
        self._outside_gain = flight.gain if flight.gain is not None else (base_gain if gains else None)
        self.on = flight.on
        self.paused = False
        self._heard = -math.inf
        self._reenter = False
        self._engine_bar: int | None = None  # the last engine bar planned (or let by)
        self._at: Position | None = None  # the last bar planned
        self._history: dict[int, Position] = {}  # engine bar -> position planned for it

    # -- taking over ------------------------------------------------------------------

    def heard(self, cmd: c.Command, seconds: float) -> bool:
        """An OSC or MIDI command arrived at ``seconds`` (audio clock); returns whether it took over."""
        if isinstance(cmd, PASSIVE) or (self.clock_led and isinstance(cmd, CLOCK)):
            return False
        self._heard = seconds
        if self.on and not self.paused:
            self.paused = True
            log.info("autopilot paused: %s took over (it flies again after %gs without one)",
                     cmd.address, self.flight.idle)
        return True

    def switch(self, on: bool) -> None:
        """Turn the autopilot on (it flies from the next bar line) or off (the music stays put)."""
        if on and (not self.on or self.paused):
            self._reenter = True
            self._engine_bar = None
        self.on = bool(on)
        self.paused = False

    @property
    def flying(self) -> bool:
        return self.on and not self.paused

    # -- planning -----------------------------------------------------------------------

    def due(self, now_beat: float, seconds: float, ahead: float = 2.0) -> list[tuple[float, c.Command]]:
        """The commands for bars starting within ``ahead`` beats of ``now_beat`` not yet planned.

        Parameters
        ----------
        now_beat : float
            The engine's musical time (beats since it started).
        seconds : float
            The engine's audio clock, for the idle time after a takeover.
        ahead : float
            Beats before a bar line at which its bar is planned: enough for
            the render worker to render it before it is heard.

        Returns
        -------
        list of (beat, Command)
            Each command with the bar line it lands on (``4 * engine bar``).
        """
        current = math.floor(now_beat / BEATS_PER_BAR)
        if self.on and self.paused and seconds - self._heard >= self.flight.idle:
            self.paused = False
            self._reenter = True
            self._engine_bar = None
            log.info("autopilot flies again after %gs without a command", self.flight.idle)
        if self._engine_bar is None:
            self._engine_bar = current if self._reenter else current - 1
        if not self.flying:
            self._engine_bar = max(self._engine_bar, current)  # these bars play without us
            return []
        out: list[tuple[float, c.Command]] = []
        last = math.floor((now_beat + ahead) / BEATS_PER_BAR)
        while self._engine_bar < last:
            bar = self._engine_bar + 1
            out += [(float(bar * BEATS_PER_BAR), cmd) for cmd in self._plan(bar)]
            self._engine_bar = bar
        return out

    def _window(self) -> Window | None:
        minute = self.time_of_day() % 1440.0
        return next((w for w in self.flight.schedule if w.holds(minute)), None)

    def _plan(self, engine_bar: int) -> list[c.Command]:
        """Advance one bar and return what it needs."""
        window = self._window()
        allowed = [s for s in self.flight.scenes if window is None or not window.scenes
                   or s.name in window.scenes]
        pos = self._at
        bar = 0 if pos is None else pos.bar + 1
        scene = self.flight.scene(pos.scene) if pos is not None else None
        enter = self._reenter
        if scene is None or scene not in allowed or pos.scene_bar + 1 >= scene.bars:
            scene = self._next_scene(scene, bar, allowed)
            scene_bar, start, last, enter = 0, bar, -1, True
        else:
            scene_bar, start, last = pos.scene_bar + 1, pos.scene_start, pos.last
        self._reenter = False

        cmds: list[c.Command] = []
        tempo = self._tempo(scene, window, start) if self.tempo_free else None
        if tempo is not None and (enter or pos is None or tempo != pos.tempo):
            cmds.append(c.Tempo(tempo))
        gain = window.gain if window is not None and window.gain is not None else self._outside_gain
        if gain is not None and (enter or pos is None or gain != pos.gain):
            cmds.append(c.Gain(gain))
        if enter:
            cmds.append(c.Walk(scene.walk, scene.walk_rate, int(self._draw(start, _WALK).integers(1 << 31))))
        if enter or (scene.morph_every and scene_bar % scene.morph_every == 0):
            point, last = self._destination(scene, bar, last)
            cmds.append(c.Morph(point, scene.morph_bars * BEATS_PER_BAR, scene.curve))
        elif scene.jump and self._draw(bar, _JUMP).random() < scene.jump:
            point, last = self._destination(scene, bar, last)
            cmds.append(c.Anchor(point))
        keep_tempo = tempo if tempo is not None else (pos.tempo if pos else None)
        keep_gain = gain if gain is not None else (pos.gain if pos else None)
        self._at = Position(bar, scene.name, scene_bar, start, last, keep_tempo, keep_gain)
        self._history[engine_bar] = self._at
        for old in [b for b in self._history if b <= engine_bar - HISTORY]:
            del self._history[old]
        return cmds

    def _draw(self, bar: int, purpose: int) -> np.random.Generator:
        """The generator for one choice at one bar: a function of the seed, the bar and the purpose only."""
        return np.random.default_rng([self.seed, int(bar), purpose])

    def _next_scene(self, scene: Scene | None, bar: int, allowed: list[Scene]) -> Scene:
        if self.flight.order == "random":
            weights = np.array([s.weight for s in allowed], dtype=np.float64)
            return allowed[int(self._draw(bar, _SCENE).choice(len(allowed), p=weights / weights.sum()))]
        scenes = self.flight.scenes
        first = 0 if scene is None else scenes.index(scene) + 1
        return next(scenes[(first + i) % len(scenes)] for i in range(len(scenes))
                    if scenes[(first + i) % len(scenes)] in allowed)

    def _tempo(self, scene: Scene, window: Window | None, start: int) -> float | None:
        """The scene's tempo (a window's wins), drawn once per scene from its range."""
        if window is not None and window.tempo is not None:
            low, high = window.tempo
            rng = self._draw(start, _WINDOW_TEMPO)
        elif scene.tempo is not None:
            low, high = scene.tempo
            rng = self._draw(start, _TEMPO)
        else:
            return None
        return round(low + (high - low) * float(rng.random()), 2)

    def _destination(self, scene: Scene, bar: int, last: int) -> tuple[c.Point | tuple, int]:
        """Where the next morph or jump goes: one of the scene's places, not the last one again."""
        places: list = [*scene.anchors, *scene.presets]
        if scene.centre is not None:
            places.append("region")
        if not places:
            places.append("prior")
        rng = self._draw(bar, _DESTINATION)
        n = len(places)
        if 0 <= last < n and n > 1:
            index = int(rng.integers(n - 1))
            index += index >= last
        else:
            index = int(rng.integers(n))
        place = places[index]
        if index >= len(scene.anchors) + len(scene.presets):
            if place == "region":
                centre = np.asarray(scene.centre, dtype=np.float64)
                direction = rng.standard_normal(self.latent_dim)
                direction /= max(np.linalg.norm(direction), 1e-12)
                # uniform in the ball: the radius of a uniform draw grows as u^(1/d)
                distance = scene.radius * float(rng.random()) ** (1.0 / self.latent_dim)
                place = tuple(np.round(centre + distance * direction, 6).tolist())
            else:
                draw = motion.on_prior(rng.standard_normal(self.latent_dim), self.prior)
                place = tuple(np.round(draw, 6).tolist())
        return place, index

    # -- reporting and restarts -----------------------------------------------------------

    def position(self, now_beat: float) -> Position | None:
        """The position of the bar heard at ``now_beat`` (the last flown when not flying)."""
        current = math.floor(now_beat / BEATS_PER_BAR)
        # one C-level copy: the health endpoint reads this from its own thread
        heard = [(b, pos) for b, pos in list(self._history.items()) if b <= current]
        return max(heard, key=lambda item: item[0])[1] if heard else self._at

    def state(self, now_beat: float) -> dict:
        """``/vamen/state`` and ``/vamen/autopilot`` pairs (see :func:`off_state` for the keys)."""
        pos = self.position(now_beat)
        scene = self.flight.scene(pos.scene) if pos is not None else None
        return {"autopilot": int(self.on), "autopilot_scene": pos.scene if pos else "",
                "autopilot_scene_bar": pos.scene_bar if pos else 0,
                "autopilot_scene_bars": scene.bars if scene else 0,
                "autopilot_bar": pos.bar if pos else 0, "autopilot_paused": int(self.paused)}

    def saved(self, now_beat: float) -> dict:
        """What a restart needs to carry on at the bar heard at ``now_beat`` (JSON-able)."""
        pos = self.position(now_beat)
        data = asdict(pos) if pos is not None else {}
        return {**data, "on": self.on, "reenter": self.paused or self._reenter}

    def restore(self, data: dict | None) -> bool:
        """Carry on from :meth:`saved` as the engine's bar 0; False (and a fresh start) if unusable."""
        if not data:
            return False
        try:
            self.on = bool(data.get("on", self.on))
            if "bar" not in data:
                return False
            pos = Position.from_saved(data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("autopilot: ignoring the saved position (%s)", exc)
            return False
        self._at = pos
        self._history = {0: pos}
        self._engine_bar = 0
        self._reenter = bool(data.get("reenter", False))
        return True

    def resumed(self) -> list[c.Command]:
        """After :meth:`restore`: the tempo and gain the restored bar was playing at.

        A ``tempo`` or ``gain`` in vamen.toml wins over the saved session's at
        start-up; the autopilot's own take back over from the first beat.
        """
        pos = self._at
        if pos is None or not self.flying:
            return []
        cmds: list[c.Command] = []
        if pos.tempo is not None and self.tempo_free:
            cmds.append(c.Tempo(pos.tempo))
        if pos.gain is not None:
            cmds.append(c.Gain(pos.gain))
        return cmds


def off_state() -> dict:
    """The autopilot's ``/vamen/state`` pairs when there is no autopilot.

    ::

        autopilot             i   1 flying or paused, 0 off (or none configured)
        autopilot_scene       s   the scene heard now ('' before the first)
        autopilot_scene_bar   i   bar within the scene, from 0
        autopilot_scene_bars  i   the scene's length in bars
        autopilot_bar         i   bars flown since the autopilot first started (survives restarts)
        autopilot_paused      i   1 while an OSC or MIDI performer has taken over
    """
    return {"autopilot": 0, "autopilot_scene": "", "autopilot_scene_bar": 0, "autopilot_scene_bars": 0,
            "autopilot_bar": 0, "autopilot_paused": 0}


def start_flight(flight: Flight, latent_dim: int, options, saved: dict | None,
                 prior: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> tuple[Autopilot, str, list[tuple[float, c.Command]]]:
    """The autopilot for ``flight`` at the start of ``vamen serve``: (autopilot, note, first bar).

    It carries on where a saved session left it, else starts at its first
    scene (or waits, when it starts off). The first bar's commands are
    applied before anything plays, so it starts on beat 0 itself.
    """
    gain = options.gain if options.gain is not None else 1.0
    pilot = Autopilot(flight, latent_dim, seed=options.seed, base_gain=gain,
                      tempo_free=options.clock in ("internal", "link"), clock_led=options.clock != "internal",
                      prior=prior)
    where = f"{len(flight.scenes)} scene{'s' * (len(flight.scenes) != 1)} from {flight.source}"
    if saved and pilot.restore(saved.get("autopilot")):
        pos = pilot.position(0.0)
        scene = flight.scene(pos.scene)
        note = (f"autopilot: {where}; carrying on at scene {pos.scene!r}, bar {pos.scene_bar + 1} of its "
                f"{scene.bars}" if scene else f"autopilot: {where}")
        return pilot, note, [(0.0, cmd) for cmd in pilot.resumed()]
    note = f"autopilot: {where}" + ("" if pilot.on else " (off: /vamen/autopilot 1 starts it)")
    return pilot, note, pilot.due(0.0, 0.0, ahead=0.0)


NO_SCENES = ("no autopilot scenes: add [[autopilot.scene]] to vamen.toml or use vamen serve "
             "--autopilot FILE")
