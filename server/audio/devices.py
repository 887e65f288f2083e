"""Audio outputs and inputs, MIDI inputs: what this machine has, and the one a user named.

Every function here survives a machine without the part: no PortAudio
library, no sound card, no MIDI backend. The ``scan_*`` functions return the
list and, when it is empty, one line saying why; the ``list_*`` functions
return just the list.

PortAudio (through ``sounddevice``) scans its host APIs once, when
``sounddevice`` is imported. A JACK server that starts later stays invisible
until :func:`rescan_audio` terminates and re-initialises PortAudio. PortAudio's
JACK host API lists one device, named after the JACK client that owns the
physical ports (``system``), under the host API ``JACK Audio Connection Kit``;
``find_output("jack")`` finds it. The JACK client PortAudio registers is named
``PortAudio`` unless :func:`set_jack_client_name` names it before PortAudio
initialises; its ports are ``<client>:out_0``, ``<client>:out_1``...

The MIDI backend is mido's: ``MIDO_BACKEND`` picks it (for example
``mido.backends.rtmidi/UNIX_JACK`` for JACK MIDI), read on every call here
rather than once at ``import mido``.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.util
import os

from vamen.model.errors import VamenError

DEFAULT_MIDO_BACKEND = "mido.backends.rtmidi"

# PaJack_SetClientName keeps the pointer it is given: the buffer must outlive PortAudio.
_jack_client_name_buffer: ctypes.Array | None = None


class DeviceError(VamenError):
    """An audio or MIDI device that is not there, or a name that matches none."""


class NoOutputDevice(DeviceError):
    """This machine offers no audio output at all."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@contextlib.contextmanager
