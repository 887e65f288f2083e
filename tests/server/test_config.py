"""vamen.toml: every serve option in a file, checked before anything starts."""
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
    ("tempoo = 120\n", "unknown option 'tempoo'"),
    ('tempo = "fast"\n', "tempo has the wrong type"),
    ('sink = "speaker"\n', "unknown sink 'speaker'"),
    ("tempo = \n", "not valid TOML"),
])
def test_bad_files_are_one_clear_line(tmp_path, text, words):
    path = tmp_path / "vamen.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=words):
        read_config(path)
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "serve", "--config", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert words.split("'")[0] in run.stderr
