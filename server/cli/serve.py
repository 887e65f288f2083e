"""``vamen serve``: the performance server."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from .common import model_option

SINKS = ("soundcard", "file", "supercollider", "notify")


@click.command("serve")
@model_option
@click.option("--host", default=None, help="Interface for OSC [default: 127.0.0.1, this machine only].")
@click.option("--osc-port", type=click.IntRange(0, 65535), default=None, help="UDP port [default: 57140].")
@click.option("--sink", "sinks", type=click.Choice(SINKS), multiple=True,
              help="Where the sound goes; repeat for several [default: soundcard].")
@click.option("--device", default=None, help="Output device name (substring; see `vamen devices`).")
@click.option("--midi", default=None, help="MIDI input name (substring; see `vamen devices`).")
@click.option("--clock", type=click.Choice(("internal", "midi", "link")), default=None,
              help="Who leads the tempo and bar: vamen, the MIDI input's clock, or the Ableton "
                   "Link session [default: internal].")
@click.option("--link", is_flag=True, help="Join the Ableton Link session: the same as --clock link.")
@click.option("--link-offset-ms", type=click.FloatRange(-1000, 1000), default=None,
              help="Link: output latency vamen cannot measure, in ms; positive plays earlier [default: 0].")
@click.option("--tempo", type=click.FloatRange(20, 400), default=None, help="BPM [default: the model's].")
@click.option("--quantize", type=click.FloatRange(0, 64), default=None,
              help="Beats between landing points: 0 next block, 1 beat, 4 bar [default: 1].")
@click.option("--quality", type=click.IntRange(1, 512), default=None,
              help="Griffin-Lim iterations [default: 32].")
@click.option("--gain", type=click.FloatRange(0, 2), default=None, help="Output gain [default: 1].")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also record the performance to this WAV file (the file sink).")
@click.option("--sample-rate", type=click.IntRange(8000, 192000), default=None)
@click.option("--blocksize", type=click.IntRange(0, 8192), default=None, help="Frames per audio block [default: 256].")
@click.option("--notify", multiple=True, metavar="HOST:PORT",
              help="notify sink: OSC client told of each loop file; repeat for several "
                   "[default: 127.0.0.1:57150].")
@click.option("--notify-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="notify sink: folder for the loop files [default: a temporary folder].")
@click.option("--scsynth", default=None, metavar="HOST:PORT",
              help="supercollider sink: scsynth to fill buffers on [default: 127.0.0.1:57110].")
@click.option("--sclang", multiple=True, metavar="HOST:PORT",
              help="supercollider sink: sclang told which buffer plays when [default: 127.0.0.1:57120].")
@click.option("--sc-buffers", type=click.IntRange(0, 1 << 20), default=None,
              help="supercollider sink: first of 8 buffer numbers vamen fills [default: 1000].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="vamen.toml with any of these options [default: ./vamen.toml if present].")
@click.option("--fresh", is_flag=True, help="Start at the centre instead of where the last run stopped.")
@click.option("--autopilot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Scenes to play unattended (TOML) [default: vamen.toml's [autopilot] table].")
@click.option("--allow", multiple=True, metavar="NET",
              help="Only these addresses or networks (192.168.1.0/24) may send OSC; repeat for "
                   "several; this machine always may [default: everyone who can reach --host].")
@click.option("--osc-rate", type=click.FloatRange(0), default=None,
              help="Messages a second one OSC sender may send; 0 for no limit [default: 2000].")
@click.option("--osc-burst", type=click.IntRange(1), default=None,
              help="Messages one sender may send at once after a quiet spell [default: 500].")
@click.option("--osc-total", type=click.FloatRange(0), default=None,
              help="Messages a second all senders near their limit may send together; 0 for no "
                   "limit [default: 4000].")
@click.option("--allow-dir", "allow_dirs", multiple=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="A folder /vamen/encode may read; repeat for several [default: the current "
                   "folder, ~/Music, the vamen data folder].")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on http://127.0.0.1:PORT/metrics [default: off].")
@click.option("--metrics-host", default=None, help="Interface for --metrics-port [default: 127.0.0.1].")
@click.option("--log", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the log to this file, rotated (see --log-size, --log-count).")
@click.option("--log-size", default=None, metavar="SIZE",
              help="Rotate the log at this size: 10M, 512K, 1G [default: 10M].")
@click.option("--log-count", type=click.IntRange(1, 1000), default=None,
              help="Rotated log files kept [default: 5].")
@click.option("--keep-cpu-awake", is_flag=True, default=None,
              help="Ask Linux (PM QoS, /dev/cpu_dma_latency) to keep the CPUs out of deep sleep "
                   "while playing: fewer underruns, more power. Needs root or a udev rule: "
                   'KERNEL=="cpu_dma_latency", GROUP="audio", MODE="0660".')
@click.option("--quiet", is_flag=True, help="No status line.")
def command(config_path, quiet, fresh, link, **given):
    """Run the performance server: OSC in, tempo-synced breakbeats out."""
    from vamen.server.config import read_config
    from vamen.server.engine import Engine
    from vamen.server.options import ServeOptions

    values = {}
    if config_path is None and Path("vamen.toml").is_file():
        config_path = Path("vamen.toml")
    if config_path is not None:
        values.update(read_config(config_path))
    renamed = {"model_path": "model"}
    for key, value in given.items():
        if value is None or value == ():
            continue
        values[renamed.get(key, key)] = value
    if link:
        if given.get("clock") not in (None, "link"):
            raise click.UsageError(f"--link and --clock {given['clock']} disagree: choose one")
        values["clock"] = "link"
    options = ServeOptions(**_safety(values))
    options.config = config_path
    options.status = not quiet
    options.fresh = fresh
    if options.log is not None:
        from vamen.server.ops.logfile import log_to_file

        log_to_file(options.log, options.log_size, options.log_count)
    _run(Engine(options))


def _safety(values: dict) -> dict:
    """Check the network, file and log options given on the command line (the file's are checked already)."""
    from vamen.model.errors import VamenError
    from vamen.server.sources.guard import parse_networks
    from vamen.server.ops.logfile import parse_size

    try:
        if values.get("allow") is not None:
            parse_networks(values["allow"])
        if isinstance(values.get("log_size"), str):
            values["log_size"] = parse_size(values["log_size"])
    except ValueError as exc:
        raise VamenError(str(exc)) from None
    return values


def _run(engine) -> None:
    from vamen.server.ops import sdnotify
    from vamen.server.engine import log

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    engine.start()
    o = engine.options
    for note in o.notes:
        click.echo(f"vamen: {note}", err=True)
    click.echo(f"vamen: playing to {engine.output_name} at {engine.sample_rate} Hz; "
               f"OSC on {o.host}:{engine.osc.port}; Ctrl-C stops", err=True)
    sdnotify.notify(f"READY=1\nSTATUS=playing to {engine.output_name}; OSC on {o.host}:{engine.osc.port}")
    tty = sys.stderr.isatty()
    ticks = 0
    try:
        while not stop.wait(1.0):
            ticks += 1
            if o.status and (tty or ticks % 30 == 0):
                line = engine.status_line()
                click.echo(("\r" + line + "   ") if tty else line, err=True, nl=not tty)
    finally:
        sdnotify.notify("STOPPING=1")
        if tty and o.status:
            click.echo("", err=True)
        engine.close()
        log.info("stopped")
    if o.record:
        click.echo(f"vamen: recorded {o.record}", err=True)
