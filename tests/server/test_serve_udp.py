"""The whole server, threads and all, spoken to over real UDP."""
import math
import time

import numpy as np
import pytest

from vamen.model.loopmodel import LoopModel
from vamen.server.engine import Engine
from vamen.server.options import ServeOptions

from oscclient import Client, bundle, message
from waiting import wait_for

STABLE = ("latent", "latent_dim", "tempo", "quantize", "playing", "gain", "quality", "glide",
          "walk_depth", "walk_rate", "walk_seed", "anchors", "presets", "subscribers")


@pytest.fixture
def server(tiny_model, tmp_path):
    model = LoopModel.load(tiny_model, "cpu")
    options = ServeOptions(sinks=("file",), record=tmp_path / "rec.wav", osc_port=0,
                           sample_rate=22050, presets=tmp_path / "presets.json")
    engine = Engine(options, model).start()
    client = Client(engine.osc)
    yield engine, client
    client.close()
    engine.close()


def state(client) -> dict:
    address, args = client.ask(message("/vamen/state"))
    assert address == "/vamen/state"
    return dict(zip(args[::2], args[1::2]))


def state_when(client, condition, timeout: float = 10.0) -> dict:
    """The state, once ``condition(state)`` holds (a change lands on the next beat or block)."""
    deadline = time.monotonic() + timeout
    while not condition(s := state(client)):
        assert time.monotonic() < deadline, f"the state never got there: {s}"
        time.sleep(0.02)
    return s


def latent_is(value):
    return lambda s: np.allclose([float(v) for v in s["latent"].split(",")], value, atol=1e-3)


def bad_inputs(dim):
    yield message("/vamen/nonsense", 1.0)
    yield message("/vamen/latent", "one", "two")
    yield message("/vamen/latent/3")
    yield message("/vamen/latent/999", 1.0)
    yield message("/vamen/latent", float("nan"))
    yield message("/vamen/latent/0", float("inf"))
    yield message("/vamen/latent", *([0.5] * 10_000))
    yield message("/vamen/nudge", 1)
    yield message("/vamen/gain", 7.0)
    yield message("/vamen/tempo", -3.0)
    yield message("/vamen/quality", 0)
    yield message("/vamen/morph", "nowhere", 4.0)
    yield message("/vamen/morph", 0, 4.0, "zigzag")
    yield message("/vamen/anchor", 10_000)
    yield message("/vamen/preset/load", "never-saved")
    yield message("/vamen/encode", "/no/such/file.wav")
    yield message("/vamen/encode", __file__)  # a text file is not audio
    yield b"\x00\x01garbage that is not OSC"
    yield b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x40short"


def test_bad_input_matrix_changes_nothing_and_server_keeps_answering(server):
    engine, client = server
    client.send(message("/vamen/latent", *([0.7] * engine.model.latent_dim)))
    before = state_when(client, latent_is(0.7))  # landed: nothing of this may still be moving
    for dgram in bad_inputs(engine.model.latent_dim):
        address, args = client.ask(dgram)
        assert address == "/vamen/error", (dgram, address, args)
        assert len(args) == 2 and isinstance(args[1], str) and args[1]
    assert client.ask(message("/vamen/ping")) == ("/vamen/pong", [])
    after = state(client)
    assert {k: after[k] for k in STABLE} == {k: before[k] for k in STABLE}
    assert after["last_error"]  # the last refusal is visible in the state


@pytest.mark.parametrize("dgram, words", [
    (message("/vamen/gain", 3.0), "/vamen/gain: "),  # refused by the parser, on the OSC thread
    (message("/vamen/tempo", 1000.0), "/vamen/tempo: "),
    (message("/vamen/nonsense"), "/vamen/nonsense: "),
    (message("/vamen/anchor", 10_000), "/vamen/anchor: "),  # refused by the control thread
])
def test_last_error_is_the_last_error_sent(server, dgram, words):
    engine, client = server
    client.ask(message("/vamen/preset/load", "never-saved"))  # an older error first
    address, args = client.ask(dgram)
    assert address == "/vamen/error"
    assert state(client)["last_error"] == f"{args[0]}: {args[1]}" and words in args[0] + ": "


def test_state_reports_health(server):
    engine, client = server
    time.sleep(0.3)
    s = state(client)
    for key in ("underruns", "clipped", "late_loops", "render_ms_p50", "render_ms_p99", "queued_loops",
                "uptime", "recording"):
        assert key in s
    assert s["tempo"] == 120.0 and s["playing"] == 1


def test_presets_round_trip_and_list(server):
    engine, client = server
    client.send(message("/vamen/quantize", 0.0))  # land now: a preset stores the point as heard
    client.send(message("/vamen/latent", *([1.0] * engine.model.latent_dim)))
    state_when(client, latent_is(1.0))
    client.send(message("/vamen/preset/save", "verse"))
    assert client.ask(message("/vamen/preset/list")) == ("/vamen/preset/list", ["verse"])
    client.send(message("/vamen/random", 1.0, 3))
    client.send(message("/vamen/preset/load", "verse"))
    state_when(client, latent_is(1.0))


def test_subscribers_get_beats_and_latents(server):
    engine, client = server
    client.send(message("/vamen/subscribe"))
    seen = set()
    deadline = time.time() + 3
    while time.time() < deadline and seen != {"/vamen/beat", "/vamen/latent"}:
        address, _ = client.reply()
        seen.add(address)
    assert seen == {"/vamen/beat", "/vamen/latent"}


def test_future_bundle_lands_later_without_blocking_ping(server):
    engine, client = server
    dim = engine.model.latent_dim
    sent = time.time()
    client.send(bundle(sent + 1.0, message("/vamen/latent", *([2.0] * dim))))
    assert client.ask(message("/vamen/ping")) == ("/vamen/pong", [])
    first = [float(v) for v in state(client)["latent"].split(",")]
    assert not np.allclose(first, 2.0)
    state_when(client, latent_is(2.0), timeout=10.0)
    assert time.time() - sent >= 0.9, "the bundle landed before its time tag"


def test_recording_grows_while_serving(server):
    engine, client = server
    # the first loop renders first, which takes longer on a loaded machine
    first = wait_for(lambda: engine.recorder.frames_written, 10, "the first recorded frames")
    # then it keeps growing, in step with the clock (half a second within five)
    wait_for(lambda: engine.recorder.frames_written > first + 0.5 * 22050, 5,
             "half a second more of recording")
    assert math.isfinite(engine.worker.render_ms()[0])
