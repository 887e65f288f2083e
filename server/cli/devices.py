"""``vamen devices``: the audio outputs and inputs and the MIDI inputs this machine offers."""
from __future__ import annotations

import click

from .common import emit, json_option


@click.command("devices")
@json_option
def command(as_json: bool) -> None:
    """Audio outputs and inputs, MIDI inputs: the names to pass to --device, --input and --midi."""
    from vamen.server.audio.devices import midi_backend_name, scan_inputs, scan_midi_inputs, scan_outputs

    outputs, audio_reason = scan_outputs()
    inputs, input_reason = scan_inputs()
    midi, midi_reason = scan_midi_inputs()
    default = next((o["label"] for o in outputs if o["is_default"]), None)
    figures = {
        "audio_outputs": outputs,
        "default_output": default,
        "audio_reason": audio_reason,
        "audio_inputs": inputs,
        "input_reason": input_reason,
        "midi_inputs": midi,
        "midi_backend": midi_backend_name(),
        "midi_reason": midi_reason,
    }
    lines = ["Audio outputs (pass a name to --device; * is the default):"]
    for o in outputs:
        mark = "*" if o["is_default"] else " "
        lines.append(f" {mark} [{o['index']}] {o['label']}  "
                     f"({o['max_output_channels']} ch, {o['default_samplerate']:g} Hz)")
    if not outputs:
        lines.append(f"   none: {audio_reason}")
    lines.append("Audio inputs (pass a name to --input):")
    for i in inputs:
        lines.append(f"   [{i['index']}] {i['label']}  "
                     f"({i['max_input_channels']} ch, {i['default_samplerate']:g} Hz)")
    if not inputs:
        lines.append(f"   none: {input_reason}")
    lines.append(f"MIDI inputs (pass a name to --midi; backend {figures['midi_backend']}):")
    lines.extend(f"   {name}" for name in midi)
    if not midi:
        lines.append(f"   none: {midi_reason}")
    emit(figures, as_json, "\n".join(lines))
