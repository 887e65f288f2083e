"""Anchors can be listed (CLI and OSC), named with their file's extension, and mistyped names get a hint."""
import json
import subprocess
import sys

import numpy as np
import pytest

from vamen.model.loopmodel import LoopModel
from vamen.server.engine import Engine
from vamen.server.options import ServeOptions
from vamen.server.sources.scenes import read_flight, resolve

from oscclient import Client, message
from waiting import wait_for


@pytest.fixture(scope="module")
def names(tiny_model):
    return list(LoopModel.load(tiny_model, "cpu").anchors)


@pytest.fixture
def server(tiny_model, tmp_path):
    options = ServeOptions(sinks=("file",), record=tmp_path / "rec.wav", osc_port=0, sample_rate=22050,
                           presets=tmp_path / "presets.json", quantize=0.0)
    engine = Engine(options, LoopModel.load(tiny_model, "cpu")).start()
    client = Client(engine.osc)
    yield engine, client
    client.close()
    engine.close()


def vamen(*args):
    return subprocess.run([sys.executable, "-m", "vamen.server.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_vamen_anchors_lists_the_models_anchors(tiny_model, names):
    run = vamen("anchors", "--model", tiny_model, "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["anchors"] == [{"index": i, "name": n} for i, n in enumerate(names)]
    run = vamen("anchors", "--model", tiny_model)
    assert run.returncode == 0 and names[-1] in run.stdout and f"({len(names)} anchors)" in run.stdout
    run = vamen("anchors", "--model", tiny_model.parent / "missing.pt")
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1


def test_anchors_over_osc_by_list_by_file_name_and_with_a_hint(server, names):
    engine, client = server
    assert client.ask(message("/vamen/anchor/list")) == ("/vamen/anchor/list", names)
    target = engine.model.anchors[names[1]]
    client.send(message("/vamen/anchor", names[1] + ".wav"))  # as the training folder shows it

    def landed():
        _, args = client.ask(message("/vamen/state"))
        s = dict(zip(args[::2], args[1::2]))
        return np.allclose([float(v) for v in s["latent"].split(",")], target, atol=1e-3)

    wait_for(landed, 10, "the anchor named with its .wav to land")
    address, args = client.ask(message("/vamen/anchor", names[1][:-1]))  # a letter short
    assert address == "/vamen/error" and f"did you mean {names[1]!r}" in args[1]


class NoPresets:
    def __contains__(self, name):
        return False

    def names(self):
        return []


def test_scenes_take_anchor_file_names_and_hint_at_mistyped_ones(names):
    from vamen.server.core.constants import ConfigError

    flight = read_flight({"scene": [{"name": "visit", "bars": 4, "anchors": [names[0] + ".wav"]}]})
    anchors = {n: np.zeros(8) for n in names}
    assert resolve(flight, 8, anchors, NoPresets()).scenes[0].anchors == (0,)
    flight = read_flight({"scene": [{"name": "visit", "bars": 4, "anchors": [names[0][:-1]]}]})
    with pytest.raises(ConfigError, match=f"did you mean {names[0]!r}"):
        resolve(flight, 8, anchors, NoPresets())
