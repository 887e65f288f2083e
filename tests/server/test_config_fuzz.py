"""Any vamen.toml at all: the settings ``vamen serve`` would start with, or one line saying why not.

Property-based (hypothesis). Files are written two ways: from vamen's own
keys (options, ``[files]``, ``[midi]`` with knobs and notes, ``[autopilot]``
with scenes and a schedule) given values of any TOML type, in range or not
(nan and inf included); and the README's and the patches' example files,
damaged character by character. Each is read the way ``vamen serve`` reads
it before it starts: the options (:func:`read_config`), the MIDI plan and
the autopilot's scenes checked against a model. The outcome must be
settings or a :class:`ConfigError` of one line; and a number that gets
through is one the command line would take too.
"""
import json
import math
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fuzzing import examples, one_line
from vamen.server.config import ConfigError, read_config
from vamen.server.midi.setup import plan
from vamen.server.options import RULES, ServeOptions, check_setting
from vamen.server.sources.scenes import flight_for, resolve

ROOT = Path(__file__).resolve().parents[2]
LATENT_DIM = 8
ANCHORS = {"amen": [0.5] * LATENT_DIM, "think": [-0.5] * LATENT_DIM}


class NoPresets:
    def __contains__(self, name):
        return False

    def names(self):
        return []


# -- writing TOML -------------------------------------------------------------------------------

