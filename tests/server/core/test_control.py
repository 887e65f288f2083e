"""The control state, driven directly: no threads, no sockets, no clock."""
import math

import numpy as np
import pytest

from vamen.server.core import commands as c
from vamen.server.core import motion
from vamen.server.core.control import Change, Control, WalkSettings
from vamen.server.ops.presets import PresetStore

DIM = 16
SRC = ("127.0.0.1", 57120)


class Replies(list):
    def __call__(self, address, args, to):
        self.append((address, list(args), to))

    def errors(self):
        return [r for r in self if r[0] == "/vamen/error"]


@pytest.fixture
def anchors():
    rng = np.random.default_rng(7)
    return {name: rng.standard_normal(DIM) for name in ("amen", "think", "apache")}


@pytest.fixture
def make(tmp_path, anchors):
    def make(**kw):
        replies = Replies()
        kw.setdefault("presets", PresetStore(tmp_path / "presets.json"))
        ctl = Control(DIM, anchors, kw.pop("presets"), reply=replies, seed=1, **kw)
        return ctl, replies

    return make


def at(ctl, beat):
    return ctl.trajectory.at(beat)


# -- landing ---------------------------------------------------------------------


@pytest.mark.parametrize("quantize, now, block, expected", [
    (0, 3.3, 0.25, 3.55),
    (0, 0.0, 0.125, 0.125),
    (1, 3.3, 0.25, 4.0),
    (1, 4.0, 0.25, 4.0),
    (1, 3.9999999999, 0.25, 4.0),  # float drift never skips a beat
    (1, 4.000001, 0.25, 5.0),
    (4, 0.0, 0.25, 0.0),
    (4, 0.5, 0.25, 4.0),
    (4, 4.1, 0.25, 8.0),
    (0.5, 1.2, 0.25, 1.5),
])
def test_changes_land_on_the_quantisation_grid(make, quantize, now, block, expected):
    ctl, _ = make(quantize=quantize)
    change = ctl.apply(c.SetCoord(2, 3.0), now, block)
    assert isinstance(change, Change) and change.changed == {"trajectory"}
    assert change.from_beat == pytest.approx(expected)
    if expected - 1e-3 >= now:
        assert at(ctl, expected - 1e-3)[2] == 0.0  # old point until the landing beat
    assert at(ctl, expected)[2] == 3.0
    assert change.trajectory is ctl.trajectory


def test_quantize_command_changes_the_grid(make):
    ctl, _ = make()
    assert ctl.apply(c.Quantize(4.0), 1.0, 0.25) is None
    assert ctl.apply(c.Anchor(0), 1.0, 0.25).from_beat == 4.0


def test_time_tagged_commands_land_at_their_beat(make):
    ctl, _ = make(quantize=4)
    assert ctl.apply(c.SetCoord(0, 1.0), 1.0, 0.25, at_beat=1.37).from_beat == 1.37
    late = ctl.apply(c.SetCoord(0, 2.0), 5.0, 0.25, at_beat=4.5)
    assert late.from_beat == 8.0  # late: quantised like any other change


# -- moving --------------------------------------------------------------------------


def test_set_latent_keeps_the_other_coordinates(make):
    ctl, _ = make()
    ctl.apply(c.SetCoord(5, -1.0), 0.0, 0.25)
    ctl.apply(c.SetLatent((1.0, 2.0)), 0.0, 0.25)
    expected = np.zeros(DIM)
    expected[[0, 1, 5]] = [1.0, 2.0, -1.0]
    np.testing.assert_array_equal(at(ctl, 1.0), expected)
    np.testing.assert_array_equal(ctl.target, expected)


def test_glide_and_nudge(make):
    ctl, _ = make()
    ctl.apply(c.Glide(2.0), 0.0, 0.25)
    ctl.apply(c.SetCoord(1, 2.0), 0.0, 0.25)
    assert at(ctl, 1.0)[1] == pytest.approx(1.0)
    assert at(ctl, 2.0)[1] == 2.0
    ctl.apply(c.Nudge(1, 0.5), 3.0, 0.25)
    ctl.apply(c.Nudge(1, 0.5), 3.0, 0.25)  # endless encoder: nudges add up, even mid-glide
    assert ctl.target[1] == 3.0
    assert at(ctl, 5.0)[1] == pytest.approx(3.0)
    ctl.apply(c.Nudge(1, 100.0), 6.0, 0.25)
    assert ctl.target[1] == motion.LIMIT


