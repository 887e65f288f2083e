"""The README's and the patches' TOML examples load with the real readers, as written.

A user copies the README's ``vamen.toml`` into a file and runs ``vamen serve``:
every ```toml block is read by the same code ``vamen serve`` reads the file
with (the options, the ``[midi]`` table, the ``[autopilot]`` scenes, checked
against the shipped default model), so the docs cannot drift from the parser.
"""
import re
from pathlib import Path

import pytest

from vamen.server.config import read_config
from vamen.server.midi.mapping import parse_settings
from vamen.server.options import ServeOptions
from vamen.server.sources.scenes import read_flight, resolve

ROOT = Path(__file__).resolve().parents[2]


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```toml\n(.*?)^```", text, re.S | re.M)


def examples():
    for number, block in enumerate(readme_blocks()):
        yield pytest.param(block, id=f"README-toml-{number}")
    for path in sorted((ROOT / "patches").rglob("*.toml")):
        yield pytest.param(path.read_text(), id=str(path.relative_to(ROOT)))


@pytest.fixture(scope="module")
def default_model_anchors():
    """The shipped model's latent size and anchors (what a fresh clone plays)."""
    from vamen.model.loopmodel import LoopModel

    model = LoopModel.load(None, "cpu")
    return model.latent_dim, model.anchors


class NoPresets:
    """A fresh install: no presets saved yet."""

    def __contains__(self, name):
        return False

    def names(self):
        return []


def test_the_readme_has_toml_examples():
    assert len(readme_blocks()) >= 3  # vamen.toml, [midi], [autopilot]


@pytest.mark.parametrize("text", list(examples()))
def test_every_toml_example_loads_with_the_real_readers(tmp_path, text, default_model_anchors):
    import tomllib

    latent_dim, anchors = default_model_anchors
    path = tmp_path / "vamen.toml"
    path.write_text(text)
    values = read_config(path)  # ConfigError (the one line `vamen serve` prints) fails the test
    ServeOptions(**values)
    raw = tomllib.loads(text)
    if "midi" in raw:
        parse_settings(raw["midi"], latent_dim, str(path))
    if "autopilot" in raw:
        resolve(read_flight(raw["autopilot"], str(path)), latent_dim, anchors, NoPresets())
