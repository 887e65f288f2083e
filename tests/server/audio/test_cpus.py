"""``--audio-cpus`` lists, read and written as taskset does, and where they leave vamen."""
import pytest

from vamen.server.audio.cpus import format_cpus, parse_cpus, split_cpus


@pytest.mark.parametrize("text, cpus, written", [
    ("1", {1}, "1"), ("2-3", {2, 3}, "2-3"), ("0,2-3", {0, 2, 3}, "0,2-3"),
    ("7, 0-1", {0, 1, 7}, "0-1,7"), ("3,1,2", {1, 2, 3}, "1-3"),
])
def test_cpu_lists_read_and_write_as_taskset_does(text, cpus, written):
    assert parse_cpus(text) == cpus
    assert format_cpus(parse_cpus(text)) == written


@pytest.mark.parametrize("text", ["", "one", "3-1", "-1", "1,,2", "1-"])
def test_what_is_not_a_cpu_list_is_one_line_naming_it(text):
    with pytest.raises(ValueError) as refused:
        parse_cpus(text)
    assert str(refused.value).startswith(f"--audio-cpus {text!r}") and "\n" not in str(refused.value)


def test_the_sound_gets_its_cpus_and_vamen_the_others_or_a_line_says_why_not():
    assert split_cpus("1", frozenset({0, 1})) == ({1}, {0})
    assert split_cpus("2-3", frozenset(range(4))) == ({2, 3}, {0, 1})
    with pytest.raises(ValueError, match="no CPU 5 here"):
        split_cpus("5", frozenset({0, 1}))
    with pytest.raises(ValueError, match="leaves no CPU for the renderer"):
        split_cpus("0-1", frozenset({0, 1}))
