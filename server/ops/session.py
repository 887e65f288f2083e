"""Where the performance was when vamen stopped, so the next start carries on.

Saved next to the presets as ``session.json``: at every bar line by the
control thread (so a crash, a ``kill -9`` or a power cut costs at most a
bar), and on a clean stop (SIGINT, SIGTERM). Read at start unless
``vamen serve --fresh``. A file that is unreadable or made for a model with
another latent size is ignored with one warning.

A save is one small JSON file written to a temporary file and renamed over
the old one, so a reader (the next start) sees the old file or the new one,
never half of one. The per-bar saves skip the ``fsync`` unless a minute has
passed since the last one that did: a process that dies loses nothing (the
kernel has the file), a power cut at most a minute, and a card-sized disk is
not written to the platter every bar.

What is saved is what is *in force* at the bar line: the centre point there
and the move it is on (target, beats left, curve), the walk (depth, depth
heard mid-fade, rate, seed, phase), tempo, quantise, gain, quality, glide, the chop
pattern, how much the live input is followed (and a ``/vamen/follow`` glide in
progress, and the input's point last heard), and the autopilot's
place (:meth:`vamen.server.sources.autopilot.Autopilot.saved`). A clean stop saves
the latest intent instead (a change asked for just before Ctrl-C counts).

A saved session never holds a value the command line would refuse: the
settings (tempo, quantize, gain, quality) pass a ``check`` with the command
line's rules (:func:`vamen.server.options.check_setting`, handed in by the
app) on save and on load. One that fails is left out of the file, or, read
from a file, reported in one line naming the key and the value and dropped:
the rest of the session is kept, and that setting starts from its default.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

from vamen.model.files import atomic_open

from .presets import default_path

log = logging.getLogger(__name__)
FORMAT = "vamen-session"
VERSION = 2
DURABLE_EVERY = 60.0  # seconds between per-bar saves that fsync
#: The settings a session holds that the command line also takes, checked with its rules.
SETTINGS = ("tempo", "quantize", "gain", "quality")

#: ``check(key, value)``: the value as the command line would take it, or ValueError saying why.
Check = Callable[[str, Any], Any]


def _bad_settings(data: dict, check: Check | None) -> list[tuple[str, Any, str]]:
    """(key, value, why) for every setting in ``data`` that ``check`` refuses."""
    bad = []
    for key in SETTINGS:
        if key in data and check is not None:
            try:
                check(key, data[key])
            except ValueError as exc:
                bad.append((key, data[key], str(exc)))
    return bad


def session_path(presets_path: Path | None = None) -> Path:
    return (Path(presets_path) if presets_path else default_path()).with_name("session.json")


def _numbers(values) -> list[float]:
    return [round(float(v), 6) for v in values]


def save_session(path: Path, control, *, beat: float = 0.0, latest: bool = True,
                 tempo: float | None = None, autopilot: dict | None = None, durable: bool = True,
                 check: Check | None = None) -> list[tuple[str, Any, str]]:
    """Write the session for ``control`` as it stands at ``beat``.

    Parameters
    ----------
    beat : float
        The beat whose state is saved (the bar line, for per-bar saves).
    latest : bool
        Count changes asked for but landing after ``beat`` (a clean stop).
    tempo : float, optional
        The tempo heard at ``beat``; default the latest asked for.
    autopilot : dict, optional
        :meth:`Autopilot.saved`.
    durable : bool
        fsync before the rename (against power cuts, not only crashes).
    check : callable, optional
        ``check(key, value)`` raises ValueError for a setting the command
        line would refuse; such a setting is left out of the file.

    Returns
    -------
    list of (key, value, why)
        The settings left out.
    """
    heading = control.heading(beat, latest)
    walk = heading.walk
    data = {"format": FORMAT, "version": VERSION, "saved": round(time.time(), 3),
            "point": _numbers(control.target if latest else
                              (heading.target if heading.target is not None else heading.centre)),
            "centre": _numbers(heading.centre),
            "move": ({"beats": round(heading.beats, 6), "curve": heading.curve}
                     if heading.target is not None and not latest else None),
            "tempo": float(tempo if tempo is not None else control.tempo),
            "quantize": control.quantize, "gain": control.gain,
            "quality": control.quality, "glide": control.glide,
            "walk": {"depth": walk.depth, "rate": walk.rate, "seed": walk.seed,
                     "phase": round(float(heading.phase), 9), "depth_now": heading.depth}}
    chop = control.chop if latest else control.chops.at(beat)
    if chop is not None:
        data["chop"] = {"steps": list(chop.steps), "reverse": sorted(chop.reverse),
                        "rolls": [list(r) for r in chop.rolls]}
    if max(heading.follow, heading.follow_to) > 0.0:  # following the live input: go on following it
        data["follow"] = {"amount": round(heading.follow, 6), "to": round(heading.follow_to, 6),
                          "beats": round(heading.follow_beats, 6),
                          "heard": None if heading.heard is None else _numbers(heading.heard)}
    if latest:
        data["centre"] = data["point"]  # a clean stop lands every pending change at once
    if autopilot is not None:
        data["autopilot"] = autopilot
    bad = _bad_settings(data, check)
    for key, _, _ in bad:
        del data[key]
    with atomic_open(path, "w", encoding="utf-8", fsync=durable) as fh:
        json.dump(data, fh, indent=1)
    return bad


class SessionSaver:
    """Saves every bar, fsyncing at most once a ``DURABLE_EVERY`` seconds; warns once if it cannot."""

    def __init__(self, path: Path, clock=time.monotonic, check: Check | None = None) -> None:
        self.path = path
        self.clock = clock
        self.check = check
        self._left_out: set[str] = set()
        self.saves = 0
        self._durable_at = -math.inf
        self._failing = False

    def save(self, control, durable: bool | None = None, **kwargs) -> bool:
        """:func:`save_session` to ``path``; ``durable`` None: fsync if a minute has passed since the last."""
        now = self.clock()
        if durable is None:
            durable = now - self._durable_at >= DURABLE_EVERY
        try:
            bad = save_session(self.path, control, durable=durable, check=self.check, **kwargs)
        except OSError as exc:
            if not self._failing:
                log.warning("cannot save the session to %s: %s (vamen plays on; "
                            "a restart would not carry on from here)", self.path, exc)
            self._failing = True
            return False
        if self._failing:
            log.warning("saving the session to %s works again", self.path)
        self._failing = False
        for key, value, why in bad:
            if key not in self._left_out:  # once per setting, not once a bar
                log.warning("not saving %s = %r in the session: %s", key, value, why)
            self._left_out.add(key)
        self.saves += 1
        if durable:
            self._durable_at = now
        return True


def load_session(path: Path, latent_dim: int, check: Check | None = None) -> dict[str, Any] | None:
    """The saved settings, or None (nothing saved, unreadable, another model).

    Returns a dict with ``point`` (where the centre is going), ``centre``
    (where it is), ``move`` (None, or ``{"beats", "curve"}`` left of the move
    from centre to point), ``tempo``, ``quantize``, ``gain``, ``quality``,
    ``glide``, ``walk`` (``depth``, ``rate``, ``seed``, ``phase`` or None,
    ``depth_now``: the depth heard, which differs from ``depth`` mid-fade) and
    ``autopilot`` (dict or None), ``chop`` (a :class:`~vamen.server.core.chops.Chop`
    or None; one that does not hold together is dropped with a warning) and
    ``follow`` (None, or ``{"amount", "to", "beats", "heard"}``: how much the live
    input was followed, where a glide of it went and the beats it had left, and
    the input's point last heard or None; one out of range is dropped with a
    warning).
    Files of version 1 (point only) still load.

    A setting (tempo, quantize, gain, quality) that is missing, or that
    ``check(key, value)`` refuses, is left out of the dict (the caller uses
    its default); a refused one is reported in one line naming it.
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        point = [float(v) for v in data["point"]]
        centre = [float(v) for v in data.get("centre", point)]
        settings = {k: float(data[k]) for k in SETTINGS if data.get(k) is not None}
        numbers = list(settings.values()) + [float(data["glide"])]
        walk = {k: float(data["walk"][k]) for k in ("depth", "rate", "seed")}
        phase = data["walk"].get("phase")
        walk["phase"] = None if phase is None else float(phase)
        walk["depth_now"] = float(data["walk"].get("depth_now", walk["depth"]))
        move = data.get("move")
        if move is not None:
            move = {"beats": float(move["beats"]), "curve": str(move["curve"])}
        autopilot = data.get("autopilot")
        if autopilot is not None and not isinstance(autopilot, dict):
            raise ValueError("autopilot is not a table")
        finite = point + centre + numbers + [walk["depth_now"]] + \
            ([walk["phase"]] if phase is not None else []) + \
            ([move["beats"]] if move else [])
        if data.get("format") != FORMAT or not all(map(math.isfinite, finite)):
            raise ValueError("not a vamen session")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring saved session %s (%s)", path, exc)
        return None
    if len(point) != latent_dim or len(centre) != latent_dim:
        log.warning("ignoring saved session %s: it is for a %d-dimensional model", path, len(point))
        return None
    for key, value, why in _bad_settings(settings, check):
        log.warning("saved session %s: dropping %s = %r (%s)", path, key, value, why)
        del settings[key]
    chop = _saved_chop(data.get("chop"))
    if isinstance(chop, str):
        log.warning("saved session %s: dropping the chop pattern (%s)", path, chop)
        chop = None
    follow = _saved_follow(data.get("follow"), latent_dim)
    if isinstance(follow, str):
        log.warning("saved session %s: dropping the following of the live input (%s)", path, follow)
        follow = None
    if "quality" in settings:
        settings["quality"] = int(settings["quality"])
    return {"point": point, "centre": centre, "move": move, **settings, "glide": float(data["glide"]),
            "walk": walk, "autopilot": autopilot, "chop": chop, "follow": follow}


