"""vamen.toml: every serve option in a file, checked before anything starts."""
import os
import subprocess
import sys

import pytest

from vamen.server.config import ConfigError, read_config
from vamen.server.options import ServeOptions


def test_options_from_the_file(tmp_path):
    path = tmp_path / "vamen.toml"
    path.write_text('model = "m.pt"\nosc-port = 9000\nsink = ["soundcard", "file"]\n'
                    'tempo = 174\nquantize = 0\ngain = 0.8\nrecord = "set.wav"\n'
                    'notify = "10.0.0.2:9000"\nscsynth = "127.0.0.1:57110"\n'
                    '[midi]\ncc = 1\n')
    values = read_config(path)
    options = ServeOptions(**values)
    assert options.osc_port == 9000 and options.tempo == 174 and options.quantize == 0
    assert options.sinks == ("soundcard", "file")
    assert options.model == tmp_path / "m.pt" and options.record == tmp_path / "set.wav"
    assert options.notify == ("10.0.0.2:9000",) and options.scsynth == "127.0.0.1:57110"


@pytest.mark.parametrize("text, words", [
    ("tempoo = 120\n", "unknown option 'tempoo'; did you mean 'tempo'?"),
    ("temp = 120\n", "unknown option 'temp'; did you mean 'tempo'?"),
    ("osc_prot = 9000\n", "unknown option 'osc_prot'; did you mean 'osc-port'?"),
    ('tempo = "fast"\n', 'tempo has the wrong type: expected a number, got a string ("fast")'),
    ("keep-cpu-awake = 1\n", "keep-cpu-awake has the wrong type: expected true or false, got an integer (1)"),
    ("osc-port = 1.5\n", "osc-port has the wrong type: expected a whole number, got a float (1.5)"),
    ('sink = "speaker"\n', "unknown sink 'speaker'"),
    ("tempo = \n", "not valid TOML"),
    ("lookahead = -5\n", "lookahead: -5.0 is not in the range 0.1<=x<=10"),  # once read unchecked
    ("seed = -1\n", "seed: -1 is not in the range x>=0"),  # once a traceback from numpy
    ('audio-cpus = "one"\n', "--audio-cpus 'one' is not a CPU list"),
    ('audio-cpus = "3-1"\n', "'3-1' is not a range of CPU numbers"),
    ("audio-cpus = 4096\n", "--audio-cpus 4096: no CPU 4096 here"),
])
def test_bad_files_are_one_clear_line(tmp_path, text, words):
    path = tmp_path / "vamen.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        read_config(path)
    assert words in str(refused.value)
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "serve", "--config", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert words in run.stderr


@pytest.mark.parametrize("text, flag, words", [
    ("tempo = 10\n", "--tempo=10", "20<=x<=400"),
    ("quality = -5\n", "--quality=-5", "1<=x<=512"),
    ("gain = 50\n", "--gain=50", "0<=x<=2"),
    ("quantize = -2\n", "--quantize=-2", "0<=x<=64"),
    ("tempo = nan\n", "--tempo=nan", "nan is not a finite number"),  # nan passed every range check
    ("osc-rate = inf\n", "--osc-rate=inf", "inf is not a finite number"),
])
def test_out_of_range_file_values_are_refused_like_the_flags(tmp_path, text, flag, words):
    """The file and the command line share one table of rules: the same range, exit status 2."""
    path = tmp_path / "vamen.toml"
    path.write_text(text)
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "serve", "--config", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    key = text.split(" ")[0]
    assert f"{key}: " in run.stderr and words in run.stderr
    flagged = subprocess.run([sys.executable, "-m", "vamen.server.cli", "serve", flag],
                             capture_output=True, text=True, timeout=120)
    assert flagged.returncode == 2 and words in flagged.stderr


def test_audio_cpus_that_leave_vamen_no_cpu_are_refused(tmp_path):
    from vamen.server.audio.cpus import format_cpus

    every = format_cpus(os.sched_getaffinity(0))
    path = tmp_path / "vamen.toml"
    path.write_text(f'audio-cpus = "{every}"\n')
    with pytest.raises(ConfigError, match=f"--audio-cpus {every} leaves no CPU for the renderer"):
        read_config(path)


def test_audio_cpus_may_be_one_number_or_a_list(tmp_path):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: any --audio-cpus leaves vamen none")
    path = tmp_path / "vamen.toml"
    first = min(os.sched_getaffinity(0))
    path.write_text(f"audio-cpus = {first}\n")
    assert ServeOptions(**read_config(path)).audio_cpus == str(first)  # as taskset would be given it
    path.write_text(f'audio-cpus = "{first}"\n')
    assert ServeOptions(**read_config(path)).audio_cpus == str(first)


@pytest.mark.parametrize("text, expected", [
    ("keep-cpu-awake = true\n", {"keep_cpu_awake": True}),
    ("keep_cpu_awake = false\n", {"keep_cpu_awake": False}),
])
def test_true_false_keys_are_read(tmp_path, text, expected):
    path = tmp_path / "vamen.toml"
    path.write_text(text)
    assert read_config(path) == expected
    assert ServeOptions(**read_config(path)).keep_cpu_awake is expected["keep_cpu_awake"]


@pytest.mark.parametrize("text", ["keep-cpu-awake = 1\n", "tempo = true\n", "sink = [\"file\", 3]\n"])
def test_a_number_is_not_a_flag_nor_a_flag_a_number(tmp_path, text):
    path = tmp_path / "vamen.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="wrong type"):
        read_config(path)


def test_every_file_key_and_flag_comes_from_one_table():
    from vamen.server.cli.serve import command
    from vamen.server.options import FILE_KEYS, RULES

    flags = {opt for p in command.params for opt in p.opts}
    for rule in RULES:
        assert rule.option is None or rule.option in flags, rule.name
        assert rule.file_key is None or rule.file_key in FILE_KEYS, rule.name
        assert hasattr(ServeOptions(), rule.name)


def test_every_serve_option_has_help_and_blocksize_says_what_0_means():
    from click.testing import CliRunner

    from vamen.server.cli.serve import command
    from vamen.server.options import RULES

    for rule in RULES:
        assert rule.option is None or rule.help, f"--{rule.name} has no help text"
    shown = CliRunner().invoke(command, ["--help"], terminal_width=200).output
    assert "Output sample rate in Hz" in shown
    assert "0 lets the sound card's host API choose" in shown


def test_every_number_option_has_a_range_and_refuses_nan_both_ways(tmp_path):
    """An option without bounds is an option nobody decided about: the file could give anything."""
    import click

    from vamen.server.options import RULES, check_setting, from_file

    numbers = [r for r in RULES if r.kind in (int, float) and not r.many]
    assert numbers
    for rule in numbers:
        assert rule.low is not None, f"{rule.name} has no lower bound"
        if rule.kind is float:
            for bad in (float("nan"), float("inf")):
                if rule.file_key is not None:
                    with pytest.raises(ValueError, match=rf"{rule.file_key}: .*(finite|range)"):
                        from_file(rule.file_key, bad, tmp_path)
                with pytest.raises(ValueError):
                    check_setting(rule.name, bad)  # a saved session's value
                with pytest.raises(click.BadParameter):
                    rule.click_type().convert(bad, None, None)  # the command line's