def test_morph_interp_anchor_random(make, anchors):
    ctl, _ = make()
    ctl.apply(c.Morph("think", 8.0, "slerp"), 0.5, 0.25)
    np.testing.assert_array_equal(at(ctl, 1.0), np.zeros(DIM, np.float32))
    np.testing.assert_allclose(at(ctl, 9.0), anchors["think"], rtol=1e-6)
    ctl.apply(c.Interp(0, "apache", 0.25), 10.0, 0.25)
    np.testing.assert_allclose(at(ctl, 10.0), anchors["amen"] + 0.25 * (anchors["apache"] - anchors["amen"]),
                               atol=1e-5)
    ctl.apply(c.Anchor(2), 11.0, 0.25)
    np.testing.assert_allclose(at(ctl, 11.0), anchors["apache"], rtol=1e-6)
    ctl.apply(c.Random(0.5, 42), 12.0, 0.25)
    np.testing.assert_array_equal(at(ctl, 12.0), motion.prior_point(DIM, 0.5, 42))
    ctl.apply(c.Random(), 13.0, 0.25)
    first = at(ctl, 13.0)
    ctl.apply(c.Anchor("random"), 14.0, 0.25)
    assert not np.array_equal(first, at(ctl, 14.0))


def test_a_model_with_a_prior_starts_at_its_centre_and_draws_random_points_around_it(make):
    """Where the training loops lie, not about zero: a random jump sounds like the loops it learnt."""
    mean, std = np.linspace(-1.0, 1.0, DIM), np.linspace(0.2, 0.8, DIM)
    ctl, replies = make(prior=(mean, std))
    np.testing.assert_allclose(at(ctl, 0.0), mean, atol=1e-6)
    draws = []
    for seed in range(400):
        ctl.apply(c.Random(1.0, seed), float(seed), 0.25)
        draws.append(at(ctl, float(seed) + 0.5))
    draws = np.array(draws)
    np.testing.assert_allclose(draws.mean(0), mean, atol=4 * std.max() / np.sqrt(len(draws)))
    np.testing.assert_allclose(draws.std(0), std, rtol=0.2)
    ctl.apply(c.Random(0.0, 1), 500.0, 0.25)  # spread 0: the centre itself
    np.testing.assert_allclose(at(ctl, 500.5), mean, atol=1e-6)
    assert replies.errors() == []


def test_walk_circles_whatever_point_is_set(make):
    ctl, _ = make()
    ctl.apply(c.Walk(0.5, 1.0, 3), 0.0, 0.25)
    assert ctl.walk == WalkSettings(0.5, 1.0, 3)
    offset_before = at(ctl, 10.0) - ctl.target
    ctl.apply(c.SetCoord(0, 1.0), 6.0, 0.25)
    offset_after = at(ctl, 10.0) - ctl.target
    np.testing.assert_allclose(offset_before, offset_after, atol=1e-5)  # same noise, new centre
    assert np.abs(offset_after).max() > 0.05
    # depth 0 fades the walk out over a bar, then it is gone
    ctl.apply(c.Walk(0.0), 12.0, 0.25)
    assert np.abs(at(ctl, 13.0) - ctl.target).max() > 0
    np.testing.assert_array_equal(at(ctl, 16.0), ctl.target)
    ctl.apply(c.SetCoord(1, 1.0), 20.0, 0.25)
    np.testing.assert_array_equal(at(ctl, 21.0), ctl.target)


def test_walk_start_and_rate_change_are_continuous(make):
    ctl, _ = make()
    ctl.apply(c.Walk(1.0, 1.0, 3), 0.0, 0.25)
    for beat in (0.0, 4.0):
        np.testing.assert_allclose(at(ctl, beat - 1e-6), at(ctl, beat), atol=1e-4)
    ctl.apply(c.Walk(1.0, 4.0), 6.5, 0.25)  # new rate at beat 7, same seed
    np.testing.assert_allclose(at(ctl, 7.0 - 1e-6), at(ctl, 7.0), atol=1e-4)


def test_trajectory_stays_small_over_a_long_performance(make):
    ctl, _ = make(quantize=4)
    ctl.apply(c.Walk(0.3), 0.0, 0.25)
    for i in range(2000):  # a knob flood: many values before each bar line
        ctl.apply(c.SetCoord(i % DIM, math.sin(i)), i / 50, 0.25)

    def size(t):
        kids = [getattr(t, k) for k in ("before", "after", "centre") if hasattr(t, k)]
        return 1 + sum(size(k) for k in kids)

    assert size(ctl.trajectory) < 12


