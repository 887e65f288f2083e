"""MIDI ports through mido's backend choice: raw bytes with their arrival times.

``MIDO_BACKEND`` picks the backend as everywhere in vamen
(:func:`vamen.server.audio.devices.midi_backend_name`): ``mido.backends.rtmidi``
(the default: ALSA on Linux, CoreMIDI, WinMM) or ``.../UNIX_JACK`` for JACK
MIDI. For rtmidi backends vamen opens the port with python-rtmidi itself, in
queue mode, because mido's rtmidi port hides two things a performance needs:
the raw bytes (mido parses each packet alone and so loses running status;
:mod:`.wire` keeps it) and rtmidi's timestamps. Queue mode also keeps Python
out of the audio server's real-time thread: JACK only pushes into rtmidi's
queue, the MIDI thread empties it. Any other mido backend is opened through
mido, its messages stamped on arrival.

Times. rtmidi stamps each message with the time since the previous one, on
the audio server's clock. Their running sum is exact but has no origin; the
origin is the smallest ``monotonic() - sum`` seen at reading time (a message
can only be read after it arrived), which converges within a few messages to
the true arrival times in ``time.monotonic`` seconds.
"""
from __future__ import annotations

import logging
import queue
import time

from vamen.server.audio.devices import midi_backend_name

log = logging.getLogger("vamen")
RTMIDI_MODULE = "mido.backends.rtmidi"
CLIENT = "vamen-midi"
QUEUE_LIMIT = 8192
#: Upward drift (s/s) allowed to the clock origin, should the two clocks differ in rate.
ORIGIN_LEAK = 2e-4


def match_port(names: list[str], query: str, own: str = CLIENT) -> str | None:
    """The port whose name holds ``query`` (case-insensitive): an exact name first, else the first.

    Ports of vamen's own client are never matched (its feedback output would
    otherwise feed itself).
    """
    q = query.strip().lower()
    names = [n for n in names if not n.lower().startswith(own.lower() + ":")]
    exact = [n for n in names if n.lower() == q]
    found = exact or [n for n in names if q in n.lower()]
    return found[0] if found else None


def _backend() -> tuple[str, str | None]:
    module, _, api = midi_backend_name().partition("/")
    return module, (api or None)


def _rtmidi_api(api: str | None):
    import rtmidi

    if api is None:
        return rtmidi.API_UNSPECIFIED
    value = getattr(rtmidi, f"API_{api.upper()}", None)
    if value is None:
        raise ValueError(f"rtmidi has no MIDI API {api!r} (MIDO_BACKEND={midi_backend_name()})")
    return value


class RtMidiInput:
    """One input port through python-rtmidi: ``names()``, ``open(name)``, ``read()``, ``close()``."""

    def __init__(self, api: str | None, client: str = CLIENT) -> None:
        import rtmidi

        self._rt = rtmidi.MidiIn(_rtmidi_api(api), name=client, queue_size_limit=QUEUE_LIMIT)
        # sysex passes: an unterminated one would otherwise swallow what follows; the tokenizer skips it
        self._rt.ignore_types(sysex=False, timing=False, active_sense=True)
        self.name: str | None = None
        self._reset_time()

    def _reset_time(self) -> None:
        self._sum = 0.0
        self._origin: float | None = None
        self._origin_at = 0.0

    def names(self) -> list[str]:
        return list(self._rt.get_ports())

    def open(self, name: str) -> None:
        names = self.names()
        self._rt.open_port(names.index(name), "in")
        self.name = name
        self._reset_time()

    def close(self) -> None:
        if self.name is not None:
            self._rt.close_port()
            self.name = None

    def read(self) -> list[tuple[list[int], float]]:
        """Every message waiting, as ``(bytes, monotonic arrival time)``."""
        raw = []
        while True:
            got = self._rt.get_message()
            if got is None:
                break
            data, delta = got
            self._sum += max(0.0, float(delta))
            raw.append((data, self._sum))
        if not raw:
            return []
        now = time.monotonic()
        origin = now - raw[-1][1]  # the latest message arrived at or before now
        if self._origin is not None:
            origin = min(origin, self._origin + ORIGIN_LEAK * (now - self._origin_at))
        self._origin, self._origin_at = origin, now
        return [(data, self._origin + s) for data, s in raw]

    def delete(self) -> None:
        self.close()
        self._rt.delete()


class MidoInput:
    """The same through any other mido backend: messages stamped on arrival."""

    def __init__(self, backend: str) -> None:
        import mido

        self._backend = mido.Backend(backend, load=True)
        self._port = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.name: str | None = None

    def names(self) -> list[str]:
        return list(self._backend.get_input_names())

    def open(self, name: str) -> None:
        put = self._queue.put
        self._port = self._backend.open_input(name, callback=lambda m: put((m.bytes(), time.monotonic())))
        self.name = name

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port, self.name = None, None

    def read(self) -> list[tuple[list[int], float]]:
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def delete(self) -> None:
        self.close()


def open_input():
    """A closed input of the backend ``MIDO_BACKEND`` names (may raise where it is unusable)."""
    module, api = _backend()
    if module == RTMIDI_MODULE:
        return RtMidiInput(api)
    return MidoInput(midi_backend_name())


class RtMidiOutput:
    """An output port for feedback (rtmidi backends only): ``open(name)``, ``send(bytes)``."""

    def __init__(self, api: str | None, client: str = CLIENT) -> None:
        import rtmidi

        self._rt = rtmidi.MidiOut(_rtmidi_api(api), name=client)
        self.name: str | None = None

    def names(self) -> list[str]:
        return list(self._rt.get_ports())

    def open(self, name: str) -> None:
        self._rt.open_port(self.names().index(name), "feedback")
        self.name = name

    def send(self, data: list[int]) -> None:
        self._rt.send_message(data)

    def close(self) -> None:
        if self.name is not None:
            self._rt.close_port()
            self.name = None

    def delete(self) -> None:
        self.close()
        self._rt.delete()


def open_output():
    """A closed feedback output, or None where the backend is not rtmidi."""
    module, api = _backend()
    return RtMidiOutput(api) if module == RTMIDI_MODULE else None
