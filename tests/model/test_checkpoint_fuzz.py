"""Any checkpoint file at all: a model, or one sentence saying why not.

Property-based (hypothesis), through the real loader (``LoopModel.load``,
which ``vamen serve --model`` uses): a small valid checkpoint's bytes cut
short, bits flipped, spans overwritten; and its contents rewritten before
saving: keys dropped or added, values of the wrong type, config figures out
of any range (nan, a million channels), weights of the wrong shape or type,
tensors that declare a huge size over a tiny storage, anchors that do not
match. The outcome is a :class:`LoopModel` or a :class:`CheckpointError`
of one line; any other exception, or a model built from nonsense, fails.
"""
import io

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import examples, one_line
from vamen.model.config import LoopConfig
from vamen.model.errors import CheckpointError
from vamen.model.loopmodel import LoopModel
from vamen.model.vae import LoopVAE

SMALL = LoopConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=16, channels=8, latent_dim=8)


class Valid(tuple):
    def __repr__(self):  # a failing example names it; its 60 kB of bytes would bury the report
        return "<a small valid checkpoint>"


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    """A small checkpoint's bytes and its contents as torch.load gives them back."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ck") / "small.pt"
    LoopModel(SMALL, LoopVAE(SMALL), ["amen", "think"], torch.zeros(2, SMALL.latent_dim)).save(path)
    return Valid((path.read_bytes(), torch.load(path, weights_only=True)))


def load(path):
    """The model, or None where the loader refused in one line."""
    try:
        return LoopModel.load(path, "cpu")
    except CheckpointError as exc:
        one_line(exc)
        return None


@st.composite
def damaged_bytes(draw, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["cut", "flip", "overwrite", "zero"]))
        at = draw(st.integers(0, len(out) - 1)) if out else 0
        if how == "cut":
            del out[at:]
        elif how == "flip" and out:
            for _ in range(draw(st.integers(1, 16))):
                i = draw(st.integers(0, len(out) - 1))
                out[i] ^= 1 << draw(st.integers(0, 7))
        elif how == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=64))
            out[at:at + len(chunk)] = chunk
        else:
            out[at:at + draw(st.integers(1, 512))] = bytes(min(512, len(out) - at))
    return bytes(out)


@examples(150)
@given(st.data())
def test_damaged_checkpoint_bytes_load_or_are_one_line(valid, tmp_path_factory, data):
    raw, _ = valid
    path = tmp_path_factory.mktemp("bad") / "model.pt"
    path.write_bytes(data.draw(damaged_bytes(raw)))
    load(path)


tensors = st.one_of(
    st.tuples(st.lists(st.integers(0, 5), max_size=3),
              st.sampled_from([torch.float32, torch.float16, torch.int64, torch.bool, torch.uint8]))
    .map(lambda t: torch.zeros(t[0], dtype=t[1])),
    st.sampled_from([float("nan"), float("inf")]).map(lambda v: torch.full((2, 8), v)),
    st.integers(10**6, 10**12).map(lambda n: torch.zeros(1).expand(n)),  # a huge size, one number stored
)
junk = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(), st.text(max_size=8),
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
                 tensors)
config_values = st.one_of(junk, st.sampled_from([0, -1, 8, 64, 1 << 20, 10**6, 10**12, float("nan"),
                                                 float("inf"), 2.5, "linear", "mel"]))


@st.composite
def rewritten(draw, payload: dict) -> dict:
    """The valid contents with a few parts replaced, removed or added."""
    out = {**payload, "config": dict(payload["config"]), "weights": dict(payload["weights"]),
           "anchors": dict(payload["anchors"])}
    for _ in range(draw(st.integers(1, 4))):
        part = draw(st.sampled_from(["top", "config", "weights", "anchors"]))
        table = out if part == "top" or not isinstance(out.get(part), dict) else out[part]
        keys = sorted(table) or ["x"]
        key = draw(st.one_of(st.sampled_from(keys), st.text(max_size=6)))
        how = draw(st.sampled_from(["drop", "set"]))
        if how == "drop":
            table.pop(key, None)
        elif part == "config":
            table[key] = draw(config_values)
        elif part == "weights":
            table[key] = draw(tensors)
        else:
            table[key] = draw(junk)
    return out


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # a failing example prints weights
@examples(150)
@given(st.data())
def test_rewritten_checkpoints_load_or_are_one_line(valid, tmp_path_factory, data):
    _, payload = valid
    contents = data.draw(rewritten(payload))
    path = tmp_path_factory.mktemp("bad") / "model.pt"
    buffer = io.BytesIO()
    torch.save(contents, buffer)
    path.write_bytes(buffer.getvalue())
    model = load(path)
    if model is not None:  # it loaded: then it is a model that can play
        assert model.config.latent_dim == model.anchor_latents.shape[1]
        assert torch.isfinite(model.anchor_latents).all()


@pytest.mark.parametrize("key, value, words", [
    ("channels", 10**6, "channels must be 8..1024"),
    ("sample_rate", 10**9, "sample_rate must be 8000..192000"),
    ("hop_length", 1, "frames is too long"),
    ("db_min", float("nan"), "db_min must be a finite number"),
    ("n_fft", float("inf"), "config key n_fft is not a whole number"),
])
def test_a_config_that_would_build_a_monster_is_refused_before_it_is_built(valid, tmp_path, key, value, words):
    _, payload = valid
    path = tmp_path / "monster.pt"
    torch.save({**payload, "config": {**payload["config"], key: value}}, path)
    with pytest.raises(CheckpointError, match="bad config") as refused:
        LoopModel.load(path, "cpu")
    assert words in one_line(refused.value)