def toml(value) -> str:
    """One TOML value, written inline (tables as inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # TOML has no surrogate-pair escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {toml(v)}" for k, v in value.items()) + "}"


def document(table: dict) -> str:
    return "".join(f"{json.dumps(key, ensure_ascii=False)} = {toml(value)}\n" for key, value in table.items())


# -- what to write --------------------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # TOML holds no lone surrogates
numbers = st.one_of(st.integers(-10, 70_000), st.integers(-2**63, 2**63 - 1),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 0.0, -1.0, 1e-9, 0.5, 2.0, 2.0001, 120.0, 400.5, 1e300]))
scalars = st.one_of(numbers, st.booleans(), text, st.sampled_from(
    ["", "gain", "latent/3", "random", "amen", "linear", "22:00", "25:61", "file", "127.0.0.1:57150", "10M"]))
anything = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(text, inner, max_size=3)),
                        max_leaves=8)


def mostly(plausible):
    """Usually a value of the right kind (so the reader gets past the first check), else anything."""
    return st.one_of(plausible, plausible, plausible, anything)


def option_value(rule):
    if rule.kind is bool:
        kind = st.booleans()
    elif rule.kind in (int, float):
        edges = [b for b in (rule.low, rule.high) if b is not None]
        near = st.sampled_from(edges).flatmap(lambda b: st.sampled_from([b, b - 1, b + 1, b * 0.999, b * 1.001]))
        kind = st.one_of(numbers, near).map(lambda v: int(v) if rule.kind is int and math.isfinite(v) else v)
    elif rule.choices is not None:
        kind = st.one_of(st.sampled_from(rule.choices), text)
    else:
        kind = st.one_of(text, st.sampled_from(["10.0.0.0/8", "::1", "x", ".", "10M", "127.0.0.1:57150"]))
    return mostly(st.one_of(kind, st.lists(kind, max_size=3)) if rule.many else kind)


options = st.lists(st.sampled_from([r for r in RULES if r.file_key is not None]), max_size=6, unique=True).flatmap(
    lambda rules: st.fixed_dictionaries({st_key: option_value(r) for r, st_key in
                                         ((r, r.file_key.replace("_", "-")) for r in rules)}))
cc_entry = mostly(st.one_of(
    st.sampled_from(["gain", "latent/3", "latent/99", "walk/depth", "interp/fraction", "tempo", "nope"]),
    st.fixed_dictionaries({"target": st.sampled_from(["gain", "latent/0", "latent/8", "walk/depth",
                                                      "interp/fraction", "nope"])},
                          optional={"min": numbers, "max": numbers, "step": numbers, "channel": numbers,
                                    "curve": st.sampled_from(["linear", "exp", "log", "cube"]),
                                    "mode": st.sampled_from(["absolute", "relative2c", "relative64", "x"]),
                                    "bits": st.sampled_from([7, 14, 8, True]), "a": scalars, "b": scalars})))
note_entry = mostly(st.one_of(
    st.sampled_from(["random", "anchor 12", "anchor amen", "preset/load verse 4", "walk/toggle 1",
                     "walk/toggle 9", "/vamen/tempo 140", "tempo nan", "play", "'unbalanced", "gain 3"]),
    st.fixed_dictionaries({"action": st.sampled_from(["random", "stop", "anchor 1"])},
                          optional={"channel": numbers})))
midi = st.fixed_dictionaries({}, optional={
    "port": mostly(text), "feedback": mostly(text), "channel": mostly(numbers), "takeover": mostly(st.booleans()),
    "cc": mostly(st.dictionaries(st.integers(-1, 130).map(str), cc_entry, max_size=4)),
    "note": mostly(st.dictionaries(st.integers(-1, 130).map(str), note_entry, max_size=4)),
    "button": mostly(st.dictionaries(st.integers(-1, 130).map(str), note_entry, max_size=3))})
names = st.sampled_from(["roam", "calm", "amen", ""])
points = st.one_of(st.integers(-1, 3), st.sampled_from(["amen", "think", "nope", "random"]))
scene = st.fixed_dictionaries({"name": mostly(names), "bars": mostly(st.integers(-1, 64))}, optional={
    "weight": mostly(numbers), "anchors": mostly(st.lists(points, max_size=3)),
    "presets": mostly(st.lists(names, max_size=2)),
    "centre": mostly(st.one_of(points, st.lists(numbers, max_size=10))), "radius": mostly(numbers),
    "walk": mostly(numbers), "walk-rate": mostly(numbers), "morph-every": mostly(st.integers(-1, 64)),
    "morph-bars": mostly(st.integers(-1, 64)), "curve": mostly(st.sampled_from(["linear", "smooth", "slerp", "x"])),
    "jump": mostly(numbers), "tempo": mostly(st.one_of(numbers, st.lists(numbers, max_size=3)))})
clock_times = st.one_of(st.sampled_from(["22:00", "07:00", "00:00", "23:59", "24:00", "7:5", "noon"]),
                        st.integers(-1, 1500))
window = st.fixed_dictionaries({"from": mostly(clock_times), "to": mostly(clock_times)}, optional={
    "gain": mostly(numbers), "tempo": mostly(st.one_of(numbers, st.lists(numbers, max_size=2))),
    "scenes": mostly(st.lists(names, max_size=2))})
autopilot = st.fixed_dictionaries({"scene": mostly(st.lists(scene, max_size=3))}, optional={
    "schedule": mostly(st.lists(window, max_size=2)), "order": mostly(st.sampled_from(["sequence", "random"])),
    "seed": mostly(numbers), "idle": mostly(numbers), "on": mostly(st.booleans()), "gain": mostly(numbers)})
files = st.fixed_dictionaries({}, optional={"allow": mostly(st.lists(st.sampled_from([".", "~", "nope"])))})
tables = st.fixed_dictionaries({}, optional={"midi": mostly(midi), "autopilot": mostly(autopilot),
                                             "files": mostly(files), "link": mostly(st.booleans())})
unknown = st.one_of(st.just({}), st.just({}), st.just({}), st.dictionaries(text, anything, min_size=1, max_size=1))
configs = st.tuples(options, tables, unknown).map(
    lambda parts: {**parts[2], **parts[0], **parts[1]})


def examples_of_vamen_toml() -> list[str]:
    import re

    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```toml\n(.*?)^```", text, re.S | re.M)
    return blocks + [p.read_text() for p in sorted((ROOT / "patches").rglob("*.toml"))]


@st.composite
def damaged_examples(draw) -> str:
    text = list(draw(st.sampled_from(examples_of_vamen_toml())))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(0, len(text) - 1)))
        how = draw(st.sampled_from(["delete", "insert", "replace", "digit"]))
        if how == "delete" and text:
            del text[at]
        elif how == "digit":
            digits = [i for i, ch in enumerate(text) if ch.isdigit()]
            if digits:
                text[draw(st.sampled_from(digits))] = draw(st.sampled_from(list("0123456789-.e")))
        else:
            ch = draw(st.one_of(st.sampled_from(list('="[]{},.#\n-_ 0123456789')), st.characters()))
            if how == "insert" or not text:
                text.insert(at, ch)
            else:
                text[at] = ch
    return "".join(text)


# -- reading it as vamen serve does ---------------------------------------------------------------

def start_with(path: Path) -> ServeOptions | None:
    """What ``vamen serve --config path`` checks before it starts; None where it refuses (one line)."""
    try:
        values = read_config(path)
        options = ServeOptions(**values)
        options.config = path
        plan(options, LATENT_DIM)
        flight = flight_for(options)
        if flight is not None:
            resolve(flight, LATENT_DIM, ANCHORS, NoPresets())
    except ConfigError as exc:
        one_line(exc)
        return None
    rules = {r.name: r for r in RULES}
    for name, value in values.items():
        rule = rules[name]
        if rule.kind in (int, float) and not rule.many and value is not None:
            check_setting(name, value)  # the command line would take it too
    return options


@examples(400)
@given(configs)
def test_any_vamen_toml_gives_settings_or_one_line(tmp_path_factory, table):
    path = tmp_path_factory.mktemp("cfg") / "vamen.toml"
    path.write_text(document(table))
    start_with(path)


@examples(300)
@given(damaged_examples())
def test_damaged_examples_give_settings_or_one_line(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "vamen.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    start_with(path)


@examples(200)
@given(st.binary(max_size=300))
def test_a_file_that_is_not_text_is_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("cfg") / "vamen.toml"
    path.write_bytes(data)
    start_with(path)


def test_the_writer_writes_what_tomllib_reads():
    import tomllib

    table = {"tempo": 120.5, "sink": ["file", "soundcard"], "midi": {"cc": {"74": {"target": "gain"}}},
             "nan-key": float("nan"), "q\"uote": "a\nb"}
    back = tomllib.loads(document(table))
    assert math.isnan(back.pop("nan-key")) and back == {k: v for k, v in table.items() if k != "nan-key"}
