"""What ``vamen serve`` can be told: one dataclass, filled from the command line and ``vamen.toml``.

:mod:`vamen.server.cli.serve` builds a :class:`ServeOptions` from the
options given and the config file (:mod:`vamen.server.config` checks the
file and names each key's field); :class:`~vamen.server.engine.Engine`
reads it once, at start. ``notes`` collects the one-line remarks made while
starting (an exposed OSC port, a resumed session) for the CLI to print.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .sources.guard import DEFAULT_BURST, DEFAULT_RATE, DEFAULT_TOTAL


@dataclass
class ServeOptions:
    """Everything ``vamen serve`` and ``vamen.toml`` can set."""

    model: Path | None = None
    host: str = "127.0.0.1"
    osc_port: int = 57140
    sinks: tuple[str, ...] = ("soundcard",)
    device: str | None = None
    midi: str | None = None
    clock: str = "internal"  # or "midi" (the MIDI input's clock), "link" (Ableton Link): vamen.server.clocks
    link_offset_ms: float = 0.0  # Link: output latency vamen cannot measure, in ms
    config: Path | None = None  # the vamen.toml read, for its [midi] table
    tempo: float | None = None  # None: the saved session's, else the model's
    quantize: float | None = None  # None: the saved session's, else 1 beat
    quality: int | None = None  # None: the saved session's, else 32 iterations
    gain: float | None = None  # None: the saved session's, else 1.0
    record: Path | None = None
    sample_rate: int | None = None
    blocksize: int = 256
    lookahead: float = 0.6
    seed: int = 0
    presets: Path | None = None
    fresh: bool = False
    autopilot: Path | None = None  # --autopilot FILE; else vamen.toml's [autopilot] table
    # loop sinks (vamen.server.sinks): where the notify and supercollider sinks send
    notify: tuple[str, ...] = ("127.0.0.1:57150",)  # OSC clients told of each loop file
    notify_dir: Path | None = None  # where loop files go [default: a temporary folder]
    scsynth: str = "127.0.0.1:57110"
    sclang: tuple[str, ...] = ("127.0.0.1:57120",)
    sc_buffers: int = 1000  # first of the scsynth buffer numbers vamen fills
    status: bool = True
    keep_cpu_awake: bool = False  # hold a PM QoS request while playing (vamen.server.cpuwake)
    # network and file safety (vamen.server.guard, vamen.server.folders)
    allow: tuple[str, ...] | None = None  # networks OSC accepts; None: everyone
    osc_rate: float = DEFAULT_RATE  # messages a second per sender; 0: no limit
    osc_burst: int = DEFAULT_BURST
    osc_total: float = DEFAULT_TOTAL  # messages a second for all heavy senders together; 0: none
    allow_dirs: tuple[Path, ...] | None = None  # folders /vamen/encode may read; None: the defaults
    # health (vamen.server.metrics, vamen.server.logfile)
    metrics_port: int | None = None  # Prometheus /metrics; None: off
    metrics_host: str = "127.0.0.1"
    log: Path | None = None
    log_size: int = 10 << 20  # bytes before the log file rotates
    log_count: int = 5  # rotated files kept
    notes: list[str] = field(default_factory=list)
