"""Any bytes at all from a MIDI port: vamen reads what MIDI 1.0 says, and the knobs do what the map says.

Property-based (hypothesis): byte streams of every sort (status bytes of
every kind, data bytes, sysex starts and ends, real-time bytes, the mapped
CC numbers), cut into events at random and the events into polls at
random, go through vamen's :class:`Tokenizer` and :class:`Router` as the
MIDI thread feeds them. They are compared with the reference that
``make fuzz`` judges the live server by (``scripts/fuzz_midi.py``: ``Wire``
and ``Knobs``, written from the specification, not from vamen's parser):
the same messages in the same order, and after every poll the same values
for the mapped knobs. The JACK run finds what the wire does; this finds
the parser's own mistakes in milliseconds, the way a stray end of
exclusive once moved a knob.
"""
import sys
import tomllib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fuzzing import examples
from vamen.server.core import commands as c
from vamen.server.midi.mapping import parse_settings
from vamen.server.midi.router import Router
from vamen.server.midi.wire import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from fuzz_midi import MAPPED, MAPPINGS, Knobs, Wire  # noqa: E402 (scripts/ is not a package)

LATENT_DIM = 8
SPECIAL = [0xF0, 0xF7, 0xF4, 0xF5, 0xF6, 0xF1, 0xF2, 0xF3, 0xF8, 0xF9, 0xFA, 0xFC, 0xFD, 0xFE, 0xFF,
           0xB0, 0xB9, 0xB3, 0x90, 0xC0, 0xE0, 0, 64, 127, 126, 1, 2]
octets = st.one_of(st.integers(0, 255), st.sampled_from(SPECIAL + [n for n, _ in MAPPED]))


@st.composite
def polls(draw) -> list[list[list[int]]]:
    """A stream of bytes cut into events (one to 12 bytes), the events into polls of the port."""
    stream = draw(st.lists(octets, min_size=1, max_size=400))
    events, at = [], 0
    while at < len(stream):
        size = draw(st.integers(1, 12))
        events.append(stream[at:at + size])
        at += size
    out, at = [], 0
    while at < len(events):
        size = draw(st.integers(1, 8))
        out.append(events[at:at + size])
        at += size
    return out


def router() -> Router:
    return Router(parse_settings(tomllib.loads(MAPPINGS)["midi"], LATENT_DIM, "fuzz.toml"))


@examples(400)
@given(polls())
def test_vamen_reads_midi_bytes_as_the_reference_does(polls):
    tokenizer, wire, route = Tokenizer(), Wire(), router()
    knobs, latent, gain = Knobs(), [0.0] * LATENT_DIM, 1.0
    for poll in polls:
        heard, meant = [], []
        for event in poll:
            heard += tokenizer.feed(event)
            meant += wire.feed(event)
        assert [tuple(m.bytes()) for m in heard] == meant, poll
        for message in meant:
            knobs.act(message)
        for cmd in route.feed([(m, 0.0) for m in heard]):  # what the control thread is sent
            if isinstance(cmd, c.SetCoord):
                latent[cmd.index] = cmd.value
            elif isinstance(cmd, c.Nudge):
                latent[cmd.index] += cmd.delta
            elif isinstance(cmd, c.Gain):
                gain = cmd.gain
            else:
                raise AssertionError(f"no mapping sends {cmd!r}")
        expected = (knobs.latent0, knobs.latent1, knobs.latent3, knobs.gain)
        assert all(abs(a - b) < 1e-9 for a, b in zip((latent[0], latent[1], latent[3], gain), expected)), poll
