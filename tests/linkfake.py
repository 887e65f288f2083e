"""An Ableton Link session in memory, with the binding's API, on a clock the test moves.

:class:`Session` is one timeline (tempo, a beat at a time, transport) that
every :class:`FakeLink` joined to it shares at once, as Link peers converge;
its clock is the test's (``now()`` in seconds). :class:`FakeLink` has the
calls vamen's Link clock makes on ``link.Link`` (``clock().micros()``,
``captureAppSessionState``, ``commitAppSessionState``, ``numPeers``,
``enabled``, ``startStopSyncEnabled``), and its session state the
``SessionState`` calls, with Link's meaning: ``setTempo`` keeps the beat at
the given time; ``requestBeatAtTime`` moves the beat when alone and only
whole quanta (the phase stays) with peers.
"""
from __future__ import annotations


class Session:
    def __init__(self, now, bpm: float = 120.0):
        self.now = now
        self.tempo = float(bpm)
        self.beat0, self.time0 = 0.0, 0  # the beat at a time (microseconds)
        self.playing, self.playing_time = False, 0
        self.members: list[FakeLink] = []
        self.commits = 0

    def micros(self) -> int:
        return int(round(self.now() * 1e6))

    def beat_at(self, micros: float) -> float:
        return self.beat0 + (micros - self.time0) / 60e6 * self.tempo

    def time_at(self, beat: float) -> float:
        return self.time0 + (beat - self.beat0) * 60e6 / self.tempo

    def set_tempo(self, bpm: float, micros: int) -> None:
        """A peer's change: the beat at ``micros`` stays."""
        self.beat0, self.time0, self.tempo = self.beat_at(micros), micros, float(bpm)


class State:
    def __init__(self, session: Session, alone: bool):
        self._alone = alone
        self._tempo, self._beat0, self._time0 = session.tempo, session.beat0, session.time0
        self._playing, self._playing_time = session.playing, session.playing_time

    def tempo(self) -> float:
        return self._tempo

    def beatAtTime(self, micros: int, quantum: float) -> float:
        return self._beat0 + (micros - self._time0) / 60e6 * self._tempo

    def timeAtBeat(self, beat: float, quantum: float) -> int:
        return int(round(self._time0 + (beat - self._beat0) * 60e6 / self._tempo))

    def phaseAtTime(self, micros: int, quantum: float) -> float:
        return self.beatAtTime(micros, quantum) % quantum

    def setTempo(self, bpm: float, micros: int) -> None:
        self._beat0, self._time0, self._tempo = self.beatAtTime(micros, 4.0), micros, float(bpm)

    def requestBeatAtTime(self, beat: float, micros: int, quantum: float) -> None:
        here = self.beatAtTime(micros, quantum)
        if self._alone:
            self._beat0 += beat - here
        else:  # the session's phase stays: only whole quanta move
            self._beat0 += round((beat - here) / quantum) * quantum

    def forceBeatAtTime(self, beat: float, micros: int, quantum: float) -> None:
        self._beat0 += beat - self.beatAtTime(micros, quantum)

    def isPlaying(self) -> bool:
        return self._playing

    def timeForIsPlaying(self) -> int:
        return self._playing_time

    def setIsPlaying(self, playing: bool, micros: int) -> None:
        self._playing, self._playing_time = bool(playing), int(micros)


class _Clock:
    def __init__(self, session: Session):
        self._session = session

    def micros(self) -> int:
        return self._session.micros()


class FakeLink:
    """One peer of ``session``: what ``link.Link(bpm)`` is to vamen."""

    def __init__(self, session: Session, bpm: float = 120.0):
        self.session = session
        self.enabled = False
        self.startStopSyncEnabled = False
        if not session.members:
            session.tempo = float(bpm)  # the first one founds the session
        session.members.append(self)

    def clock(self) -> _Clock:
        return _Clock(self.session)

    def numPeers(self) -> int:
        return len(self.session.members) - 1

    def captureAppSessionState(self) -> State:
        return State(self.session, alone=self.numPeers() == 0)

    def commitAppSessionState(self, state: State) -> None:
        s = self.session
        s.tempo, s.beat0, s.time0 = state._tempo, state._beat0, state._time0
        s.playing, s.playing_time = state._playing, state._playing_time
        s.commits += 1


def downbeat_error(session: Session, micros: float) -> float:
    """Seconds from ``micros`` to the session's nearest bar line (quantum 4)."""
    beat = session.beat_at(micros)
    off = (beat + 2.0) % 4.0 - 2.0
    return off * 60.0 / session.tempo

