"""``vamen serve`` where there is no sound card: it says so and records instead."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import soundfile as sf



def no_card_env(tmp_path) -> dict:
    env = dict(os.environ)
    # point JACK clients at a server that does not exist, and never start one
    env.update(JACK_DEFAULT_SERVER=f"vamen-absent-{os.getpid()}", JACK_NO_START_SERVER="1",
               XDG_DATA_HOME=str(tmp_path / "data"))
    listed = subprocess.run([sys.executable, "-m", "vamen.server.cli", "devices", "--json"],
                            capture_output=True, text=True, env=env, timeout=120)
    if json.loads(listed.stdout)["audio_outputs"]:
        pytest.skip("this machine has a sound card; the no-card path cannot be shown here")
    return env


def start(tmp_path, env, *args):
    proc = subprocess.Popen([sys.executable, "-m", "vamen.server.cli", "serve", "--osc-port", "0",
                             "--quiet", *map(str, args)], cwd=tmp_path, env=env,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "Ctrl-C stops" in line:
            return proc, lines
    proc.kill()
    raise RuntimeError("vamen serve did not start: " + "\n".join(lines))


def test_no_output_device_says_so_in_one_line_and_records(tmp_path):
    env = no_card_env(tmp_path)
    proc, lines = start(tmp_path, env)
    notes = [line for line in lines if "no audio output device" in line]
    assert len(notes) == 1 and "recording to" in notes[0], lines
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (wav,) = tmp_path.glob("vamen-*.wav")
    info = sf.info(wav)
    assert info.duration > 2.0
    audio, _ = sf.read(wav)
    assert abs(audio).max() > 0.01


def test_recording_survives_kill_9(tmp_path, tiny_model):
    env = no_card_env(tmp_path)
    path = tmp_path / "set.wav"
    proc, lines = start(tmp_path, env, "--model", tiny_model, "--sink", "file", "--record", path)
    started = time.time()
    time.sleep(4.0)
    proc.send_signal(signal.SIGKILL)
    killed = time.time()
    proc.wait(timeout=30)
    audio, rate = sf.read(path)  # a valid WAV, header and all
    assert len(audio) / rate >= (killed - started) - 1.0
    assert abs(audio).max() > 0.001


def test_named_device_that_does_not_exist_is_one_line_and_exit_2(tmp_path):
    env = no_card_env(tmp_path)
    run = subprocess.run([sys.executable, "-m", "vamen.server.cli", "serve", "--device", "nope",
                          "--osc-port", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith("vamen: ")
    assert "Traceback" not in run.stderr
