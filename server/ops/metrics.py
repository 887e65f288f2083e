"""A Prometheus endpoint: ``GET /metrics`` in the text exposition format.

For installations watched by Prometheus, node_exporter's textfile
collector, or a ``curl`` in a cron job: ``vamen serve --metrics-port 9140``
serves the server's health figures, read at the moment of the request, on
``http://127.0.0.1:9140/metrics``. It binds loopback unless told otherwise
(``--metrics-host``), and when an OSC allow-list is set it answers only the
hosts that list lets in. It is a standard-library ``http.server`` on one
daemon thread: no dependency, nothing to configure, and nothing it does can
reach the audio callback but a read of a few counters.

Metrics (label values bounded: at most 16 named senders, then ``other``)::

    vamen_uptime_seconds                 gauge
    vamen_underruns_total                counter  blocks the device reported late
    vamen_starved_blocks_total           counter  blocks with nothing to play
    vamen_late_loops_total               counter  loops rendered after their beat
    vamen_render_seconds{quantile="0.5"|"0.99"}  gauge  per loop, recent renders
    vamen_queued_loops                   gauge    loops rendered ahead
    vamen_command_queue_depth            gauge    commands waiting for the control thread
    vamen_dead_air_total                 counter  silent or broken output while the music should sound
    vamen_dead_air_seconds_total         counter  how long, in all
    vamen_alerts_total                   counter  alerts raised (dead air, devices, memory)
    vamen_resident_memory_mib            gauge    the server's resident memory
    vamen_osc_dropped_total{source="host:port",reason="rate"|"load"|"denied"|"busy"}  counter
    vamen_osc_kernel_dropped_total       counter  datagrams the kernel dropped at the full socket (Linux)
    vamen_tempo_bpm                      gauge
    vamen_playing                        gauge    1 or 0
    vamen_info{output="...",version="..."}  gauge  always 1

Contents
--------
MetricsServer   ``start()``, ``close()``, ``port``
exposition      figures -> the text Prometheus reads
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterable

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: object) -> str:
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return "NaN"


def exposition(health: dict, drops: Iterable[tuple[str, str, int]], tempo: float,
               playing: bool, version: str) -> str:
    """The Prometheus text format for the engine's figures.

    Parameters
    ----------
    health : dict
        :meth:`Engine.health`'s figures (``uptime``, ``underruns``, ...).
    drops : iterable of (sender, reason, count)
        :meth:`Guard.drops`.
    tempo, playing, version
        The rest of what a dashboard shows.
    """
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, object]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

    metric("vamen_uptime_seconds", "gauge", "Seconds since the server started.",
           [("", health.get("uptime", 0))])
    metric("vamen_underruns_total", "counter", "Audio blocks the device reported late.",
           [("", health.get("underruns", 0))])
    metric("vamen_starved_blocks_total", "counter", "Audio blocks with nothing to play.",
           [("", health.get("starved", 0))])
    metric("vamen_late_loops_total", "counter", "Loops rendered after their beat.",
           [("", health.get("late_loops", 0))])
    metric("vamen_render_seconds", "gauge", "Render time per loop over recent renders.",
           [('{quantile="0.5"}', float(health.get("render_ms_p50", 0)) / 1000.0),
            ('{quantile="0.99"}', float(health.get("render_ms_p99", 0)) / 1000.0)])
    metric("vamen_queued_loops", "gauge", "Loops rendered ahead of the playhead.",
           [("", health.get("queued_loops", 0))])
    metric("vamen_command_queue_depth", "gauge", "Commands waiting for the control thread.",
           [("", health.get("queue_depth", 0))])
    metric("vamen_osc_dropped_total", "counter",
           "OSC packets dropped, by sender and reason (rate, load, denied, busy).",
           [(f'{{source="{_label(source)}",reason="{_label(reason)}"}}', count)
            for source, reason, count in drops])
    if "osc_kernel_dropped" in health:
        metric("vamen_osc_kernel_dropped_total", "counter", "OSC datagrams the kernel dropped at the full "
               "socket, never read by vamen.", [("", health["osc_kernel_dropped"])])
    metric("vamen_dead_air_total", "counter", "Times the output was silent or broken while the music should "
           "sound (see on-alert).", [("", health.get("dead_air", 0))])
    metric("vamen_dead_air_seconds_total", "counter", "Seconds of dead air, in all.",
           [("", health.get("dead_air_seconds", 0))])
    metric("vamen_alerts_total", "counter", "Alerts raised: dead air, devices, memory.",
           [("", health.get("alerts", 0))])
    metric("vamen_resident_memory_mib", "gauge", "The server's resident memory.", [("", health.get("rss_mb", 0))])
    metric("vamen_tempo_bpm", "gauge", "Current tempo.", [("", tempo)])
    metric("vamen_playing", "gauge", "1 while playing, 0 when stopped.", [("", int(playing))])
    metric("vamen_info", "gauge", "Constant 1, labelled with the output and the version.",
           [(f'{{output="{_label(health.get("output", ""))}",version="{_label(version)}"}}', 1)])
    return "\n".join(lines) + "\n"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("vamen")
    except Exception:
        return "unknown"


class MetricsServer:
    """``GET /metrics`` for one engine, on a daemon thread.

    Parameters
    ----------
    figures : callable
        Called at each request: the engine's ``health()`` figures plus
        ``tempo`` and ``playing``.
    guard : Guard or None
        The OSC guard: its allow list admits scrapers, its drops are counted.
    host : str
        Interface to bind [default: ``127.0.0.1``].
    port : int
        TCP port; 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, figures, guard=None, host: str = "127.0.0.1", port: int = 9140) -> None:
        self.figures = figures
        self.guard = guard
        self.host = host
        self._requested_port = port
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._version = _version()

    @property
    def port(self) -> int:
        return self._http.server_address[1] if self._http is not None else self._requested_port

    def text(self) -> str:
        """What ``/metrics`` answers now."""
        figures = dict(self.figures())
        tempo, playing = figures.pop("tempo"), figures.pop("playing")
        return exposition(figures, self.guard.drops() if self.guard is not None else [],
                          tempo, playing, self._version)

    def start(self) -> "MetricsServer":
        """Bind and serve; raises VamenError (one sentence) when the port is taken."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if server.guard is not None and not server.guard.allows(self.client_address[0]):
                    self.send_error(403)
                    return
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "vamen serves /metrics only")
                    return
                try:
                    body = server.text().encode("utf-8")
                except Exception:  # a figure that cannot be read must not end the server
                    log.exception("metrics failed")
                    self.send_error(500)
                    return
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # scrapes every 15 s: not news
                log.debug("metrics: " + format, *args)

        class HTTPServer(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

        try:
            self._http = HTTPServer((self.host, self._requested_port), Handler)
        except OSError as exc:
            from vamen.model.errors import VamenError

            raise VamenError(f"cannot serve metrics on {self.host}:{self._requested_port}: "
                             f"{exc.strerror or exc}") from None
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="vamen-metrics",
                                        daemon=True)
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = self.host == "localhost"
        if not loopback:
            log.warning("metrics on %s can be read by anyone who can reach this machine", self.host)
        return self

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
