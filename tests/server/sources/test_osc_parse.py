"""OSC message -> typed commands, without sockets: every address, good and bad."""
import math

import pytest

from vamen.server.core import commands as c
from vamen.server.core.commands import UseClock
from vamen.server.sources.osc import ADDRESSES, BadMessage, parse

DIM = 16
SRC = ("127.0.0.1", 57120)
AT = 1_700_000_000.5
NAN, INF = math.nan, math.inf


def one(address, args):
    cmds = parse(address, args, SRC, AT, DIM)
    assert len(cmds) == 1
    return cmds[0]


GOOD = [
    ("/vamen/latent", [0.5], c.SetLatent((0.5,))),
    ("/vamen/latent", [1, -2.5, 3.0], c.SetLatent((1.0, -2.5, 3.0))),
    ("/vamen/latent", [0.0] * DIM, c.SetLatent((0.0,) * DIM)),
    ("/vamen/latent/0", [1.5], c.SetCoord(0, 1.5)),
    ("/vamen/latent/15", [-3], c.SetCoord(15, -3.0)),
    ("/vamen/nudge", [3, 0.1], c.Nudge(3, 0.1)),
    ("/vamen/nudge", [3.0, -1], c.Nudge(3, -1.0)),  # Pd sends every number as a float
    ("/vamen/glide", [2.0], c.Glide(2.0)),
    ("/vamen/glide", [0], c.Glide(0.0)),
    ("/vamen/random", [], c.Random()),
    ("/vamen/random", [0.5], c.Random(0.5)),
    ("/vamen/random", [2.0, 42], c.Random(2.0, 42)),
    ("/vamen/morph", [3, 8.0], c.Morph(3, 8.0, "smooth")),
    ("/vamen/morph", ["amen", 4, "slerp"], c.Morph("amen", 4.0, "slerp")),
    ("/vamen/morph", ["random", 0.0, "linear"], c.Morph("random", 0.0, "linear")),
    ("/vamen/interp", [0, "verse", 0.25], c.Interp(0, "verse", 0.25)),
    ("/vamen/interp", [1.0, 2, 1], c.Interp(1, 2, 1.0)),
    ("/vamen/walk", [0.5], c.Walk(0.5)),
    ("/vamen/walk", [0.5, 2.0], c.Walk(0.5, 2.0)),
    ("/vamen/walk", [0, 1.0, 9], c.Walk(0.0, 1.0, 9)),
    ("/vamen/follow", [1.0], c.Follow(1.0)),
    ("/vamen/follow", [0], c.Follow(0.0)),
    ("/vamen/follow", [0.5, 8], c.Follow(0.5, 8.0)),
    ("/vamen/anchor", [12], c.Anchor(12)),
    ("/vamen/anchor", ["random"], c.Anchor("random")),
    ("/vamen/encode", ["/tmp/break.wav"], c.Encode("/tmp/break.wav")),
    ("/vamen/preset/save", ["verse"], c.PresetSave("verse")),
    ("/vamen/preset/load", ["verse"], c.PresetLoad("verse", 0.0)),
    ("/vamen/preset/load", ["verse", 8], c.PresetLoad("verse", 8.0)),
    ("/vamen/preset/list", [], c.PresetList()),
    ("/vamen/anchor/list", [], c.AnchorList()),
    ("/vamen/tempo", [174.0], c.Tempo(174.0)),
    ("/vamen/tempo", [20], c.Tempo(20.0)),
    ("/vamen/tempo", [400.0], c.Tempo(400.0)),
    ("/vamen/quantize", [0.0], c.Quantize(0.0)),
    ("/vamen/quantize", [4], c.Quantize(4.0)),
    ("/vamen/play", [], c.Play()),
    ("/vamen/stop", [], c.Stop()),
    ("/vamen/gain", [0.0], c.Gain(0.0)),
    ("/vamen/gain", [2], c.Gain(2.0)),
    ("/vamen/quality", [64], c.Quality(64)),
    ("/vamen/quality", [512.0], c.Quality(512)),
    ("/vamen/quality", [1], c.Quality(1)),
    ("/vamen/state", [], c.State()),
    ("/vamen/subscribe", [], c.Subscribe()),
    ("/vamen/subscribe", [9000], c.Subscribe(9000)),
    ("/vamen/subscribe", [9000, "10.0.0.2"], c.Subscribe(9000, "10.0.0.2")),
    ("/vamen/unsubscribe", [], c.Unsubscribe()),
    ("/vamen/unsubscribe", [9000, "localhost"], c.Unsubscribe(9000, "localhost")),
    ("/vamen/ping", [], c.Ping()),
    ("/vamen/midi/learn", ["latent/3"], c.MidiLearn("latent/3")),
    ("/vamen/midi/learn", ["walk/depth"], c.MidiLearn("walk/depth")),
    ("/vamen/autopilot", [1], c.AutopilotSwitch(1)),
    ("/vamen/autopilot", [0.0], c.AutopilotSwitch(0)),
    ("/vamen/autopilot", [], c.AutopilotSwitch()),
    ("/vamen/clock", ["link"], UseClock("link")),
    ("/vamen/clock", ["internal"], UseClock("internal")),
    ("/vamen/chop", [0, 0, 0, 0], c.ChopSteps((0, 0, 0, 0))),
    ("/vamen/chop", [3.0, -1, 1, 0], c.ChopSteps((3, -1, 1, 0))),
    ("/vamen/chop", [], c.ChopSteps()),
    ("/vamen/chop/reverse", [1, 3], c.ChopReverse((1, 3))),
    ("/vamen/chop/reverse", [], c.ChopReverse()),
    ("/vamen/chop/roll", [12, 2, 15, 4], c.ChopRoll(((12, 2), (15, 4)))),
    ("/vamen/chop/roll", [], c.ChopRoll()),
    ("/vamen/chop/hit", [0.25, 0.5], c.ChopHit(0.25, 0.5)),
    ("/vamen/chop/hit", [0, 1, -2.0, 1.5, 3], c.ChopHit(0.0, 1.0, -2.0, 1.5, 3)),
    ("/vamen/chop/slice", [3], c.ChopHit(3 / 16, 4 / 16)),
    ("/vamen/chop/slice", [1, 4, -1.0], c.ChopHit(0.25, 0.5, -1.0)),
    ("/vamen/chop/hold", [5], c.ChopHold(5, 16)),
    ("/vamen/chop/hold", [1, 8], c.ChopHold(1, 8)),
    ("/vamen/chop/release", [5], c.ChopRelease(5, 16)),
    ("/vamen/chop/release", [], c.ChopRelease()),
]