def _saved_chop(data: Any):
    """A saved chop pattern as a :class:`Chop`, None when there is none, or why it is unusable."""
    from vamen.server.core.chops import Chop

    if data is None:
        return None
    try:
        steps = tuple(_whole(v) for v in data["steps"])
        reverse = frozenset(_whole(v) for v in data.get("reverse", ()))
        rolls = tuple((_whole(a), _whole(b)) for a, b in data.get("rolls", ()))
        return Chop(steps, reverse, rolls)
    except (ValueError, KeyError, TypeError) as exc:
        return str(exc) or type(exc).__name__


def _saved_follow(data: Any, latent_dim: int):
    """A saved ``follow`` as ``{"amount", "to", "beats", "heard"}``, None when there is none, or
    why it is unusable."""
    if data is None:
        return None
    try:
        amount, to, beats = (float(data[k]) for k in ("amount", "to", "beats"))
        if not (0.0 <= amount <= 1.0 and 0.0 <= to <= 1.0 and 0.0 <= beats < math.inf):
            raise ValueError(f"amount {amount:g} and to {to:g} must be within 0..1, beats {beats:g} >= 0")
        heard = data.get("heard")
        if heard is not None:
            heard = [float(v) for v in heard]
            if len(heard) != latent_dim or not all(map(math.isfinite, heard)):
                raise ValueError(f"the heard point is not {latent_dim} finite numbers")
    except (ValueError, KeyError, TypeError) as exc:
        return str(exc) or type(exc).__name__
    return {"amount": amount, "to": to, "beats": beats, "heard": heard}


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value


