"""What ``vamen serve`` can be told, declared once.

Each option's name, type, range, default and help is one :class:`Rule` in
:data:`RULES`. Everything else is derived from that table:

- the click options of ``vamen serve`` (:func:`click_options`),
- the checks of ``vamen.toml`` (:func:`from_file`, used by
  :func:`vamen.server.config.read_config`),
- the :class:`ServeOptions` dataclass the engine reads once, at start.

So ``tempo = 10`` in the file gets the same range check, the same sentence
and the same exit status (2) as ``--tempo 10`` on the command line, and a
true/false key (``keep-cpu-awake = true``) is read as the flag it is. Every
number-with-a-point option is a :class:`FiniteRange`: ``nan`` passes every
comparison a range makes (TOML and ``--tempo nan`` both give it), and used
to reach the render thread, which stopped on it.

``notes`` collects the one-line remarks made while starting (an exposed
OSC port, a resumed session) for the CLI to print.

Contents
--------
Rule            one option: field, type, range or choices, default, help, where it may be given
FiniteRange     click's FloatRange that also refuses nan and inf (every float option of the CLI)
RULES           every option of ``vamen serve``, in ``--help`` order
ServeOptions    the dataclass derived from RULES (plus ``config``, ``status``, ``notes``)
FILE_KEYS       ``vamen.toml`` key (underscores) -> Rule
click_options   decorate a click command with the options RULES gives the command line
from_file       check one ``vamen.toml`` value: the field and the value, or ValueError
from_cli        check the command line's values the click types cannot (networks, sizes)
check_setting   check one value by its field name, as the command line would (a saved session's)
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click

from .core.commands import MAX_GAIN, MAX_QUALITY, MAX_QUANTIZE, MAX_TEMPO, MIN_QUALITY, MIN_TEMPO
from .core.constants import CLOCKS, OSC_PORT, SINKS
from .ops.logfile import parse_size
from .sources.guard import DEFAULT_BURST, DEFAULT_RATE, DEFAULT_TOTAL, parse_networks


class FiniteRange(click.FloatRange):
    """A float within bounds (either may be None) that is a real number: not nan, not inf.

    click's FloatRange lets ``nan`` through, since every comparison with it is
    false; here it gets a sentence like the range's.
    """

    def convert(self, value: Any, param, ctx) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number.", param, ctx)
        return number


def _networks(entries: tuple[str, ...]) -> tuple[str, ...]:
    parse_networks(entries)  # ValueError names the bad entry
    return entries


@dataclass(frozen=True)
class Rule:
    """One option of ``vamen serve``.

    ``kind`` is ``int``, ``float``, ``str``, ``bool`` or ``Path``; ``many``
    options are tuples (repeat the flag; a string or a list in the file).
    ``low``/``high`` bound a number, ``choices`` a string. ``check`` turns a
    value into the field's (or raises ValueError) after the type and range
    checks. ``flag`` and ``key`` name it on the command line and in the file;
    ``None`` means it cannot be given there. A ``Path`` in the file is taken
    from the file's folder.
    """

    name: str
    kind: type
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    many: bool = False
    check: Callable[[Any], Any] | None = None
    flag: str | None = ""  # "": --name-with-dashes
    key: str | None = ""  # "": the name; vamen.toml accepts dashes or underscores
    folder: bool = False  # a Path that names a folder, not a file
    metavar: str | None = None
    also: tuple[type, ...] = ()  # further types the file may give (a log size as a number of bytes)

    @property
    def option(self) -> str | None:
        return "--" + self.name.replace("_", "-") if self.flag == "" else self.flag

    @property
    def file_key(self) -> str | None:
        return self.name if self.key == "" else self.key

    def click_type(self):
        low, high = (None if b is None else int(b) if float(b).is_integer() else b
                     for b in (self.low, self.high))  # 20<=x<=400, as people write it
        if self.choices is not None:
            return click.Choice(self.choices)
        if self.kind is float:
            return FiniteRange(low, high)
        if self.kind is int and (self.low is not None or self.high is not None):
            return click.IntRange(low, high)
        if self.kind is Path:
            return click.Path(dir_okay=self.folder, file_okay=not self.folder, path_type=Path)
        return self.kind

    def checked(self, value):
        """The value after the range and the extra check: ValueError with the CLI's sentence."""
        kind = self.click_type()
        if isinstance(kind, (click.FloatRange, click.IntRange)) and not self.many:
            try:
                value = kind.convert(value, None, None)
            except click.BadParameter as exc:
                raise ValueError(exc.message) from None
        return self.check(value) if self.check is not None else value


