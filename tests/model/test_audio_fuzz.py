"""Any audio file at all, for /vamen/encode and vamen train: a latent point, or one sentence.

Property-based (hypothesis), through the real reader and encoder
(``LoopModel.encode_file``, what ``/vamen/encode`` runs): files written by
libsndfile in WAV, FLAC and AIFF with 1 to 8 channels, 8 kHz to 384 kHz,
from no samples to a few bars, holding noise, silence, nan, inf or numbers
far beyond full scale; then the same files with their headers damaged. The
outcome is a finite point of the model's latent size, or an
:class:`AudioFileError` of one line.
"""
import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import examples, one_line
from vamen.model.config import LoopConfig
from vamen.model.errors import AudioFileError
from vamen.model.loopmodel import LoopModel
from vamen.model.vae import LoopVAE

SMALL = LoopConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=16, channels=8, latent_dim=8)
RATES = [8000, 11025, 22050, 44100, 48000, 96000, 192000, 384000]
FORMATS = {"WAV": ["PCM_16", "PCM_24", "FLOAT", "DOUBLE", "PCM_U8"], "FLAC": ["PCM_16", "PCM_24"],
           "AIFF": ["PCM_16", "FLOAT"]}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LoopModel(SMALL, LoopVAE(SMALL), [], torch.zeros(0, SMALL.latent_dim), "cpu")


@st.composite
def recordings(draw):
    """(format, subtype, rate, samples [frames, channels]) for libsndfile to write."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    subtype = draw(st.sampled_from(FORMATS[fmt]))
    rate = draw(st.sampled_from(RATES if fmt != "FLAC" else RATES[:-1]))  # FLAC stops at 655 kHz; all fit
    channels = draw(st.integers(1, 8))
    seconds = draw(st.sampled_from([0.0, 1 / rate, 2 / rate, 0.01, 0.5, 1.2, 2.0, 3.1]))
    frames = int(round(seconds * rate))
    seed = draw(st.integers(0, 2**32 - 1))
    audio = np.random.default_rng(seed).uniform(-0.8, 0.8, (frames, channels)).astype(np.float64)
    kind = draw(st.sampled_from(["noise", "silence", "nan", "inf", "huge", "click"]))
    if kind == "silence":
        audio[:] = 0
    elif kind in ("nan", "inf", "huge") and frames:
        where = draw(st.integers(0, frames - 1))
        audio[where, draw(st.integers(0, channels - 1))] = {"nan": np.nan, "inf": np.inf, "huge": 1e30}[kind]
    elif kind == "click":
        audio[:] = 0
        audio[: min(frames, 8)] = 1.0
    return fmt, subtype, rate, audio


def write(path, recording) -> bool:
    """Write it; False where libsndfile itself refuses (a format that cannot hold it)."""
    fmt, subtype, rate, audio = recording
    try:
        sf.write(str(path), audio, rate, format=fmt, subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError, AssertionError):  # FLAC asserts on a nan
        return False
    return True


def encode(model, path):
    """The file's latent point, or None where the reader refused in one line."""
    try:
        point = model.encode_file(path)
    except AudioFileError as exc:
        one_line(exc)
        return None
    assert point.shape == (model.latent_dim,) and np.isfinite(point).all(), point
    return point


@examples(60)
@given(recordings())
def test_any_recording_encodes_or_is_one_line(model, tmp_path_factory, recording):
    path = tmp_path_factory.mktemp("audio") / "loop.audio"
    if write(path, recording):
        encode(model, path)


@examples(60)
@given(recordings(), st.data())
def test_damaged_headers_encode_or_are_one_line(model, tmp_path_factory, recording, data):
    path = tmp_path_factory.mktemp("audio") / "loop.wav"
    if not write(path, recording):
        return
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        if not raw:
            break
        at = data.draw(st.integers(0, min(len(raw), 96) - 1))  # the header, and where the data begins
        how = data.draw(st.sampled_from(["flip", "byte", "size", "cut"]))
        if how == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "byte":
            raw[at] = data.draw(st.integers(0, 255))
        elif how == "size":  # a chunk size, a rate or a channel count of any value
            raw[at:at + 4] = data.draw(st.integers(0, 2**32 - 1)).to_bytes(4, data.draw(st.sampled_from(["little", "big"])))
        else:
            del raw[at:]
            break
    path.write_bytes(bytes(raw))
    encode(model, path)


@pytest.mark.parametrize("samples, words", [
    (np.zeros((0, 1)), "holds no audio"),
    (np.full((16000, 1), np.nan), "non-finite samples"),
    (np.zeros((16000, 2)), "is silent"),
    (np.full((1, 1), 0.5), "shorter than one bar"),
])
def test_the_plain_cases_say_what_is_wrong(model, tmp_path, samples, words):
    path = tmp_path / "x.wav"
    sf.write(str(path), samples, 8000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match=words):
        model.encode_file(path)
