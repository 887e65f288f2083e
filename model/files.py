"""Writing files so that a crash never leaves half of one behind."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, fsync: bool = True,
                **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success, fsync and rename it over ``path``.

    Readers see the old file or the new one, never a mix, even after a power cut.
    ``fsync=False`` skips both fsyncs for files rewritten very often: still
    atomic for every process (a crash or ``kill -9`` never leaves half a
    file), but a power cut may bring back an older version.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes 0600 files; a saved model or preset file is as open as any other file
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not fsync:
        return
    # make the rename itself durable; not every platform can open a folder
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
