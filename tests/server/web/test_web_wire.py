"""The page's wire, map plane and spectrograms, without sockets: fast and exact."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vamen.server.core import commands as c
from vamen.server.sources.osc import BadMessage, parse
from vamen.server.web import wire
from vamen.server.web.plane import principal_plane
from vamen.server.web.spectrogram import HEIGHT, WIDTH, picture, png

PAGE = ("page 127.0.0.1", 50000)


def test_a_page_message_becomes_the_commands_osc_would_make():
    got = wire.read_message('{"address": "/vamen/morph", "args": ["verse", 4]}', PAGE, 8)
    assert got == parse("/vamen/morph", ["verse", 4], PAGE, None, 8)
    assert isinstance(got[0], c.Morph) and got[0].source == PAGE


@pytest.mark.parametrize("text, said", [
    ('{"address": "/vamen/tempo", "args": [NaN]}', "tempo must be a finite number, got nan"),
    ('{"address": "/vamen/tempo", "args": [Infinity]}', "tempo must be a finite number, got inf"),
    ("{", "not JSON"),
    ("[1, 2]", 'expected {"address"'),
    ('{"address": "/vamen/tempo", "args": 120}', "args must be a list"),
    ('{"address": "/vamen/latent", "args": [[1, 2]]}', "args must be numbers and strings"),
    ('{"address": "/vamen/tempo", "args": [null]}', "args must be numbers and strings"),
    ('{"address": "/vamen/tempi", "args": [120]}', "unknown address; did you mean /vamen/tempo?"),
    ('{"address": "/vamen/tempo", "args": [1000]}', "tempo must be within"),
    (json.dumps({"address": "/vamen/latent", "args": [0.5] * 5000}), "message too long"),
    (b'{"address": "/vamen/play"}', "send JSON text, not binary frames"),
])
def test_bad_page_messages_are_refused_with_the_osc_sentence(text, said):
    with pytest.raises(BadMessage) as refused:
        wire.read_message(text, PAGE, 8)
    assert said in refused.value.message


def test_deeply_nested_json_is_refused_not_a_crash():
    with pytest.raises(BadMessage):
        wire.read_message("[" * 5000 + "]" * 5000, PAGE, 8)


def test_state_fields_split_the_latent_and_keep_the_rest():
    fields = wire.state_fields(["latent", "0.5000,-1.2500", "tempo", 120.0, "chop", "", "x", math.nan])
    assert fields == {"latent": [0.5, -1.25], "tempo": 120.0, "chop": "", "x": None}


def test_an_error_reply_becomes_an_error_for_the_page():
    assert wire.outgoing("/vamen/error", ["/vamen/preset/load", "unknown preset 'x'"]) == {
        "type": "error", "address": "/vamen/preset/load", "message": "unknown preset 'x'"}
    assert wire.outgoing("/vamen/pong", []) == {"type": "reply", "address": "/vamen/pong", "args": []}


def test_the_plane_spreads_the_anchors_and_a_point_moves_onto_any_place(rng):
    spread = np.array([3.0, 2.0, 0.3, 0.2, 0.1, 0.1])
    anchors = rng.standard_normal((40, 6)) * spread + 0.5
    origin, axes = principal_plane(anchors, 6)
    assert np.allclose(axes @ axes.T, np.eye(2), atol=1e-9)
    assert abs(axes[0, 0]) > 0.9 and abs(axes[1, 1]) > 0.9  # the two widest coordinates
    z = rng.standard_normal(6)
    place = np.array([1.5, -0.7])
    moved = z + axes.T @ (place - axes @ (z - origin))  # what the page sends
    assert np.allclose(axes @ (moved - origin), place)
    assert np.allclose((np.eye(6) - axes.T @ axes) @ (moved - z), 0)


def test_too_few_anchors_give_the_first_two_coordinates():
    origin, axes = principal_plane(np.zeros((2, 5)), 5)
    assert np.allclose(axes, np.eye(2, 5)) and np.allclose(origin, 0)


def test_the_spectrogram_shows_where_the_energy_is():
    sr = 24000
    t = np.arange(sr * 2) / sr
    low = np.sin(2 * np.pi * 100 * t).astype(np.float32)
    high = np.sin(2 * np.pi * 6000 * t).astype(np.float32)
    a, b = picture(low, sr), picture(high, sr)
    assert a.shape == (HEIGHT, WIDTH, 3) and a.dtype == np.uint8
    brightness = lambda img: img.sum(axis=(1, 2))  # per row, top row = highest band
    assert np.argmax(brightness(a)) > np.argmax(brightness(b))  # the low tone sits lower
    data = png(a)
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) < 60_000
