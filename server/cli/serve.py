"""``vamen serve``: the performance server.

Its options come from the one table in :mod:`vamen.server.options`; only
the flags that are not settings (``--config``, ``--link``, ``--quiet``)
are written here.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import sys
from pathlib import Path

import click

from vamen.server.options import click_options

#: Without a terminal (a service, a pipe) the status line is written this seldom: a journal
#: is read later, and a line every 30 s was 20 of every 10 minutes' lines.
STATUS_EVERY_SECONDS = 300


@click.command("serve")
@click_options
@click.option("--link", is_flag=True, help="Join the Ableton Link session: the same as --clock link.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="vamen.toml with any of these options [default: ./vamen.toml if present].")
@click.option("--quiet", is_flag=True, help="No status line.")
def command(config_path, quiet, link, **given):
    """Run the performance server: OSC in, tempo-synced breakbeats out."""
    from vamen.model.errors import VamenError
    from vamen.server.config import read_config
    from vamen.server.engine import Engine
    from vamen.server.ops.logfile import log_to_file, log_to_stderr
    from vamen.server.options import ServeOptions, from_cli

    log_to_stderr()  # every line on stderr says it is vamen's, with or without --log
    values = {}
    if config_path is None and Path("vamen.toml").is_file():
        config_path = Path("vamen.toml")
    if config_path is not None:
        values.update(read_config(config_path))
    try:
        values.update(from_cli(given))
    except ValueError as exc:
        raise VamenError(str(exc)) from None
    if link:
        if given.get("clock") not in (None, "link"):
            raise click.UsageError(f"--link and --clock {given['clock']} disagree: choose one")
        values["clock"] = "link"
    options = ServeOptions(**values)
    options.config = config_path
    options.status = not quiet
    if options.log is not None:
        try:
            log_to_file(options.log, options.log_size, options.log_count)
        except OSError as exc:
            raise VamenError(f"cannot write the log file {options.log}: {exc.strerror or exc}") from None
    _run(Engine(options))


def _run(engine) -> None:
    from vamen.server.ops import sdnotify
    from vamen.server.ops.logfile import tick
    from vamen.server.ops.stacks import stacks_on_signal, stop_deadline
    log = logging.getLogger("vamen")

    # Ctrl-C and SIGTERM: the handler appends and takes no lock. A threading.Event set
    # from a handler can deadlock on the lock its own wait holds in the main thread
    # (CPython issue 126434), and the stop then never comes. The C handler's byte on
    # the wake-up pipe ends the wait below at once.
    stopping: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stopping.append(signum))
    wake, woken = os.pipe()
    os.set_blocking(wake, False)
    os.set_blocking(woken, False)
    previous = signal.set_wakeup_fd(woken, warn_on_full_buffer=False)
    stacks_on_signal()  # kill -USR1 PID: where every thread is, on stderr; vamen plays on
    engine.start()
    o = engine.options
    for note in o.notes:
        click.echo(f"vamen: {note}", err=True)
    click.echo(f"vamen: playing to {engine.output_name} at {engine.sample_rate} Hz; "
               f"OSC on {o.host}:{engine.osc.port}; Ctrl-C stops", err=True)
    if engine.web is not None:
        click.echo(f"vamen: web page on {engine.web.url}", err=True)
    sdnotify.notify(f"READY=1\nSTATUS=playing to {engine.output_name}; OSC on {o.host}:{engine.osc.port}")
    tty = sys.stderr.isatty()
    ticks = 0
    try:
        while not stopping and engine.exit_code is None:
            if select.select([wake], [], [], 1.0)[0]:
                os.read(wake, 512)  # a signal came: the loop's test says whether it was a stop
                continue
            ticks += 1
            tick()  # what the log held back in a minute that is over, in one line a kind
            if o.status and (tty or ticks % STATUS_EVERY_SECONDS == 0):
                line = engine.status_line()
                click.echo(("\r" + line + "   ") if tty else f"vamen: {line}", err=True, nl=not tty)
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wake)
        os.close(woken)
        sdnotify.notify("STOPPING=1")
        if tty and o.status:
            click.echo("", err=True)
        with stop_deadline():  # a stop that hangs says where, and exits, instead of waiting for SIGKILL
            engine.close()
            log.info("stopped")
            tick(final=True)
    if o.record:
        click.echo(f"vamen: recorded {o.record}", err=True)
    if engine.exit_code is not None:  # vamen chose to stop (the memory ceiling): systemd restarts it
        sys.exit(engine.exit_code)
