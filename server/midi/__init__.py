"""MIDI in: knobs, pads and an external clock driving the performance.

Importing this package opens nothing and starts nothing; the engine calls
:func:`~.setup.plan` with its options and starts the plan.

Contents
--------
setup       plan(options, latent_dim) -> MidiPlan; MidiPlan.start(engine) -> MidiListener
mapping     the ``[midi]`` table: MidiSettings, CCMapping, NoteAction, parse_settings, curves
router      messages -> commands: channels, 14-bit pairs, encoders, takeover, pads, learn, clock
takeover    Pickup: soft takeover of one knob
clock       TickTempo (tempo from tick times), ClockFollower (clock and transport -> commands)
commands    Align, Learned: commands that act on the engine (tempo map, learned mappings)
learned     midi-learned.toml: read_learned, write_learned, a small TOML writer
listener    MidiListener: the MIDI thread, re-opening a port that comes back; feedback out
ports       python-rtmidi / mido ports with arrival times; match_port
wire        Tokenizer: bytes -> mido messages, with running status, sysex skipped
"""
