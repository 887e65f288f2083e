"""``vamen serve --log FILE``: a log that rotates, for servers that run for weeks.

Without ``--log`` vamen keeps Python's default: warnings and errors on
stderr. With it, everything from INFO up (refused commands, devices coming
and going, OSC drop reports, underrun reports) goes to ``FILE``, which is
rotated when it reaches ``size`` bytes, keeping ``count`` old files
(``FILE.1`` the newest … ``FILE.<count>``): the disk never fills, however
long the installation runs. Warnings still reach stderr too, where a
service manager's journal picks them up.

Contents
--------
log_to_file   attach the rotating file (and a stderr handler for warnings)
parse_size    ``"10M"``, ``"512K"``, ``"1G"``, ``"4096"`` -> bytes
"""
from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str | int) -> int:
    """Bytes from ``"10M"``, ``"512k"``, ``"1G"`` or a plain number; ValueError otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        size = text
    else:
        match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)i?[bB]?\s*", str(text))
        if match is None:
            raise ValueError(f"log size {text!r} is not a size such as 10M, 512K or 4096")
        size = int(match.group(1)) * _UNITS[match.group(2).upper()]
    if size < 1024:
        raise ValueError(f"log size {text!r} is under 1K: too small to hold a few lines")
    return size


def log_to_stderr(logger: str = "vamen") -> logging.Handler:
    """Warnings and up on stderr as ``vamen: message``, one line each; the handler (once per logger).

    Without it, Python's last-resort output prints bare messages, so a line
    from a thread could not be told from another program's on a shared
    console or in the journal.
    """
    target = logging.getLogger(logger)
    for h in target.handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            return h
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.WARNING)
    stderr.setFormatter(logging.Formatter("vamen: %(message)s"))
    target.addHandler(stderr)
    return stderr


def log_to_file(path: str | Path, size: int = 10 << 20, count: int = 5,
                logger: str = "vamen") -> logging.Handler:
    """Send ``logger``'s records (INFO and up) to a file rotated at ``size`` bytes.

    Returns the file handler (remove it from the logger to stop). ``count``
    old files are kept; 0 keeps none and lets the file grow (as
    :class:`~logging.handlers.RotatingFileHandler` does), so at least 1 is used.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=size, backupCount=max(1, count),
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(logging.INFO)
    target = logging.getLogger(logger)
    # With a handler of its own the logger no longer falls back to
    # Python's last-resort stderr output: keep warnings visible there.
    log_to_stderr(logger)
    target.addHandler(handler)
    if target.getEffectiveLevel() > logging.INFO:
        target.setLevel(logging.INFO)
    return handler
