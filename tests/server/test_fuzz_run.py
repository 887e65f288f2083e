"""A short ``make fuzz`` on every submission: mutated OSC and MIDI at a live ``vamen serve``, files through the loaders.

``scripts/fuzz.py`` as ``make fuzz`` runs it, with bounded counts: 5,000
datagrams in bursts of 500 with a ping and a state check after each, 40
mutated checkpoints, 40 mutated audio files; and, on its own JACK dummy
server, 2,000 MIDI messages over JACK MIDI in bursts of 100. Its own checks
decide (no traceback, the server alive with no thread lost, state unchanged
by the invalid input and moved by the mapped CCs exactly as a reference
reader says, RSS within 5 %, every refusal one line); here the ping's
deadline is a second rather than ``make fuzz``'s 100 ms, since timing is
measured, not asserted, on shared machines (TESTING.md).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from clients import need_programs

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz.py"


def test_a_short_fuzz_run_keeps_every_invariant(tiny_model, tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), "--datagrams", "5000", "--checkpoints", "40",
                          "--audio", "40", "--ping-ms", "1000", "--model", str(tiny_model), "--json"],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.stdout, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    osc, checkpoints, audio = summary["osc"], summary["checkpoints"], summary["audio"]
    assert osc["failures"] == [] and checkpoints["failures"] == [] and audio["failures"] == [], summary
    assert run.returncode == 0, run.stderr[-3000:]
    assert osc["datagrams"] == 5000 and osc["bursts"] == 10 and osc["tracebacks"] == 0
    assert len(osc["kinds"]) >= 8  # every sort of mutation went out, not only the easy ones
    assert osc["log_lines"] < 50  # summarised, not one a packet
    assert checkpoints["refused"] > 0 and audio["refused"] > 0 and audio["encoded"] > 0


@pytest.mark.jack
def test_a_short_midi_fuzz_over_jack_keeps_every_invariant(tiny_model, tmp_path):
    need_programs("jackd2", "jackd", "jack_wait")
    run = subprocess.run([sys.executable, str(SCRIPT), "--datagrams", "0", "--checkpoints", "0", "--audio", "0",
                          "--midi", "2000", "--ping-ms", "1000", "--model", str(tiny_model), "--json"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.stdout, run.stderr[-3000:]
    midi = json.loads(run.stdout)["midi"]
    assert midi["failures"] == [], midi
    assert run.returncode == 0, run.stderr[-3000:]
    assert midi["messages"] >= 2000 and midi["bursts"] >= 20 and midi["tracebacks"] == 0, midi
    assert len(midi["kinds"]) >= 14, midi  # every sort of garbage went out, the mapped CCs and the fences too
    assert midi["acting"] > 0 and midi["pings_late"] == 0, midi
    # JACK may lose a burst on a starved machine (the run says which); most must be judged
    assert len(midi["bursts_lost_by_jack"]) <= midi["bursts"] // 10, midi