def _size(value):
    return parse_size(value)


def _audio_cpus(text) -> str:
    from .audio.cpus import split_cpus

    split_cpus(str(text))  # ValueError names the bad CPU
    return str(text)  # the file may give one CPU as a number


def _folders(paths: tuple[Path, ...]) -> tuple[Path, ...]:
    for path in paths:
        if not Path(path).expanduser().is_dir():
            raise ValueError(f"--allow-dir {path}: no such folder")
    return paths


#: Every option of ``vamen serve``, in ``--help`` order. Defaults of None for
#: tempo, quantize, quality and gain mean "the saved session's, else the model's".
RULES: tuple[Rule, ...] = (
    Rule("model", Path, None, "Checkpoint to use (default: the model shipped with vamen)."),
    Rule("host", str, "127.0.0.1", "Interface for OSC [default: 127.0.0.1, this machine only]."),
    Rule("osc_port", int, OSC_PORT, f"UDP port [default: {OSC_PORT}].", 0, 65535),
    Rule("sinks", str, ("soundcard",), "Where the sound goes; repeat for several [default: soundcard].",
         choices=SINKS, many=True, flag="--sink", key="sink"),
    Rule("device", str, None, "Output device name (substring; see `vamen devices`)."),
    Rule("input", str, None, "Audio input to listen to, bar by bar, and follow with /vamen/follow: a "
         "sound card input or JACK (name substring or index; see `vamen devices`) [default: none]."),
    Rule("midi", str, None, "MIDI input name (substring; see `vamen devices`)."),
    Rule("clock", str, "internal", "Who leads the tempo and bar: vamen, the MIDI input's clock, or the "
         "Ableton Link session [default: internal].", choices=CLOCKS),
    Rule("link_offset_ms", float, 0.0, "Link: output latency vamen cannot measure, in ms; positive plays "
         "earlier [default: 0].", -1000, 1000),
    Rule("tempo", float, None, "BPM [default: the model's].", MIN_TEMPO, MAX_TEMPO),
    Rule("quantize", float, None, "Beats between landing points: 0 next block, 1 beat, 4 bar [default: 1].",
         0, MAX_QUANTIZE),
    Rule("quality", int, None, "Griffin-Lim iterations [default: 32].", MIN_QUALITY, MAX_QUALITY),
    Rule("gain", float, None, "Output gain [default: 1].", 0, MAX_GAIN),
    Rule("record", Path, None, "Also record the performance to this WAV file (the file sink)."),
    Rule("sample_rate", int, None, "Output sample rate in Hz, the rate loops are rendered at "
         "[default: the sound card's, or 48000 with no sound card].", 8000, 192000),
    Rule("blocksize", int, 256, "Frames per audio block; 0 lets the sound card's host API choose, and "
         "vary, the size [default: 256].", 0, 8192),
    Rule("notify", str, ("127.0.0.1:57150",), "notify sink: OSC client told of each loop file; repeat for "
         "several [default: 127.0.0.1:57150].", many=True, metavar="HOST:PORT"),
    Rule("notify_dir", Path, None, "notify sink: folder for the loop files [default: a temporary folder].",
         folder=True),
    Rule("scsynth", str, "127.0.0.1:57110", "supercollider sink: scsynth to fill buffers on "
         "[default: 127.0.0.1:57110].", metavar="HOST:PORT"),
    Rule("sclang", str, ("127.0.0.1:57120",), "supercollider sink: sclang told which buffer plays when "
         "[default: 127.0.0.1:57120].", many=True, metavar="HOST:PORT"),
    Rule("sc_buffers", int, 1000, "supercollider sink: first of 8 buffer numbers vamen fills "
         "[default: 1000].", 0, 1 << 20),
    Rule("fresh", bool, False, "Start at the centre instead of where the last run stopped.", key=None),
    Rule("autopilot", Path, None, "Scenes to play unattended (TOML) [default: vamen.toml's [autopilot] "
         "table]."),
    Rule("allow", str, None, "Only these addresses or networks (192.168.1.0/24) may send OSC; repeat for "
         "several; this machine always may [default: everyone who can reach --host].",
         many=True, check=_networks, metavar="NET"),
    Rule("osc_rate", float, DEFAULT_RATE, "Messages a second one OSC sender may send; 0 for no limit "
         f"[default: {DEFAULT_RATE:g}].", 0),
    Rule("osc_burst", int, DEFAULT_BURST, "Messages one sender may send at once after a quiet spell "
         f"[default: {DEFAULT_BURST}].", 1),
    Rule("osc_total", float, DEFAULT_TOTAL, "Messages a second all senders near their limit may send "
         f"together; 0 for no limit [default: {DEFAULT_TOTAL:g}].", 0),
    Rule("allow_dirs", Path, None, "A folder /vamen/encode may read; repeat for several [default: the "
         "current folder, ~/Music, the vamen data folder].", many=True, folder=True, flag="--allow-dir",
         key=None, check=_folders),  # the file's [files] allow table
    Rule("subscription_expiry", float, 60.0, "Seconds a /vamen/subscribe lasts unless renewed by "
         "subscribing again [default: 60].", 0.1, 86400),
    Rule("metrics_port", int, None, "Serve Prometheus metrics on http://127.0.0.1:PORT/metrics "
         "[default: off].", 0, 65535),
    Rule("metrics_host", str, "127.0.0.1", "Interface for --metrics-port [default: 127.0.0.1]."),
    Rule("web_port", int, None, "Serve the web page (play and watch from a phone or a laptop) on "
         "http://127.0.0.1:PORT/ [default: off].", 0, 65535, flag="--web"),
    Rule("web_host", str, "127.0.0.1", "Interface for --web; the OSC allow-list (--allow) says who may "
         "open the page [default: 127.0.0.1, this machine only]."),
    Rule("log", Path, None, "Write the log to this file, rotated (see --log-size, --log-count)."),
    Rule("log_size", str, 10 << 20, "Rotate the log at this size: 10M, 512K, 1G [default: 10M].",
         check=_size, metavar="SIZE", also=(int,)),
    Rule("log_count", int, 5, "Rotated log files kept [default: 5].", 1, 1000),
    Rule("keep_cpu_awake", bool, False, "Ask Linux (PM QoS, /dev/cpu_dma_latency) to keep the CPUs out of "
         "deep sleep while playing: fewer underruns, more power. Needs root or a udev rule: "
         'KERNEL=="cpu_dma_latency", GROUP="audio", MODE="0660".'),
    Rule("audio_cpus", str, None, "CPUs kept for the sound, written as taskset writes them (1, 2-3): "
         "vamen's audio process runs there, its renderer, OSC and web page on the others. Pin the JACK "
         "server and scsynth there too (taskset -c 1 jackd ...) [default: any CPU].", check=_audio_cpus,
         metavar="CPUS", also=(int,)),
    Rule("on_alert", str, None, "Run this command on each alert (dead air, device lost or back, audio "
         "process replaced, memory): the kind and the message are its last two arguments and in "
         "$VAMEN_ALERT_KIND and $VAMEN_ALERT_MESSAGE. At most once a minute a kind; killed after 10 s."),
    Rule("dead_air", float, 4.0, "Seconds of silence or broken audio while the music should sound before "
         "vamen alerts and heals [default: 4].", 1, 600),
    Rule("max_rss_mb", int, None, "Memory ceiling in MB: above it vamen alerts, saves the session and exits "
         "with status 75, for systemd to restart it [default: none].", 64, 1 << 20),
    # only in vamen.toml
    Rule("presets", Path, None, flag=None),
    Rule("lookahead", float, 0.6, "Seconds ahead of the playhead a loop is rendered, at most.", 0.1, 10,
         flag=None),
    Rule("seed", int, 0, "Seeds the draws of /vamen/random without a seed, for runs that repeat.", 0,
         flag=None),
)

