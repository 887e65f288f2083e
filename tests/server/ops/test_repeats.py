"""Repeated complaints are said once and counted: the log stays small under a flood."""
import logging
import subprocess
import sys

from vamen.server.ops.logfile import RepeatFilter
from vamen.server.ops.repeats import OTHER, Repeats


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_first_of_a_kind_is_said_the_rest_counted_and_summed_up_when_the_minute_is_over():
    clock = Clock()
    repeats = Repeats(every=60, burst=1, clock=clock)
    said = [repeats.admit(("malformed", "10.0.0.7"), i) for i in range(3412)]
    assert said[0] and not any(said[1:])
    assert repeats.admit(("malformed", "10.0.0.8"), "x")  # another host is another kind
    clock.now = 59.9
    assert repeats.due() == []
    clock.now = 60.0
    (held,) = repeats.due()
    assert (held.kind, held.count, held.said, held.last, held.seconds) == (
        ("malformed", "10.0.0.7"), 3411, 1, 3411, 60.0)
    assert repeats.due() == []  # said once
    assert repeats.admit(("malformed", "10.0.0.7"))  # a new minute: the first is said again


def test_kinds_beyond_the_limit_are_counted_together_so_memory_stays_bounded():
    repeats = Repeats(every=60, burst=1, kinds=4, clock=Clock())
    said = [repeats.admit(("malformed", f"10.0.{i // 256}.{i % 256}")) for i in range(10_000)]
    assert sum(said) == 4
    held = repeats.flush()
    assert [(h.kind, h.count) for h in held] == [(OTHER, 9996)]
    assert repeats.flush() == []


def test_a_handler_says_five_of_a_kind_a_minute_then_one_line_with_the_count():
    clock = Clock()
    lines = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Keep()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    quiet = RepeatFilter(handler, every=60, burst=5)
    quiet.repeats._clock = clock
    handler.addFilter(quiet)
    log = logging.getLogger("vamen.test.repeats")
    log.propagate = False
    log.addHandler(handler)
    try:
        for n in range(10_000):
            log.warning("refused %s: unknown preset %r", "/vamen/preset/load", f"p{n}")
        log.warning("%s", "a drop report", extra={"summary": True})  # a summary already passes
        clock.now = 61
        log.warning("something else")  # the next record says what the minute held back
    finally:
        log.removeHandler(handler)
    assert lines[:5] == [f"WARNING refused /vamen/preset/load: unknown preset 'p{n}'" for n in range(5)]
    assert lines[5:] == [
        "WARNING a drop report",
        "WARNING 9,995 more like \"refused %s: unknown preset %r\" in the last 61 s; "
        "the last: refused /vamen/preset/load: unknown preset 'p9999'",
        "WARNING something else"]


def test_other_libraries_warnings_go_through_vamens_handler_one_line_each():
    """python-osc logs with logging.warning() on the root logger; Python's own warnings too."""
    script = (
        "import logging, warnings\n"
        "from vamen.server.ops.logfile import log_to_stderr\n"
        "log_to_stderr()\n"
        "for _ in range(1000):\n"
        "    logging.warning('Unhandled parameter type: x')\n"
        "warnings.warn('an old call')\n"
        "logging.getLogger('vamen.server').info('not for stderr')\n"
        "logging.getLogger('vamen.server').warning('once, not twice')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines[:5] == ["vamen: Unhandled parameter type: x"] * 5
    assert lines[5].startswith("vamen: <string>:6: UserWarning: an old call")
    assert lines[6:] == ["vamen: once, not twice"]
    assert "WARNING:root" not in run.stderr
