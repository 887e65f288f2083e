"""``vamen devices`` and the device lookups the server uses, on a real JACK sound card."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from vamen.server.audio import devices
from vamen.server.cli import main
from vamen.server.audio.devices import DeviceError, NoOutputDevice, find_output, list_midi_inputs

JACK_API = "JACK Audio Connection Kit"
JACK_MIDI = "mido.backends.rtmidi/UNIX_JACK"


def _jack_outputs(figures: dict) -> list[dict]:
    return [o for o in figures["audio_outputs"] if o["hostapi"] == JACK_API]


@pytest.mark.jack
def test_devices_json_lists_the_jack_output(jack):
    result = CliRunner().invoke(main, ["devices", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    (out,) = _jack_outputs(figures)
    assert out["label"] == f"{JACK_API}: system" and out["index"] == jack.device
    assert out["default_samplerate"] == jack.sample_rate and out["max_output_channels"] >= 2
    assert figures["audio_reason"] is None


@pytest.mark.jack
def test_devices_in_a_fresh_process_sees_jack_and_names_what_to_pass(jack):
    done = subprocess.run([sys.executable, "-m", "vamen.server.cli", "devices"],
                          capture_output=True, text=True, env=jack.env(), timeout=30)
    assert done.returncode == 0, done.stderr
    assert f"{JACK_API}: system" in done.stdout and "--device" in done.stdout
    assert "--midi" in done.stdout


@pytest.mark.jack
def test_find_output_finds_jack_by_any_part_of_its_name(jack):
    assert find_output("jack") == (jack.device, float(jack.sample_rate))
    assert find_output("JACK Audio Connection Kit: system") == (jack.device, float(jack.sample_rate))
    assert find_output(str(jack.device))[0] == jack.device
    index, rate = find_output(None)
    assert index in {o["index"] for o in devices.list_outputs()} and rate > 0


@pytest.mark.jack
def test_an_unknown_output_is_one_line_naming_what_exists(jack):
    with pytest.raises(DeviceError) as caught:
        find_output("no-such-device")
    message = str(caught.value)
    assert "\n" not in message
    assert "no-such-device" in message and f"{JACK_API}: system" in message
    assert not isinstance(caught.value, NoOutputDevice)


def test_no_output_at_all_is_one_line_saying_why(monkeypatch):
    monkeypatch.setattr(devices, "_sounddevice",
                        lambda: (None, "PortAudio is not available (library not found)"))
    assert devices.list_outputs() == []
    with pytest.raises(NoOutputDevice, match="PortAudio is not available") as caught:
        find_output(None)
    assert "\n" not in str(caught.value)
    result = CliRunner().invoke(main, ["devices"])
    assert result.exit_code == 0
    assert "none: PortAudio is not available" in result.output


def test_naming_an_output_where_there_is_none_says_there_is_none(monkeypatch):
    monkeypatch.setattr(devices, "scan_outputs", lambda: ([], "PortAudio lists no output devices"))
    with pytest.raises(NoOutputDevice, match="no audio output device: PortAudio lists no"):
        find_output("anything")


def test_an_unusable_midi_backend_is_a_reason_not_a_crash(monkeypatch):
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.no_such_backend")
    names, reason = devices.scan_midi_inputs()
    assert names == [] and "mido.backends.no_such_backend" in reason and "\n" not in reason
    result = CliRunner().invoke(main, ["devices", "--json"])
    assert result.exit_code == 0
    figures = json.loads(result.output)
    assert figures["midi_inputs"] == [] and figures["midi_backend"] == "mido.backends.no_such_backend"


@pytest.mark.jack
def test_a_jack_midi_port_is_listed_and_carries_notes(jack, monkeypatch):
    import mido

    monkeypatch.setenv("MIDO_BACKEND", JACK_MIDI)
    backend = mido.Backend(JACK_MIDI)
    with backend.open_output("vamen-test-midi", virtual=True) as port:
        deadline = time.monotonic() + 5
        while not (names := [n for n in list_midi_inputs() if "vamen-test-midi" in n]):
            assert time.monotonic() < deadline, f"not listed: {devices.scan_midi_inputs()}"
            time.sleep(0.05)
        assert any(p.endswith(":vamen-test-midi") for p in jack.ports(kind="midi"))
        result = CliRunner().invoke(main, ["devices", "--json"])
        assert names[0] in json.loads(result.output)["midi_inputs"]
        with backend.open_input(names[0]) as listener:
            time.sleep(0.1)  # let JACK connect the ports before the first note
            port.send(mido.Message("note_on", note=36, velocity=100))
            got, deadline = None, time.monotonic() + 2
            while got is None and time.monotonic() < deadline:
                got = listener.poll()
                time.sleep(0 if got else 0.01)
        assert got == mido.Message("note_on", note=36, velocity=100)