FILE_KEYS: dict[str, Rule] = {r.file_key: r for r in RULES if r.file_key is not None}


def _annotation(rule: Rule) -> str:
    kind = f"tuple[{rule.kind.__name__}, ...]" if rule.many else rule.kind.__name__
    return kind if rule.default is not None else f"{kind} | None"


ServeOptions = dataclasses.make_dataclass(
    "ServeOptions",
    [(r.name, _annotation(r), field(default=r.default)) for r in RULES]
    + [("config", "Path | None", field(default=None)),  # the vamen.toml read, for its [midi] table
       ("status", bool, field(default=True)),  # the status line (--quiet turns it off)
       ("notes", list, field(default_factory=list))],
)
ServeOptions.__module__ = __name__
ServeOptions.__doc__ = """Everything ``vamen serve`` and ``vamen.toml`` can set: one field per :data:`RULES` entry."""


# -- the command line --------------------------------------------------------

def click_options(command):
    """Decorate a click command with every option RULES gives the command line.

    Every default is None (a flag's too), so the command can tell what was
    given from what was not, and the file's values stand where nothing was.
    """
    for rule in reversed([r for r in RULES if r.option is not None]):
        if rule.kind is bool:
            option = click.option(rule.option, rule.name, is_flag=True, default=None, help=rule.help)
        else:
            option = click.option(rule.option, rule.name, type=rule.click_type(), multiple=rule.many,
                                  default=None, help=rule.help or None, metavar=rule.metavar)
        command = option(command)
    return command


