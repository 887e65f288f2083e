"""``/vamen/encode`` off the control thread.

Reading an audio file and running the encoder takes from tens of
milliseconds to seconds (a long file, a slow disk, a cold model). Done on
the control thread it held every other command back for that long. The
control thread now hands the :class:`~vamen.server.core.commands.Encode` to
:class:`EncodeWorker`, which checks the path against the allowed folders,
reads and encodes the file on its own thread, and puts the outcome back on
the command queue as an :class:`~vamen.server.core.commands.Encoded`. The control
thread applies it like any other command, so it is still the only owner of
the control state (the preset and the move happen there), and the sender
gets the same ``/vamen/error`` it always did.

What changes for a client: commands sent after an ``/vamen/encode`` no
longer wait for it; the point lands (on the next quantisation point) when
the file is encoded. A handful of files may wait at once
(:data:`MAX_WAITING`); more are refused as busy.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

import numpy as np

from vamen.server.core import commands as c
from vamen.server.core.points import first_line

log = logging.getLogger(__name__)

#: Files that may wait to be encoded; one more is refused with "busy".
MAX_WAITING = 8


class EncodeWorker:
    """One thread that encodes files and queues :class:`~vamen.server.core.commands.Encoded`.

    Parameters
    ----------
    encode : callable (str -> np.ndarray [shape=(latent_dim,)])
        Checks the path and encodes the file's first bar; its exceptions'
        first lines become the error sentence.
    results : queue.Queue
        The command queue the control thread reads.
    """

    def __init__(self, encode: Callable[[str], np.ndarray], results: queue.Queue) -> None:
        self._encode = encode
        self._results = results
        self._jobs: queue.Queue = queue.Queue(maxsize=MAX_WAITING)
        self._thread: threading.Thread | None = None

    def start(self) -> "EncodeWorker":
        self._thread = threading.Thread(target=self._run, name="vamen-encode", daemon=True)
        self._thread.start()
        return self

    def submit(self, cmd: c.Encode) -> bool:
        """Queue a file; False when :data:`MAX_WAITING` are already waiting."""
        try:
            self._jobs.put_nowait(cmd)
            return True
        except queue.Full:
            return False

    def close(self) -> None:
        """Stop after the file being encoded, if any; waiting ones are dropped."""
        if self._thread is None:
            return
        while True:
            try:
                self._jobs.get_nowait()
            except queue.Empty:
                break
        self._jobs.put(None)
        self._thread.join(timeout=5)
        self._thread = None

    def encoded(self, cmd: c.Encode) -> c.Encoded:
        """Encode one file now, on the calling thread: the outcome as a command."""
        try:
            point = np.asarray(self._encode(cmd.path), dtype=np.float64)
            if point.ndim != 1:
                raise ValueError(f"the encoder gave an array of shape {point.shape}, not a point")
        except Exception as exc:  # the encoder's errors are one-liners for the sender
            return c.Encoded(cmd.path, error=f"cannot encode {cmd.path}: {first_line(exc)}",
                             source=cmd.source, at=cmd.at)
        return c.Encoded(cmd.path, tuple(point.tolist()), source=cmd.source, at=cmd.at)

    def _run(self) -> None:
        while (cmd := self._jobs.get()) is not None:
            result = self.encoded(cmd)
            try:
                self._results.put(result, timeout=1.0)
            except queue.Full:  # the sender flooded its own share of the queue
                log.warning("dropped the encoded %s: the command queue is full", cmd.path)
