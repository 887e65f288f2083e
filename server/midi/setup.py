"""From ``vamen serve``'s options to a running MIDI thread.

MIDI starts when ``--midi NAME`` is given, when ``vamen.toml`` has a
``[midi]`` table with a ``port``, or when ``--clock midi`` asks for an
external clock. Everything is checked before the engine starts anything: a
bad mapping is one line (:class:`~vamen.server.config.ConfigError`).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from vamen.server.core.constants import CLOCKS, ConfigError

from .learned import learned_path, read_learned
from .mapping import MidiSettings, parse_settings


@dataclass(frozen=True)
class MidiPlan:
    """What to start: the checked settings (learned mappings merged), the port, the clock."""

    settings: MidiSettings
    query: str
    clock: str
    learned_file: Path
    latent_dim: int

    def start(self, engine):
        """Start the MIDI thread for ``engine`` (its command queue and control state)."""
        from .listener import MidiListener
        from .router import Router, control_state

        state = control_state(engine.control)
        # the MIDI clock, when it leads, is attached by vamen.server.clocks.MidiClock
        router = Router(self.settings, state, lambda: engine.control.midi_learn_target)
        return MidiListener(self.settings, self.query, router, engine.commands.put_nowait,
                            self.learned_file, self.latent_dim, state).start()


def midi_table(config: Path | None) -> dict | None:
    """The ``[midi]`` table of a config file, or None where there is none."""
    if config is None or not Path(config).is_file():
        return None
    try:
        table = tomllib.loads(Path(config).read_text(encoding="utf-8")).get("midi")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{config} is not valid TOML: {exc}") from None
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{config}: midi must be a table ([midi]) or a port name")
    return table


def plan(options, latent_dim: int) -> MidiPlan | None:
    """The MIDI to start for ``options`` (a ServeOptions), or None; ConfigError if it is wrong."""
    clock = getattr(options, "clock", "internal") or "internal"
    if clock not in CLOCKS:
        raise ConfigError(f"unknown clock {clock!r}; clocks are {', '.join(CLOCKS)}")
    config = getattr(options, "config", None)
    table = midi_table(config)
    if options.midi is None and table is None and clock != "midi":
        return None
    settings = parse_settings(table or {}, latent_dim, str(config or "vamen.toml"))
    learned_file = learned_path(config, options.presets)
    for mapping in read_learned(learned_file, latent_dim).values():
        settings = settings.with_cc(mapping)
    query = options.midi or settings.port
    if query is None:
        if clock == "midi":
            raise ConfigError("--clock midi needs a MIDI input: --midi NAME, or port = \"NAME\" "
                              "in vamen.toml's [midi] (see vamen devices)")
        options.notes.append("MIDI mappings found but no input named: use --midi NAME or "
                             "port = \"NAME\" in [midi]; MIDI is off")
        return None
    options.notes.append(f"MIDI: listening to the input matching {query!r}"
                         + (", following its clock" if clock == "midi" else "")
                         + f"; learned mappings in {learned_file}")
    return MidiPlan(settings, query, clock, learned_file, latent_dim)