ALIASES = {"/vamen/chop/slice": "/vamen/chop/hit"}


@pytest.mark.parametrize("address, args, expected", GOOD, ids=[f"{a} {b}"[:60] for a, b, _ in GOOD])
def test_good(address, args, expected):
    cmd = one(address, args)
    assert cmd == type(expected)(**{**vars(expected), "source": SRC, "at": AT})
    assert cmd.source == SRC and cmd.at == AT
    # /vamen/chop/slice is a friendlier spelling of a /vamen/chop/hit
    assert cmd.address == ALIASES.get(address, address)


@pytest.mark.parametrize("expected", [g[2] for g in GOOD], ids=[f"{a} {b}"[:60] for a, b, _ in GOOD])
def test_to_osc_round_trip(expected):
    address, args = expected.to_osc()
    assert parse(address, args, None, None, DIM) == [expected]


def test_every_address_is_covered():
    covered = {a for a, _, _ in GOOD if not a.startswith("/vamen/latent/")}
    assert covered | {"/dirt/play"} == set(ADDRESSES)


BAD = [
    ("/vamen/follow", [NAN], "finite"),
    ("/vamen/follow", [-0.1], "within 0..1"),
    ("/vamen/follow", [1.5], "within 0..1"),
    ("/vamen/follow", ["all"], "must be a number"),
    ("/vamen/follow", [], "expects"),
    ("/vamen/follow", [1.0, -2], ">= 0"),
    ("/vamen/follow", [1.0, INF], "finite"),
    # chops
    ("/vamen/chop", [0] * 65, "at most 64 steps"),
    ("/vamen/chop", [0, 2], "step 1 must be a slice 0..1 or -1"),
    ("/vamen/chop", [0, -2], "step 1 must be a slice"),
    ("/vamen/chop", [0, float("nan")], "finite"),
    ("/vamen/chop", [0, "x"], "must be a number, got string"),
    ("/vamen/chop", [0, 0.5], "whole number"),
    ("/vamen/chop/reverse", [64], "within 0..63"),
    ("/vamen/chop/roll", [1], "pairs"),
    ("/vamen/chop/roll", [1, 17], "count must be within 1..16"),
    ("/vamen/chop/roll", [1, 0], "count must be within 1..16"),
    ("/vamen/chop/hit", [0.5, 0.25], "begin (0.5) must not be after end (0.25)"),
    ("/vamen/chop/hit", [0, 1.5], "fractions of the bar"),
    ("/vamen/chop/hit", [NAN, 0.5], "finite"),
    ("/vamen/chop/hit", [0, 0.5, 100.0], "speed must be within"),
    ("/vamen/chop/hit", [0, 0.5, 1.0, -1.0], "beats must be 0"),
    ("/vamen/chop/hit", ["a", 0.5], "must be a number, got string"),
    ("/vamen/chop/slice", [16], "slice must be within 0..15"),
    ("/vamen/chop/slice", [0, 65], "slices must be within 1..64"),
    ("/vamen/chop/slice", ["x"], "must be a number, got string"),
    ("/vamen/chop/hold", [-1], "slice must be within 0..15"),
    ("/vamen/chop/release", [2, 0], "slices must be within 1..64"),
    # unknown addresses
    ("/vamen/nope", [], "unknown address"),
    ("/vamen/preset/lod", ["x"], "did you mean /vamen/preset/load"),
    ("/vamen/latent/x", [1.0], "whole number"),
    ("/vamen/latent/-1", [1.0], "whole number"),
    ("/vamen/*", [], "unknown address"),
    ("", [], "unknown address"),
    # counts
    ("/vamen/latent", [], "got 0 arguments"),
    ("/vamen/latent", [0.0] * (DIM + 1), "at most 16"),
    ("/vamen/latent", [0.0] * 10_000, "at most 16"),
    ("/vamen/latent/3", [], "expects f value"),
    ("/vamen/latent/3", [1.0, 2.0], "got 2 arguments"),
    ("/vamen/nudge", [3], "i index f delta"),
    ("/vamen/glide", [], "f beats"),
    ("/vamen/random", [1.0, 2, 3], "got 3 arguments"),
    ("/vamen/morph", ["amen"], "point f beats"),
    ("/vamen/interp", [0, 1], "point point f"),
    ("/vamen/walk", [], "f depth"),
    ("/vamen/walk", [1, 1, 1, 1], "got 4"),
    ("/vamen/anchor", [], "point"),
    ("/vamen/encode", [], "s path"),
    ("/vamen/preset/save", [], "s name"),
    ("/vamen/preset/load", ["a", 1, 2], "got 3"),
    ("/vamen/preset/list", ["x"], "no arguments"),
    ("/vamen/play", [1], "no arguments"),
    ("/vamen/stop", [1], "no arguments"),
    ("/vamen/state", [1], "no arguments"),
    ("/vamen/ping", ["x"], "no arguments"),
    ("/vamen/tempo", [], "f bpm"),
    ("/vamen/gain", [1.0, 1.0], "got 2"),
    ("/vamen/subscribe", [1, "h", 3], "got 3"),
    ("/vamen/midi/learn", [], "s target"),
    # types
    ("/vamen/latent", [0.1, "x"], "value 1 must be a number"),
    ("/vamen/latent", [True], "boolean"),
    ("/vamen/latent", [None], "nil"),
    ("/vamen/latent", [b"\x00"], "blob"),
    ("/vamen/latent", [[1.0, 2.0]], "array"),
    ("/vamen/latent/3", ["a"], "must be a number"),
    ("/vamen/nudge", [1.5, 0.1], "whole number"),
    ("/vamen/nudge", ["3", 0.1], "must be a number"),
    ("/vamen/morph", [3, "x"], "beats must be a number"),
    ("/vamen/morph", [3.5, 1.0], "whole number"),
    ("/vamen/morph", [3, 1.0, 7], "curve must be a string"),
    ("/vamen/encode", [3], "path must be a string"),
    ("/vamen/encode", [""], "must not be empty"),
    ("/vamen/preset/save", [1.0], "name must be a string"),
    ("/vamen/quality", [32.5], "whole number"),
    ("/vamen/subscribe", ["9000"], "port must be a number"),
    ("/vamen/subscribe", [9000, 1], "host must be a string"),
    ("/vamen/midi/learn", [3], "must be a string"),
    # NaN and infinity
    ("/vamen/latent", [0.0, NAN], "finite"),
    ("/vamen/latent", [INF], "finite"),
    ("/vamen/latent/2", [-INF], "finite"),
    ("/vamen/nudge", [1, NAN], "finite"),
    ("/vamen/glide", [INF], "finite"),
    ("/vamen/random", [NAN], "finite"),
    ("/vamen/morph", [1, NAN], "finite"),
    ("/vamen/interp", [0, 1, NAN], "finite"),
    ("/vamen/walk", [INF], "finite"),
    ("/vamen/tempo", [NAN], "finite"),
    ("/vamen/quantize", [INF], "finite"),
    ("/vamen/gain", [NAN], "finite"),
    ("/vamen/quality", [INF], "finite"),
    ("/vamen/preset/load", ["a", NAN], "finite"),
    # ranges
    ("/vamen/latent/16", [1.0], "within 0..15"),
    ("/vamen/latent/99999999999", [1.0], "within 0..15"),
    ("/vamen/nudge", [16, 0.1], "within 0..15"),
    ("/vamen/nudge", [-1, 0.1], "within 0..15"),
    ("/vamen/glide", [-1.0], ">= 0"),
    ("/vamen/random", [-0.1], "within 0..4"),
    ("/vamen/random", [1.0, -5], "seed must be >= 0"),
    ("/vamen/morph", [1, -4.0], ">= 0"),
    ("/vamen/morph", [-1, 4.0], "must be >= 0"),
    ("/vamen/morph", ["", 4.0], "empty"),
    ("/vamen/interp", [0, 1, 1.5], "within 0..1"),
    ("/vamen/interp", [0, 1, -0.5], "within 0..1"),
    ("/vamen/walk", [-0.5], "within 0..4"),
    ("/vamen/walk", [5.0], "within 0..4"),
    ("/vamen/walk", [1.0, -1.0], "within 0..64"),
    ("/vamen/walk", [1.0, 1.0, -1], "seed must be >= 0"),
    ("/vamen/anchor", [-2], ">= 0"),
    ("/vamen/preset/load", ["a", -1.0], ">= 0"),
    ("/vamen/tempo", [19.9], "within 20..400"),
    ("/vamen/tempo", [401], "within 20..400"),
    ("/vamen/tempo", [0], "within 20..400"),
    ("/vamen/quantize", [-1], ">= 0"),
    ("/vamen/quantize", [65], "within 0..64"),
    ("/vamen/gain", [-0.01], "within 0..2"),
    ("/vamen/gain", [2.5], "within 0..2"),
    ("/vamen/quality", [0], "within 1..512"),
    ("/vamen/quality", [513], "within 1..512"),
    ("/vamen/subscribe", [0], "within 1..65535"),
    ("/vamen/subscribe", [70000], "within 1..65535"),
    ("/vamen/unsubscribe", [9000, ""], "not a host"),
    ("/vamen/midi/learn", ["latent/16"], "within 0..15"),
    ("/vamen/midi/learn", ["volume"], "unknown target"),
    ("/vamen/autopilot", [2], "on must be 1 (fly) or 0 (off)"),
    ("/vamen/autopilot", [1, 1], "expects [i on"),
    ("/vamen/clock", ["ableton"], "unknown clock 'ableton'; clocks are internal, midi, link"),
    ("/vamen/clock", [], "s name"),
    # curves and names
    ("/vamen/morph", [1, 4.0, "cubic"], "unknown curve 'cubic'"),
    ("/vamen/preset/save", [""], "empty"),
    ("/vamen/preset/save", ["a/b"], "path separators"),
    ("/vamen/preset/save", ["..\\x"], "path separators"),
    ("/vamen/preset/save", ["x" * 65], "at most 64"),
    ("/vamen/preset/save", ["bell\x07"], "control characters"),
    ("/vamen/preset/load", ["a\nb"], "control characters"),
]