# -- settings ------------------------------------------------------------------------


def test_tempo_gain_quality_transport(make):
    ctl, _ = make()
    change = ctl.apply(c.Tempo(174.0), 1.5, 0.25)
    assert change.changed == {"tempo"} and change.tempo == 174.0 and change.from_beat == 2.0
    assert ctl.apply(c.Tempo(174.0), 2.5, 0.25) is None  # Tidal repeats cps every event
    change = ctl.apply(c.Gain(0.5), 1.5, 0.25)
    assert change.changed == {"gain"} and change.gain == 0.5 and change.from_beat == 1.5
    change = ctl.apply(c.Quality(8), 1.5, 0.25)
    assert change.changed == {"quality"} and change.quality == 8
    change = ctl.apply(c.Stop(), 1.5, 0.25)
    assert change.changed == {"playing"} and change.playing is False and not ctl.playing
    assert ctl.apply(c.Stop(), 1.5, 0.25) is None
    assert ctl.apply(c.Play(), 1.5, 0.25).playing is True
    assert ctl.apply(c.Glide(3.0), 1.5, 0.25) is None and ctl.glide == 3.0


# -- bad input changes nothing ------------------------------------------------------------


def failing_encode(path):
    raise RuntimeError(f"{path}: not an audio file\n(traceback details)")


BAD = [
    (c.PresetLoad("nope", source=SRC), "unknown preset 'nope'"),
    (c.Anchor(3, source=SRC), "no anchor 3"),
    (c.Anchor(-1, source=SRC), "no anchor -1"),
    (c.Anchor("nowhere", source=SRC), "unknown point 'nowhere'"),
    (c.Morph("nowhere", 4.0, source=SRC), "unknown point"),
    (c.Morph(0, 4.0, "cubic", source=SRC), "curve"),
    (c.Interp("random", "nowhere", 0.5, source=SRC), "unknown point"),  # no random draw either
    (c.Interp(0, 1, 1.5, source=SRC), "fraction"),
    (c.SetCoord(DIM, 1.0, source=SRC), "coordinate index"),
    (c.Nudge(-1, 1.0, source=SRC), "coordinate index"),
    (c.SetLatent((1.0, math.nan), source=SRC), "finite"),
    (c.SetLatent(tuple([0.0] * (DIM + 1)), source=SRC), "expects 1 to 16"),
    (c.Random(-1.0, source=SRC), "spread"),
    (c.Walk(-1.0, source=SRC), "depth"),
    (c.Walk(1.0, math.inf, source=SRC), "finite"),
    (c.Tempo(1000.0, source=SRC), "tempo"),
    (c.Gain(3.0, source=SRC), "gain"),
    (c.Quality(0, source=SRC), "iterations"),
    (c.Quantize(-1.0, source=SRC), "quantize"),
    (c.Glide(-1.0, source=SRC), "glide"),
    (c.Encode("/x/loop.wav", source=SRC), "encoding is not available"),
    (c.PresetSave("random", source=SRC), "reserved"),
    (c.PresetSave("a/b", source=SRC), "path separators"),
    (c.Subscribe(), "no port given"),
]


@pytest.mark.parametrize("cmd, needle", BAD, ids=[repr(b[0])[:50] for b in BAD])
def test_bad_input_changes_nothing(make, cmd, needle):
    ctl, replies = make()
    ctl.apply(c.Walk(0.4, 1.0, 2), 0.0, 0.25)
    ctl.apply(c.Subscribe(9001, source=SRC), 0.0, 0.25)
    ctl.apply(c.PresetSave("kept", source=SRC), 0.0, 0.25)
    replies.clear()
    before = ctl.snapshot()
    assert ctl.apply(cmd, 2.0, 0.25) is None
    assert ctl.snapshot() == before
    assert replies == [("/vamen/error", [cmd.address, replies[0][1][1]], cmd.source)]
    assert needle in replies[0][1][1]


def test_encode_failure_changes_nothing(make):
    ctl, replies = make(encode=failing_encode)
    before = ctl.snapshot()
    assert ctl.apply(c.Encode("/x/loop.wav", source=SRC), 0.0, 0.25) is None
    assert ctl.snapshot() == before
    message = "cannot encode /x/loop.wav: /x/loop.wav: not an audio file"  # first line only
    assert replies == [("/vamen/error", ["/vamen/encode", message], SRC)]


