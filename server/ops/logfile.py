"""``vamen serve --log FILE``: a log that rotates, for servers that run for weeks.

Without ``--log`` vamen keeps Python's default: warnings and errors on
stderr. With it, everything from INFO up (refused commands, devices coming
and going, OSC drop reports, underrun reports) goes to ``FILE``, which is
rotated when it reaches ``size`` bytes, keeping ``count`` old files
(``FILE.1`` the newest … ``FILE.<count>``): the disk never fills, however
long the installation runs. Warnings still reach stderr too, where a
service manager's journal picks them up.

Either way the log stays small under a flood: each of vamen's handlers
carries a :class:`RepeatFilter`, which says the first few lines of one kind
a minute and then one line with how many more there were
(:mod:`vamen.server.ops.repeats`). Other libraries' warnings (python-osc's,
numpy's, Python's own ``warnings``) go the same way, through vamen's
handlers, instead of Python's root logger: left alone, python-osc's first
``logging.warning`` set up a root handler that printed every later line,
vamen's INFO lines too, a second time on stderr.

Contents
--------
log_to_stderr     attach the ``vamen: message`` stderr handler (warnings and up)
log_to_file       attach the rotating file (and a stderr handler for warnings)
RepeatFilter      the first few lines of a kind per minute, then one line with the count
tick              say the summaries of intervals that are over (the serve loop calls it)
parse_size        ``"10M"``, ``"512K"``, ``"1G"``, ``"4096"`` -> bytes
"""
from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

from .repeats import Held, Repeats

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
#: Lines of one kind (logger, level, message template) said in full each interval ...
REPEAT_BURST = 5
#: ... of this many seconds; the rest of them are one line at its end.
REPEAT_SECONDS = 60.0


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
    stderr.addFilter(RepeatFilter(stderr))
    target.addHandler(stderr)
    _route_other_logs(logger)
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
    handler.addFilter(RepeatFilter(handler))
    target = logging.getLogger(logger)
    # With a handler of its own the logger no longer falls back to
    # Python's last-resort stderr output: keep warnings visible there.
    log_to_stderr(logger)
    target.addHandler(handler)
    if target.getEffectiveLevel() > logging.INFO:
        target.setLevel(logging.INFO)
    return handler


class RepeatFilter(logging.Filter):
    """On one handler: the first :data:`REPEAT_BURST` records of a kind per interval, then a count.

    A kind is (logger, level, message template), so "refused %s: %s" is one
    kind whatever was refused. Records held back are counted; when the
    interval is over (checked as records pass, and by :func:`tick`) the
    handler gets one more line per kind held back: ``3,412 more like
    "refused %s: %s" in the last 60 s; the last: refused /vamen/anchor: ...``.
    A record with ``extra={"summary": True}`` is a summary already (the OSC
    drop reports) and always passes.
    """

    def __init__(self, handler: logging.Handler, every: float = REPEAT_SECONDS,
                 burst: int = REPEAT_BURST) -> None:
        super().__init__()
        self.handler = handler
        self.repeats = Repeats(every=every, burst=burst, kinds=256)  # vamen has fewer log calls than that

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "summary", False):
            return True
        kind = (record.name, record.levelno, str(record.msg))
        shown = self.repeats.admit(kind, record.getMessage)
        self.tick()
        return shown

    def tick(self, final: bool = False) -> None:
        """Hand the handler the summaries of an interval that is over (all of them if ``final``)."""
        for held in self.repeats.flush() if final else self.repeats.due():
            self.handler.handle(self._summary(held))

    @staticmethod
    def _summary(held: Held) -> logging.LogRecord:
        name, level, template = held.kind if isinstance(held.kind, tuple) else ("vamen", logging.WARNING,
                                                                                 "lines of other kinds")
        last = held.last()  # formatted only now: a flood held back costs no formatting
        record = logging.LogRecord(name, level, __file__, 0, '%s more like "%s" in the last %.0f s; the last: %s',
                                   (f"{held.count:,}", template, held.seconds, last), None)
        record.summary = True
        return record


def tick(logger: str = "vamen", final: bool = False) -> None:
    """Say what ``logger``'s handlers held back, for the intervals that are over (all at ``final``)."""
    for handler in logging.getLogger(logger).handlers:
        for f in handler.filters:
            if isinstance(f, RepeatFilter):
                f.tick(final)


class _ToVamen(logging.Handler):
    """On the root logger: other libraries' records go to vamen's handlers, and nowhere else.

    With a handler on the root logger, Python's ``logging.warning()`` no
    longer sets up one of its own (``WARNING:root:...`` on stderr, and every
    record that reaches the root after it printed twice).
    """

    def __init__(self, logger: str) -> None:
        super().__init__()
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == self.logger or record.name.startswith(self.logger + "."):
            return  # vamen's own, said by its handlers already on the way up
        if record.name == "py.warnings":  # file:line: Category: message, then the source line
            record.msg, record.args = record.getMessage().strip().splitlines()[0], None
        for handler in logging.getLogger(self.logger).handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


def _route_other_logs(logger: str) -> None:
    """Send the root logger's records (other libraries', Python's warnings) to ``logger``'s handlers."""
    root = logging.getLogger()
    if not any(isinstance(h, _ToVamen) for h in root.handlers):
        root.addHandler(_ToVamen(logger))
    logging.captureWarnings(True)