@pytest.mark.parametrize("address, args, needle", BAD, ids=[f"{a} {str(b)[:30]}" for a, b, _ in BAD])
def test_bad(address, args, needle):
    with pytest.raises(BadMessage) as info:
        parse(address, args, SRC, None, DIM)
    assert info.value.address == address
    assert needle in info.value.message
    assert "\n" not in info.value.message and len(info.value.message) < 200


def test_latent_dim_bounds_lengths_and_indices():
    assert parse("/vamen/latent", [0.0] * 8, None, None, 8)
    with pytest.raises(BadMessage, match="at most 8"):
        parse("/vamen/latent", [0.0] * 9, None, None, 8)
    with pytest.raises(BadMessage, match="0..7"):
        parse("/vamen/latent/8", [0.0], None, None, 8)


# -- /dirt/play ---------------------------------------------------------------


def dirt(*pairs):
    return parse("/dirt/play", list(pairs), SRC, AT, DIM)


def test_dirt_ignores_other_sounds():
    assert dirt("s", "bd", "cps", 0.5, "z0", 1.0) == []
    assert dirt("cps", 0.5, "cycle", 3.0) == []


def test_dirt_full_event():
    cmds = dirt("_id_", "1", "s", "vamen", "cps", 0.5625, "cycle", 12.0, "delta", 1.77, "orbit", 0,
                "z3", 1.5, "z0", -1.0, "walk", 0.3, "walkrate", 2.0, "seed", 7,
                "preset", "verse", "morph", 4.0, "n", 3.0, "gain", 1.2)
    meta = {"source": SRC, "at": AT}
    assert cmds == [
        c.Tempo(135.0, **meta),
        c.PresetLoad("verse", 4.0, **meta),
        c.Morph(c.Nth(3), 4.0, **meta),  # n: the third anchor, wrapping as SuperDirt's n does
        c.SetCoord(0, -1.0, **meta),
        c.SetCoord(3, 1.5, **meta),
        c.Walk(0.3, 2.0, 7, **meta),
    ]


