"""What the server says back: the ``/vamen/state`` reply and subscriber feedback.

Pure formatting and a small subscriber list; :class:`~vamen.server.core.control.Control`
owns an instance and calls these from the control thread.

``/vamen/state`` reply: flat ``key, value`` pairs, keys always in this order
(:data:`STATE_KEYS`), then any added by the engine's ``extra_state``::

    latent      s   comma-separated coordinates heard at now_beat, 4 decimals
    latent_dim  i
    tempo       f   BPM
    quantize    f   beats
    playing     i   1 or 0
    gain        f
    quality     i   Griffin-Lim iterations
    glide       f   beats
    walk_depth  f
    walk_rate   f   cycles per bar
    walk_seed   i
    bar         i   0-based bar index at now_beat (4 beats to the bar)
    beat        f   beat within the bar, 0 <= beat < 4
    anchors     i   number of anchors
    presets     i   number of presets
    subscribers i
    midi_learn  s   pending learn target, '' when none
    chop        s   the chop pattern heard at now_beat ('' for the plain loop):
                    slices by step, then `` r`` reversed steps and `` x`` step:count rolls,
                    e.g. ``0,0,4,-1 r2 x3:4``
    follow      f   how much the live input is followed at now_beat, 0..1
    input_latent s  the live input's point in force at now_beat ('' before any bar was heard)

The latent travels as one string so the list stays strict ``key, value``
pairs; clients split it on commas (``"0.1250,-1.0000,..."``).

Feedback, sent to every subscriber each beat: ``/vamen/latent f...`` (one
float per coordinate), ``/vamen/beat i bar f beat`` (as in the state) and,
once the live input has been heard, ``/vamen/input/latent f...`` (its point).

Contents
--------
STATE_KEYS      the fixed keys of ``/vamen/state``, in order
state_args      key/value dict -> flat OSC argument list
bar_and_beat    beat -> (0-based bar, beat within the bar)
feedback        the feedback messages for one beat
Subscribers     an ordered, bounded set of ``(host, port)`` that expire unless renewed
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Iterator

import numpy as np

log = logging.getLogger(__name__)

from vamen.server.core.constants import BEATS_PER_BAR

STATE_KEYS = ("latent", "latent_dim", "tempo", "quantize", "playing", "gain", "quality", "glide",
              "walk_depth", "walk_rate", "walk_seed", "bar", "beat", "anchors", "presets",
              "subscribers", "midi_learn", "chop", "follow", "input_latent")

Peer = tuple[str, int]

#: Seconds a subscription lasts unless renewed (by subscribing again).
EXPIRY = 60.0
#: Feedback sends failing this many times running drop a subscriber.
MAX_FAILURES = 8


def bar_and_beat(beat: float) -> tuple[int, float]:
    """``(bar, beat_in_bar)``: bar counted from 0, ``0 <= beat_in_bar < 4``."""
    bar = math.floor(beat / BEATS_PER_BAR)
    return bar, beat - bar * BEATS_PER_BAR


def latent_string(latent: np.ndarray) -> str:
    """``np.ndarray [shape=(latent_dim,)]`` -> ``"0.1250,-1.0000,..."``."""
    return ",".join(f"{v:.4f}" for v in np.asarray(latent, dtype=np.float64).tolist())


def state_args(pairs: dict[str, Any], extra_state: Callable[[], dict] | None = None) -> list:
    """Flatten ``pairs`` (then ``extra_state()``'s, which never override) into OSC arguments.

    Booleans become 0/1, numpy scalars Python numbers, anything else not an
    int, float or str its ``str()``: every value is something OSC can carry.
    A failing ``extra_state`` is logged and skipped, never fatal.
    """
    pairs = dict(pairs)
    if extra_state is not None:
        try:
            extra = extra_state()
        except Exception:  # the state reply must not fail because of a sink's report
            log.exception("extra_state failed")
            extra = {}
        for key, value in extra.items():
            pairs.setdefault(str(key), value)
    out: list = []
    for key, value in pairs.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool):
            value = int(value)
        elif not isinstance(value, (int, float, str)):
            value = str(value)
        out += [key, value]
    return out


def feedback(latent: np.ndarray, beat: float, heard: np.ndarray | None = None) -> list[tuple[str, list]]:
    """``[("/vamen/latent", [f...]), ("/vamen/beat", [bar, beat_in_bar])]`` for one beat,
    then ``("/vamen/input/latent", [f...])`` when the input was ``heard``."""
    bar, in_bar = bar_and_beat(beat)
    out = [("/vamen/latent", np.asarray(latent, dtype=np.float64).tolist()), ("/vamen/beat", [bar, in_bar])]
    if heard is not None:
        out.append(("/vamen/input/latent", np.asarray(heard, dtype=np.float64).tolist()))
    return out


class Subscribers:
    """Feedback destinations: an insertion-ordered set of ``(host, port)`` that forgets.

    A subscription lasts ``expiry`` seconds (default :data:`EXPIRY`) unless
    renewed: subscribing again renews it, as OSC servers commonly ask. A
    subscriber whose feedback cannot be sent :data:`MAX_FAILURES` beats
    running (an unreachable network, a name that stopped resolving) is
    dropped. So clients that subscribe and quit (a live coder restarting
    scripts) leave room after ``expiry`` seconds, and the ``limit`` protects
    installations from a flood of them in the meantime.

    ``clock`` gives seconds (``time.monotonic``; a test may step its own).
    """

    def __init__(self, limit: int = 64, expiry: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self.limit = limit
        self.expiry = float(EXPIRY if expiry is None else expiry)
        self.clock = clock or time.monotonic
        self._peers: dict[Peer, float] = {}  # peer -> when it expires
        self._failures: dict[Peer, int] = {}
        self.expired = 0  # dropped for not renewing, in all
        self.dropped = 0  # dropped for failing sends, in all

    @staticmethod
    def peer(port: int | None, host: str | None, source: Peer | None) -> Peer:
        """Resolve defaults: the sender's port and host (host ``127.0.0.1`` without a sender).

        Raises
        ------
        ValueError
            No port given and no sender to take one from.
        """
        if port is None:
            if source is None:
                raise ValueError("no port given and no sender to send feedback to")
            port = source[1]
        return host or (source[0] if source else "127.0.0.1"), int(port)

    def _forget_expired(self) -> None:
        now = self.clock()
        for peer, until in tuple(self._peers.items()):
            if until <= now:
                self.discard(peer)
                self.expired += 1
                log.info("subscriber %s:%s expired (not renewed for %g s)", *peer, self.expiry)

    def check_room(self, peer: Peer) -> None:
        """Raise ValueError if ``peer`` is new and the list is full."""
        self._forget_expired()
        if peer not in self._peers and len(self._peers) >= self.limit:
            raise ValueError(f"too many subscribers (at most {self.limit}); unsubscribe one first, "
                             f"or wait: subscriptions expire after {self.expiry:g} s unless renewed")

    def add(self, peer: Peer) -> None:
        """Subscribe ``peer``, or renew its subscription for another ``expiry`` seconds."""
        self.check_room(peer)
        self._peers[peer] = self.clock() + self.expiry

    def discard(self, peer: Peer) -> None:
        self._peers.pop(peer, None)
        self._failures.pop(peer, None)

    def sent(self, peer: Peer, ok: bool) -> None:
        """Note whether feedback to ``peer`` left; drop it after MAX_FAILURES failures running."""
        if ok:
            self._failures.pop(peer, None)
            return
        failures = self._failures.get(peer, 0) + 1
        self._failures[peer] = failures
        if failures >= MAX_FAILURES and peer in self._peers:
            self.discard(peer)
            self.dropped += 1
            log.warning("subscriber %s:%s dropped: feedback could not be sent %d times running",
                        *peer, failures)

    def __iter__(self) -> Iterator[Peer]:
        self._forget_expired()
        return iter(tuple(self._peers))

    def __len__(self) -> int:
        self._forget_expired()
        return len(self._peers)

    def __contains__(self, peer: object) -> bool:
        self._forget_expired()
        return peer in self._peers