def resume_commands(saved: dict, listening: bool = True) -> list:
    """The ordinary commands that restore a saved session's move, walk and glide.

    The control state starts at the saved centre; a move in progress
    carries on to its target over the beats it had left, and the walk
    resumes at its saved phase, so the first bar sounds like the bar
    that was saved. A session that followed the live input follows it again,
    from the point last heard (until the input is heard anew), when this
    start is ``listening`` (has ``--input``).
    """
    from vamen.server.core.commands import (ChopReverse, ChopRoll, ChopSteps, Follow, Glide, Heard, Morph,
                                            Walk)

    walk, move = saved["walk"], saved["move"]
    cmds = [Glide(saved["glide"])]
    if move is not None or saved["point"] != saved["centre"]:  # a pending change lands at once
        cmds.append(Morph(tuple(saved["point"]), move["beats"] if move else 0.0,
                          move["curve"] if move else "linear"))
    rate, seed = walk["rate"], int(walk["seed"])
    if walk["depth_now"] != walk["depth"]:  # saved mid-fade: fade on from the depth heard
        cmds.append(Walk(walk["depth_now"], rate, seed, phase=walk["phase"]))
        cmds.append(Walk(walk["depth"], rate, seed))
    else:
        cmds.append(Walk(walk["depth"], rate, seed, phase=walk["phase"]))
    chop = saved.get("chop")
    if chop is not None:  # the chops go on as they were
        cmds.append(ChopSteps(chop.steps))
        if chop.reverse:
            cmds.append(ChopReverse(tuple(sorted(chop.reverse))))
        if chop.rolls:
            cmds.append(ChopRoll(chop.rolls))
    follow = saved.get("follow")
    if follow is not None and listening:
        if follow["heard"] is not None:
            cmds.append(Heard(tuple(follow["heard"]), 0.0))
        cmds.append(Follow(follow["amount"]))
        if follow["beats"] > 0.0:  # a glide in progress goes on
            cmds.append(Follow(follow["to"], follow["beats"]))
    return cmds