def test_dirt_anchor_spread_and_cps_assumption():
    assert dirt("s", "vamen", "cps", 1.0) == [c.Tempo(240.0, source=SRC, at=AT)]  # 1 cycle = 1 bar of 4
    assert dirt("s", "vamen", "anchor", 2.0) == [c.Anchor(2, source=SRC, at=AT)]
    assert dirt("s", "vamen", "anchor", "amen", "morph", 8.0) == [c.Morph("amen", 8.0, source=SRC, at=AT)]
    assert dirt("s", "vamen", "spread", 0.5) == [c.Random(0.5, None, source=SRC, at=AT)]
    assert dirt("s", "vamen", "morph", 4.0) == []  # nothing to morph to


def test_dirt_sample_events_strike_the_bar():
    meta = {"source": SRC, "at": AT}
    # Tidal's slice 16 "3": begin and end of the sixteenth
    assert dirt("s", "vamen", "cps", 0.5, "begin", 0.1875, "end", 0.25, "delta", 0.5) == [
        c.Tempo(120.0, **meta), c.ChopHit(0.1875, 0.25, **meta)]
    # speed and cut, "vamen:2" is n 2 (an anchor), legato is delta * legato seconds in beats
    cmds = dirt("s", "vamen:2", "cps", 0.5, "speed", -1.0, "cut", 1, "legato", 0.5, "delta", 0.5)
    assert cmds[1] == c.Anchor(c.Nth(2), **meta)
    assert cmds[2] == c.ChopHit(0.0, 1.0, -1.0, 0.5 * 0.5 * 0.5 * 4, 1, **meta)
    # splice's unit "c": one bar is one cycle, so the speed is the rate
    assert dirt("s", "vamen", "speed", 2.0, "unit", "c")[-1] == c.ChopHit(0.0, 1.0, 2.0, **meta)
    # without a sample key an event only steers: the plain loop plays on
    assert dirt("s", "vamen", "z1", 0.5) == [c.SetCoord(1, 0.5, **meta)]