def from_cli(given: dict[str, Any]) -> dict[str, Any]:
    """The options given on the command line, checked: field -> value (ValueError for a bad one)."""
    rules = {r.name: r for r in RULES}
    values = {}
    for name, value in given.items():
        if value is None or value == ():
            continue
        rule = rules[name]
        values[name] = rule.check(value) if rule.check is not None else value
    return values


def check_setting(name: str, value: Any) -> Any:
    """``value`` for field ``name`` as the command line would take it, or ValueError saying why.

    What :mod:`vamen.server.ops.session` checks a saved session with, so a
    session never carries a value ``vamen serve --NAME VALUE`` would refuse.
    """
    rule = next(r for r in RULES if r.name == name)
    kinds = _KINDS[rule.kind] + ((float,) if rule.kind is int else ())  # JSON may write 32 as 32.0
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError(f"expected {_kind_words(rule)}, got {type(value).__name__}")
    if rule.kind is int and isinstance(value, float) and not value.is_integer():  # 2**53 + 1 is whole
        raise ValueError(f"expected a whole number, got {value!r}")
    return rule.checked(value)


# -- the file ---------------------------------------------------------------

_KINDS = {int: (int,), float: (int, float), str: (str,), bool: (bool,), Path: (str,)}
_WORDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
          Path: "a path (a string)"}
_PLURALS = {int: "whole numbers", float: "numbers", str: "strings", Path: "paths"}


def _toml_kind(value: Any) -> str:
    """A value's type as TOML names it: a string, an integer, a float, a boolean, an array, ..."""
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}
    return next((words for kind, words in kinds.items() if isinstance(value, kind)), type(value).__name__)


def _toml_text(value: Any) -> str:
    """A scalar as it was written in the file (``true``, ``"fast"``, ``1.5``)."""
    return json.dumps(value) if isinstance(value, (bool, int, float, str)) else repr(value)


def _kind_words(rule: Rule) -> str:
    """What a value of ``rule`` must be, in words: "a number", "a string, or a list of strings"."""
    words = " or ".join([_WORDS[rule.kind]] + [_WORDS[k] for k in rule.also])
    return f"{words}, or a list of {_PLURALS[rule.kind]}" if rule.many else words


def from_file(key: str, value: Any, folder: Path) -> tuple[str, Any]:
    """Check one ``vamen.toml`` value: (field, value); KeyError for an unknown key.

    A value that cannot be used is a ValueError whose message names the key
    and says why in one sentence, the range in the command line's words.
    """
    rule = FILE_KEYS[key.replace("-", "_")]
    kinds = _KINDS[rule.kind] + rule.also
    items = value if rule.many and isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, bool) != (rule.kind is bool) or not isinstance(item, kinds):
            raise ValueError(f"{key} has the wrong type: expected {_kind_words(rule)}, "
                             f"got {_toml_kind(item)} ({_toml_text(item)})")
    if rule.choices is not None:
        bad = [v for v in items if v not in rule.choices]
        if bad:
            noun = rule.file_key
            raise ValueError(f"unknown {noun} {bad[0]!r}; {noun}s are {', '.join(rule.choices)}")
    if rule.kind is Path:
        items = [(folder / v).expanduser() for v in items]
    try:
        return rule.name, rule.checked(tuple(items) if rule.many else items[0])
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None