def _quiet_stderr():
    """Silence what C libraries (libjack, ALSA) print on fd 2 while they probe."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _sounddevice():
    """``(module, None)``, or ``(None, reason)`` where PortAudio cannot load."""
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        return None, f"PortAudio is not available ({_one_line(exc)}); install libportaudio2"
    except Exception as exc:  # Pa_Initialize failed at import: no audio, say why
        return None, f"PortAudio failed to start ({_one_line(exc)})"
    return sounddevice, None


def set_jack_client_name(name: str) -> bool:
    """Name the JACK client PortAudio opens (default ``PortAudio``).

    Takes effect at the next PortAudio initialisation: call :func:`rescan_audio`
    afterwards when ``sounddevice`` is already imported. Returns False where
    PortAudio is missing or was built without ``PaJack_SetClientName``.
    """
    global _jack_client_name_buffer
    sd, _ = _sounddevice()
    if sd is None:
        return False
    try:
        lib = ctypes.CDLL(sd._libname)  # the same handle sounddevice's cffi opened
        setter = lib.PaJack_SetClientName
    except (OSError, AttributeError):
        return False
    buffer = ctypes.create_string_buffer(name.encode())
    setter.argtypes = [ctypes.c_char_p]
    setter.restype = ctypes.c_int
    if setter(buffer) != 0:
        return False
    _jack_client_name_buffer = buffer
    return True


def rescan_audio() -> bool:
    """Terminate and re-initialise PortAudio so it sees host APIs started since.

    Closes every stream this process has open. Never call it after a JACK
    server died under this process's PortAudio: PortAudio's JACK host API then
    hangs (an open stream) and aborts the process (``assert`` in
    ``pa_jack.c`` Terminate). Returns False where PortAudio is missing.
    """
    sd, _ = _sounddevice()
    if sd is None:
        return False
    while sd._initialized:
        sd._terminate()
    sd._initialize()
    return True


def _scan(kind: str) -> tuple[list[dict], str | None]:
    """Every device with ``kind`` ("output" or "input") channels, and why the list is empty."""
    sd, reason = _sounddevice()
    if sd is None:
        return [], reason
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except Exception as exc:  # PortAudio errors are not worth a traceback here
        return [], f"PortAudio could not list devices ({_one_line(exc)})"
    try:
        default = int(sd.query_devices(kind=kind)["index"])
    except Exception:  # no default device of that kind: a PortAudioError
        default = None
    channels = f"max_{kind}_channels"
    found = []
    for index, info in enumerate(devices):
        if info[channels] <= 0:
            continue
        hostapi = hostapis[info["hostapi"]]["name"]
        found.append({
            "index": index,
            "name": info["name"],
            "hostapi": hostapi,
            "label": f"{hostapi}: {info['name']}",
            channels: int(info[channels]),
            "default_samplerate": float(info["default_samplerate"]),
            "is_default": index == default,
        })
    if found:
        return found, None
    apis = ", ".join(api["name"] for api in hostapis) or "none"
    return [], (f"PortAudio lists no {kind} devices (host APIs: {apis}; "
                "no sound card or running JACK server)")


def scan_outputs() -> tuple[list[dict], str | None]:
    """Every device with output channels, and why the list is empty when it is.

    Each entry: ``index``, ``name``, ``hostapi``, ``label`` (``"host api: name"``,
    the string to pass to ``--device``), ``max_output_channels``,
    ``default_samplerate``, ``is_default``.
    """
    return _scan("output")


def scan_inputs() -> tuple[list[dict], str | None]:
    """Every device with input channels (``max_input_channels``), as :func:`scan_outputs`."""
    return _scan("input")


def list_outputs() -> list[dict]:
    """Every audio output device; empty where there is none or no PortAudio."""
    return scan_outputs()[0]


def find_output(name: str | None = None) -> tuple[int, float]:
    """``(device index, sample rate)`` of the output ``name`` names, or the default.

    ``name`` is a device index, or a case-insensitive substring of the device
    name or of ``"host api: name"``. Raises :class:`NoOutputDevice` where the
    machine has no output, :class:`DeviceError` where ``name`` matches none or
    several.
    """
    outputs, reason = scan_outputs()
    if not outputs:
        raise NoOutputDevice(f"no audio output device: {reason}")
    if name is None:
        for out in outputs:
            if out["is_default"]:
                return out["index"], out["default_samplerate"]
        raise NoOutputDevice("no default audio output device; choose one with --device "
                             f"({_names(outputs)})")
    return _match(name, outputs, "output")


def find_input(name: str) -> tuple[int, float, int]:
    """``(device index, sample rate, input channels)`` of the input ``name`` names.

    Matched as :func:`find_output` matches outputs. Raises :class:`DeviceError`
    saying which inputs there are when ``name`` matches none (or several).
    """
    inputs, reason = scan_inputs()
    if not inputs:
        raise DeviceError(f"no audio input matches {name!r}: {reason}")
    index, rate = _match(name, inputs, "input")
    channels = next(i["max_input_channels"] for i in inputs if i["index"] == index)
    return index, rate, channels


def _match(name: str, devices: list[dict], kind: str) -> tuple[int, float]:
    query = name.strip().lower()
    if query.isdigit():
        for dev in devices:
            if dev["index"] == int(query):
                return dev["index"], dev["default_samplerate"]
    exact = [d for d in devices if query in (d["name"].lower(), d["label"].lower())]
    matches = exact or [d for d in devices
                        if query in d["name"].lower() or query in d["label"].lower()]
    if len(matches) == 1:
        return matches[0]["index"], matches[0]["default_samplerate"]
    if not matches:
        raise DeviceError(f"no audio {kind} matches {name!r}; available: {_names(devices)}")
    raise DeviceError(f"{name!r} matches several audio {kind}s: {_names(matches)}; be more specific")


def _names(outputs: list[dict]) -> str:
    return "; ".join(f"[{o['index']}] {o['label']}" for o in outputs)


class JackClientWatch:
    """Whether a JACK client still has audio output ports: an input device that can go away.

    PortAudio's JACK host API offers every JACK client with audio ports as a
    device named after it (``JACK Audio Connection Kit: drums``), and at
    stream start connects the stream's inputs to that client's outputs. When
    the client quits (a drum machine app closed), PortAudio says nothing: its
    stream runs on, unconnected, and does not connect again when the client
    comes back. This opens a second JACK client of its own (never activated,
    so it takes no part in the audio graph) only to ask whether the ports are
    still there. Raises OSError where libjack or the server is not there.
    """

    NO_START_SERVER = 0x01
    PORT_IS_OUTPUT = 0x02

    def __init__(self, client: str, name: str = "vamen-in-watch"):
        lib_name = ctypes.util.find_library("jack") or "libjack.so.0"
        self._lib = lib = ctypes.CDLL(lib_name)
        lib.jack_client_open.restype = ctypes.c_void_p
        lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.jack_get_ports.restype = ctypes.c_void_p
        lib.jack_get_ports.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong]
        lib.jack_free.argtypes = [ctypes.c_void_p]
        lib.jack_client_close.argtypes = [ctypes.c_void_p]
        status = ctypes.c_int(0)
        self._client = lib.jack_client_open(name.encode(), self.NO_START_SERVER, ctypes.byref(status))
        if not self._client:
            raise OSError(f"cannot open a JACK client (status {status.value:#x})")
        special = set(".[]()*+?{}|^$\\")
        self._pattern = ("^" + "".join("\\" + ch if ch in special else ch for ch in client) + ":").encode()

    def present(self) -> bool:
        """Whether the client has any audio output port now."""
        ports = self._lib.jack_get_ports(self._client, self._pattern, b"audio", self.PORT_IS_OUTPUT)
        if not ports:
            return False
        self._lib.jack_free(ports)
        return True

    def close(self) -> None:
        if self._client:
            self._lib.jack_client_close(self._client)
            self._client = None


def midi_backend_name() -> str:
    """The mido backend ``MIDO_BACKEND`` selects (``module`` or ``module/API``)."""
    return os.environ.get("MIDO_BACKEND") or DEFAULT_MIDO_BACKEND


def midi_backend():
    """A mido ``Backend`` for :func:`midi_backend_name`, loaded now (may raise)."""
    import mido

    return mido.Backend(midi_backend_name(), load=True)


def scan_midi_inputs() -> tuple[list[str], str | None]:
    """MIDI input port names, and why the list is empty when it is."""
    backend_name = midi_backend_name()
    if importlib.util.find_spec("mido") is None:
        return [], "mido is not installed (pip install mido python-rtmidi)"
    try:
        with _quiet_stderr():
            names = list(midi_backend().get_input_names())
    except Exception as exc:  # rtmidi raises its own SystemError, ImportError...
        hint = "" if os.environ.get("MIDO_BACKEND") else (
            "; for JACK MIDI set MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK")
        return [], f"MIDI backend {backend_name} is not usable ({_one_line(exc)}){hint}"
    if names:
        return names, None
    return [], f"no MIDI inputs on backend {backend_name} (connect a controller or open a virtual port)"


def list_midi_inputs() -> list[str]:
    """MIDI input port names; empty where there is none or no usable backend."""
    return scan_midi_inputs()[0]