@pytest.mark.parametrize("pairs, needle", [
    (("s", "vamen", "begin", 0.5, "end", 0.25), "begin (0.5) must not be after end (0.25)"),
    (("s", "vamen", "begin", NAN), "finite"),
    (("s", "vamen", "end", "x"), "end must be a number"),
    (("s", "vamen", "speed", 1e9), "speed must be within"),
    (("s", "vamen", "unit", "s"), "unit must be"),
    (("s", "vamen", "legato", 1.0), "need cps"),
    (("s", "vamen", "cps", 0.5, "legato", 1.0), "legato needs delta"),
    (("s", "vamen", "cps", 0.5, "sustain", -1.0), "above 0"),
    (("s", "vamen:x"), "must be a sample number"),
    (("s", "vamen", "n", -1.0), "n must be 0 or more"),
    (("s", "vamen", "z16", 1.0), "z16 must be within 0..15"),
    (("s", "vamen", "z1", "x"), "z1 must be a number"),
    (("s", "vamen", "z1", NAN), "finite"),
    (("s", "vamen", "cps", 5.0), "cps * 240"),
    (("s", "vamen", "walk", -1.0), "walk must be within"),
    (("s", "vamen", "preset", "a/b"), "path separators"),
    (("s", "vamen", "morph", -1.0), "morph must be >= 0"),
    (("s", "vamen", "orbit"), "odd number"),
    ((1.0, "vamen"), "key 0 must be a string"),
])
def test_dirt_bad(pairs, needle):
    with pytest.raises(BadMessage) as info:
        dirt(*pairs)
    assert info.value.address == "/dirt/play"
    assert needle in info.value.message
