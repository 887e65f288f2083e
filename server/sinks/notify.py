"""The ``notify`` sink: each loop as a WAV file, and an OSC note saying where.

For patches that play files themselves (Max's ``buffer~``, Pure Data's
``soundfiler``, a sampler): every loop vamen renders is written to
``loop-<k>.wav`` in one folder, ``k`` cycling through :data:`FILES` names so
the folder never holds more than that many (a patch has at least
``FILES - 1`` loops' time to read a file before it is overwritten), and
each client is told, in one OSC bundle time-tagged at the wall-clock time
the loop starts to sound::

    /vamen/loop  s path  f beat  f bars_per_loop  f tempo  i bar

``path``
    absolute path of the WAV (mono, 24-bit, vamen's output rate)
``beat``
    the beat from which this loop plays; ``beat % 4`` is where in the bar it
    takes over (0 on the downbeat: most loops; a change that lands mid-bar
    takes over mid-bar)
``bars_per_loop``
    always 1.0: a file holds exactly one bar, first frame on the downbeat
``tempo``
    BPM it was rendered at (the file lasts ``240 / tempo`` seconds)
``bar``
    the bar number ``beat`` falls in (``floor(beat / 4)``)

Files are written whole to a temporary name and renamed, so a patch never
reads half a file.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import soundfile as sf
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from . import Loop, LoopSink, parse_address, udp_socket

FILES = 8
DEFAULT_PORT = 57150


def loop_message(path: str, loop: Loop, when: float | None = None) -> bytes:
    """The ``/vamen/loop`` bundle for ``loop`` as datagram bytes, stamped ``when`` (default ``loop.when``)."""
    msg = OscMessageBuilder("/vamen/loop")
    msg.add_arg(str(path), "s")
    msg.add_arg(float(loop.beat), "f")
    msg.add_arg(1.0, "f")
    msg.add_arg(float(loop.tempo), "f")
    msg.add_arg(int(loop.bar), "i")
    bundle = OscBundleBuilder(loop.when if when is None else when)
    bundle.add_content(msg.build())
    return bundle.build().dgram


class NotifySink(LoopSink):
    """Writes loops to ``folder`` and tells ``clients`` about each.

    Parameters
    ----------
    clients : sequence of str
        ``"HOST:PORT"`` of each OSC receiver [default port 57150].
    folder : path, optional
        Where the files go; default a fresh temporary folder, removed on close.
    files : int
        File names to cycle through (``loop-0.wav`` ... ``loop-<files-1>.wav``).
    **kwargs
        See :class:`~vamen.server.sinks.LoopSink`.
    """

    name = "notify"

    def __init__(self, clients=("127.0.0.1:57150",), folder=None, files: int = FILES, **kwargs):
        super().__init__(**kwargs)
        if isinstance(clients, str):
            clients = (clients,)
        self.clients = [parse_address(c, DEFAULT_PORT) for c in clients]
        self._own_folder = folder is None
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="vamen-loops-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files = max(2, int(files))
        self._next = 0
        self._sock = udp_socket(self.clients[0][0] if self.clients else "127.0.0.1")

    def deliver(self, loop: Loop) -> None:
        path = self.folder / f"loop-{self._next}.wav"
        self._next = (self._next + 1) % self.files
        part = path.with_suffix(".part")
        sf.write(part, loop.audio, loop.sample_rate, subtype="PCM_24", format="WAV")
        os.replace(part, path)
        data = loop_message(str(path.resolve()), loop)
        for address in self.clients:
            try:
                self._sock.sendto(data, address)
            except OSError:  # nobody listening yet, or the network is down: try again next loop
                pass

    def close(self) -> None:
        super().close()
        self._sock.close()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
