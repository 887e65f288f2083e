"""``vamen midi learn TARGET``: bind the next knob moved to a target.

With a server running (it answers ``/vamen/ping`` on ``--host``/``--osc-port``),
the command asks it over OSC (``/vamen/midi/learn``) and waits until the
server has bound a knob and saved it (``/vamen/state``'s ``midi_learn`` goes
empty; ``midi_learned`` says which). With none running it opens the MIDI
input itself (``--midi NAME`` or ``[midi] port``), waits for a CC and writes
the binding to ``midi-learned.toml`` beside the config, where the next
``vamen serve`` picks it up.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

import click

from vamen.server.core.constants import OSC_PORT
from vamen.server.options import FiniteRange

from vamen.model.errors import VamenError

from .common import emit, json_option


@click.group("midi")
def command() -> None:
    """MIDI controllers: learn which knob moves what."""


def _osc(sock: socket.socket, server, address: str, *args) -> None:
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    sock.sendto(builder.build().dgram, server)


def _reply(sock: socket.socket, timeout: float):
    from pythonosc.osc_message import OscMessage

    sock.settimeout(timeout)
    try:
        dgram, _ = sock.recvfrom(65535)
    except (socket.timeout, OSError):
        return None
    try:
        msg = OscMessage(dgram)
    except Exception:
        return None
    return msg.address, list(msg.params)


def _ask(sock, server, address: str, *args, timeout: float = 0.5):
    _osc(sock, server, address, *args)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        got = _reply(sock, left)
        if got is not None and got[0] in (address, "/vamen/pong", "/vamen/error"):
            return got
    return None


def _state(sock, server) -> dict | None:
    got = _ask(sock, server, "/vamen/state")
    if got is None or got[0] != "/vamen/state":
        return None
    args = got[1]
    return dict(zip(args[::2], args[1::2]))


def _via_server(sock, server, target: str, timeout: float) -> dict:
    state = _state(sock, server)
    if state is None or "midi_input" not in state:
        raise VamenError(f"the vamen server on {server[0]}:{server[1]} has no MIDI input; "
                         "start it with --midi NAME (see vamen devices)")
    _osc(sock, server, "/vamen/midi/learn", target)
    got = _reply(sock, 0.3)
    if got is not None and got[0] == "/vamen/error":
        raise VamenError(f"the server refused {target!r}: {got[1][-1]}")
    click.echo(f"vamen: move a knob on {state['midi_input'] or 'the MIDI input'} "
               f"(waiting {timeout:g} s)", err=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        state = _state(sock, server)
        if state is not None and not state.get("midi_learn"):
            return {"target": target, "learned": state.get("midi_learned", ""), "via": "server"}
    raise VamenError(f"no knob moved within {timeout:g} s; the server still waits for one")


def _standalone(target: str, query: str, file: Path, timeout: float) -> dict:
    from vamen.server.midi.learned import read_learned, write_learned
    from vamen.server.midi.mapping import parse_cc
    from vamen.server.midi.ports import match_port, open_input
    from vamen.server.midi.wire import Tokenizer

    try:
        port = open_input()
    except Exception as exc:
        raise VamenError(f"MIDI is not usable: {' '.join(str(exc).split())}") from None
    try:
        deadline = time.monotonic() + timeout
        while (name := match_port(port.names(), query)) is None:
            if time.monotonic() > deadline:
                raise VamenError(f"no MIDI input matches {query!r} (see vamen devices)")
            time.sleep(0.2)
        port.open(name)
        click.echo(f"vamen: move a knob on {name} (waiting {timeout:g} s)", err=True)
        tokenizer = Tokenizer()
        while time.monotonic() < deadline:
            for data, _ in port.read():
                for msg in tokenizer.feed(data):
                    if msg.type == "control_change":
                        mapping = parse_cc(msg.control, {"target": target, "channel": msg.channel})
                        saved = read_learned(file)
                        saved[msg.control] = mapping
                        write_learned(file, saved)
                        return {"target": target, "cc": msg.control, "channel": msg.channel,
                                "learned": f"CC {msg.control} channel {msg.channel} -> {target}",
                                "file": str(file), "via": "midi"}
            time.sleep(0.005)
    finally:
        port.delete()
    raise VamenError(f"no knob moved within {timeout:g} s")


@command.command("learn")
@click.argument("target")
@click.option("--host", default=None, help="Where a running server listens [default: 127.0.0.1].")
@click.option("--osc-port", type=click.IntRange(1, 65535), default=None,
              help=f"Its OSC port [default: {OSC_PORT}].")
@click.option("--midi", "query", default=None,
              help="MIDI input (substring) to learn from when no server runs [default: [midi] port].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="vamen.toml [default: ./vamen.toml if present]; learned knobs go beside it.")
@click.option("--timeout", type=FiniteRange(0.5, 3600), default=30.0, show_default=True,
              help="Seconds to wait for a knob.")
@json_option
def learn(target, host, osc_port, query, config_path, timeout, as_json) -> None:
    """Bind the next MIDI knob moved to TARGET (latent/<i>, gain, walk/depth, ...) and save it."""
    from vamen.server.config import read_config
    from vamen.server.midi.learned import learned_path
    from vamen.server.midi.mapping import target_info
    from vamen.server.midi.setup import midi_table

    try:
        target_info(target)
    except ValueError as exc:
        raise VamenError(str(exc)) from None
    if config_path is None and Path("vamen.toml").is_file():
        config_path = Path("vamen.toml")
    values = read_config(config_path) if config_path is not None else {}
    server = (host or values.get("host", "127.0.0.1"), osc_port or values.get("osc_port", OSC_PORT))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("0.0.0.0" if server[0] not in ("127.0.0.1", "localhost") else "127.0.0.1", 0))
        pong = _ask(sock, server, "/vamen/ping", timeout=0.5)
        if pong is not None and pong[0] == "/vamen/pong":
            result = _via_server(sock, server, target, timeout)
        else:
            query = query or values.get("midi") or (midi_table(config_path) or {}).get("port")
            if not query:
                raise VamenError(f"no vamen server answers on {server[0]}:{server[1]}, and no MIDI "
                                 "input is named (--midi NAME, or port in vamen.toml's [midi])")
            file = learned_path(config_path, values.get("presets"))
            result = _standalone(target, query, file, timeout)
    finally:
        sock.close()
    where = f", saved in {result['file']}" if "file" in result else ""
    emit(result, as_json, f"{result['learned'] or target}{where}")