@pytest.mark.parametrize("result", [np.zeros(DIM + 1), np.full(DIM, np.nan), "junk"])
def test_encode_bad_result_changes_nothing(make, result):
    ctl, replies = make(encode=lambda path: result)
    before = ctl.snapshot()
    assert ctl.apply(c.Encode("/x/loop.wav", source=SRC), 0.0, 0.25) is None
    assert ctl.snapshot() == before and len(replies.errors()) == 1


def test_encode_goes_there_and_keeps_a_preset(make):
    point = np.linspace(-1, 1, DIM)
    ctl, replies = make(encode=lambda path: point)
    change = ctl.apply(c.Encode("/loops/Funky Drummer.wav", source=SRC), 0.0, 0.25)
    assert change is not None and replies == [("/vamen/encoded", ["Funky Drummer"], SRC)]
    np.testing.assert_allclose(at(ctl, 0.0), point, rtol=1e-6)
    np.testing.assert_allclose(ctl.presets["Funky Drummer"], point, rtol=1e-6)


def test_failed_preset_write_changes_nothing(make, monkeypatch):
    ctl, replies = make(encode=lambda path: np.ones(DIM))

    def full_disk(name, values):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ctl.presets, "save", full_disk)
    before = ctl.snapshot()
    assert ctl.apply(c.Encode("/x/a.wav", source=SRC), 0.0, 0.25) is None
    assert ctl.apply(c.PresetSave("b", source=SRC), 0.0, 0.25) is None
    assert ctl.snapshot() == before
    assert ["No space left" in e[1][1] for e in replies.errors()] == [True, True]


def test_preset_of_another_latent_size_is_refused(make, tmp_path):
    store = PresetStore(tmp_path / "presets.json")
    store.save("old", [0.0] * 8)
    ctl, replies = make(presets=store)
    before = ctl.snapshot()
    assert ctl.apply(c.PresetLoad("old", source=SRC), 0.0, 0.25) is None
    assert ctl.snapshot() == before and "8 values" in replies.errors()[0][1][1]


# -- presets across a restart --------------------------------------------------------


def test_preset_save_load_survives_a_restart(make, tmp_path):
    ctl, _ = make()
    ctl.apply(c.SetLatent(tuple(np.linspace(-2, 2, DIM))), 0.0, 0.25)
    ctl.apply(c.PresetSave("verse", source=SRC), 1.0, 0.25)
    heard = at(ctl, 1.0)

    ctl2, replies = make(presets=PresetStore(tmp_path / "presets.json"))
    ctl2.apply(c.PresetList(source=SRC), 0.0, 0.25)
    assert replies[-1] == ("/vamen/preset/list", ["verse"], SRC)
    change = ctl2.apply(c.PresetLoad("verse", 4.0, source=SRC), 0.5, 0.25)
    assert change.from_beat == 1.0
    np.testing.assert_array_equal(at(ctl2, 0.5), np.zeros(DIM))
    np.testing.assert_allclose(at(ctl2, 5.0), heard, rtol=1e-6)
    assert 0 < np.abs(at(ctl2, 3.0)).max() < np.abs(heard).max()  # morphing on the way


def test_anchor_names_load_like_presets(make, anchors):
    ctl, _ = make()
    ctl.apply(c.PresetLoad("amen"), 0.0, 0.25)
    np.testing.assert_allclose(at(ctl, 0.0), anchors["amen"], rtol=1e-6)


# -- talking back -------------------------------------------------------------------------


def test_state_reply(make):
    ctl, replies = make(extra_state=lambda: {"underruns": 3, "sink": "file", "tempo": -1, "ok": True})
    ctl.apply(c.SetCoord(0, 1.5), 0.0, 0.25)
    ctl.apply(c.State(source=SRC), 13.5, 0.25)
    address, args, to = replies[-1]
    assert address == "/vamen/state" and to == SRC
    state = dict(zip(args[::2], args[1::2]))
    assert list(state)[:18] == ["latent", "latent_dim", "tempo", "quantize", "playing", "gain", "quality",
                                "glide", "walk_depth", "walk_rate", "walk_seed", "bar", "beat", "anchors",
                                "presets", "subscribers", "midi_learn", "chop"]
    latent = [float(v) for v in state["latent"].split(",")]
    assert len(latent) == DIM and latent[0] == 1.5
    assert (state["bar"], state["beat"], state["tempo"], state["playing"]) == (3, 1.5, 120.0, 1)
    assert state["underruns"] == 3 and state["sink"] == "file" and state["ok"] == 1
    assert all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in args)


