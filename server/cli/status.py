"""``vamen status``: ask a running server how it is doing.

Sends ``/vamen/state`` over OSC (a few tries, since UDP may lose one) and
prints the health figures, or all of them as JSON. When nobody answers it
prints one line and exits with status 1, so a cron job or a service check
can use it as is: ``vamen status >/dev/null || restart-vamen``.
"""
from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import click

from vamen.server.core.constants import OSC_PORT
from vamen.server.options import FiniteRange

from vamen.model.errors import VamenError

TRIES = 3


def ask_state(host: str, port: int, timeout: float) -> dict | None:
    """``/vamen/state``'s pairs from the server at ``host:port``, or None when it is silent."""
    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as exc:
        raise VamenError(f"cannot resolve {host}: {exc.strerror}") from None
    request = OscMessageBuilder("/vamen/state").build().dgram
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        deadline = time.monotonic() + timeout
        for attempt in range(TRIES):
            try:
                sock.sendto(request, address)
            except OSError:
                return None
            until = min(deadline, time.monotonic() + timeout / TRIES)
            while (left := until - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    dgram, _ = sock.recvfrom(65535)
                    msg = OscMessage(dgram)
                except (socket.timeout, ConnectionRefusedError):
                    break
                except Exception:  # OSError, a stray packet that is not OSC
                    continue
                if msg.address == "/vamen/state":
                    args = list(msg.params)
                    return dict(zip(args[::2], args[1::2]))
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)  # a refused port answers at once: do not spin
    return None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def describe(state: dict, where: str) -> str:
    """The health figures, a few lines for people."""
    get = state.get
    lines = [
        f"vamen on {where}: up {_duration(float(get('uptime', 0)))}, "
        f"{'playing' if get('playing') else 'stopped'} at {float(get('tempo', 0)):.1f} BPM, "
        f"output {get('output', '?')} at {get('sample_rate', '?')} Hz",
        f"underruns {get('underruns', 0)}, starved blocks {get('starved', 0)}, "
        f"late loops {get('late_loops', 0)}",
        f"render p50 {float(get('render_ms_p50', 0)):.1f} ms, p99 {float(get('render_ms_p99', 0)):.1f} ms; "
        f"loops queued {get('queued_loops', 0)}; commands waiting {get('queue_depth', 0)}",
        f"OSC dropped {get('osc_dropped', 0)} (not allowed {get('osc_denied', 0)}, "
        f"queue full {get('osc_busy', 0)}"
        + (f", lost in the kernel {get('osc_kernel_dropped')}" if get("osc_kernel_dropped") else "") + ")"
        + (f": {get('osc_dropped_by')}" if get("osc_dropped_by") else ""),
        f"dead air {get('dead_air', 0)} ({float(get('dead_air_seconds', 0)):.1f} s in all"
        + ("; now" if get("dead_air_now") else "") + f"), alerts {get('alerts', 0)}"
        + (f" (last: {get('last_alert')})" if get("last_alert") else "")
        + f", memory {float(get('rss_mb', 0)):.0f} MiB",
        f"last error: {get('last_error') or 'none'}",
    ]
    return "\n".join(lines)


@click.command("status")
@click.option("--host", default=None, help="Where the server listens [default: 127.0.0.1].")
@click.option("--osc-port", type=click.IntRange(1, 65535), default=None,
              help=f"Its OSC port [default: {OSC_PORT}].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="vamen.toml to take host and port from [default: ./vamen.toml if present].")
@click.option("--timeout", type=FiniteRange(0.1, 60), default=2.0, show_default=True,
              help="Seconds to wait for an answer.")
@click.option("--json", "as_json", is_flag=True, help="Print every /vamen/state figure as JSON.")
def command(host, osc_port, config_path, timeout, as_json) -> None:
    """Ask a running server for its health; exit status 1 when none answers."""
    from vamen.server.config import read_config

    if config_path is None and Path("vamen.toml").is_file():
        config_path = Path("vamen.toml")
    values = read_config(config_path) if config_path is not None else {}
    host = host or values.get("host", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):  # a server bound everywhere is reached on loopback
        host = "::1" if host == "::" else "127.0.0.1"
    port = osc_port or values.get("osc_port", OSC_PORT)
    state = ask_state(host, port, timeout)
    if state is None:
        click.echo(f"vamen: no vamen server answers on {host}:{port}", err=True)
        sys.exit(1)
    click.echo(json.dumps(state, indent=2) if as_json else describe(state, f"{host}:{port}"))