def test_extra_state_failure_does_not_break_state(make):
    ctl, replies = make(extra_state=lambda: 1 / 0)
    ctl.apply(c.State(source=SRC), 0.0, 0.25)
    assert replies[-1][0] == "/vamen/state"


def test_subscribe_feedback_unsubscribe(make):
    ctl, replies = make()
    ctl.apply(c.Subscribe(source=SRC), 0.0, 0.25)
    ctl.apply(c.Subscribe(9000, "10.0.0.2", source=SRC), 0.0, 0.25)
    ctl.apply(c.Subscribe(9000, source=SRC), 0.0, 0.25)
    ctl.apply(c.Subscribe(9000, source=SRC), 0.0, 0.25)  # twice is once
    assert ctl.subscribers == (SRC, ("10.0.0.2", 9000), ("127.0.0.1", 9000))
    ctl.apply(c.SetCoord(0, 2.0), 0.0, 0.25)
    assert ctl.feedback(9.5) == [("/vamen/latent", at(ctl, 9.5).tolist()), ("/vamen/beat", [2, 1.5])]
    replies.clear()
    ctl.send_feedback(9.5)
    assert len(replies) == 6 and {r[2] for r in replies} == set(ctl.subscribers)
    ctl.apply(c.Unsubscribe(source=SRC), 0.0, 0.25)
    ctl.apply(c.Unsubscribe(9000, "10.0.0.2", source=SRC), 0.0, 0.25)
    ctl.apply(c.Unsubscribe(1234, source=SRC), 0.0, 0.25)  # not subscribed: fine
    assert ctl.subscribers == (("127.0.0.1", 9000),)


def test_too_many_subscribers_refused(make):
    from vamen.server.core.control import MAX_SUBSCRIBERS

    ctl, replies = make()
    for port in range(1000, 1000 + MAX_SUBSCRIBERS):
        ctl.apply(c.Subscribe(port, source=SRC), 0.0, 0.25)
    ctl.apply(c.Subscribe(2000, source=SRC), 0.0, 0.25)
    assert len(ctl.subscribers) == MAX_SUBSCRIBERS and "too many" in replies.errors()[0][1][1]


def test_ping_midi_learn_and_unknown_commands(make):
    ctl, replies = make()
    ctl.apply(c.Ping(source=SRC), 0.0, 0.25)
    assert replies[-1] == ("/vamen/pong", [], SRC)
    ctl.apply(c.MidiLearn("latent/3"), 0.0, 0.25)
    assert ctl.midi_learn_target == "latent/3"
    assert ctl.take_midi_learn() == "latent/3" and ctl.midi_learn_target is None
    assert ctl.apply(c.Command(source=SRC), 0.0, 0.25) is None
    assert "not a control command" in replies.errors()[-1][1][1]


def test_chops_land_on_the_grid_and_details_need_a_pattern(make):
    ctl, replies = make()
    assert ctl.apply(c.ChopReverse((1,), source=SRC), 0.5, 0.25) is None
    assert replies[-1][1] == ["/vamen/chop/reverse", "no chop pattern is playing: send /vamen/chop "
                                                     "with the steps first"]
    change = ctl.apply(c.ChopSteps((0, 0, 1, 1)), 0.5, 0.25)
    assert change.from_beat == 1.0 and "chops" in change.changed
    assert change.chops.at(0.9) is None and change.chops.at(1.0).steps == (0, 0, 1, 1)
    before = ctl.snapshot()
    assert ctl.apply(c.ChopRoll(((7, 2),), source=SRC), 1.5, 0.25) is None  # step 7 of 4
    assert "rolled step must be within 0..3" in replies[-1][1][1]
    assert ctl.snapshot() == before
    change = ctl.apply(c.ChopRoll(((3, 2),)), 1.5, 0.25)
    assert change.chops.at(2.0) == ctl.chop and ctl.chop.rolls == ((3, 2),)
    assert ctl.apply(c.ChopSteps(), 2.5, 0.25).chops.at(3.0) is None  # the plain loop again
