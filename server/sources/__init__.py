"""Command sources: who tells the performance what to do.

Every source only checks what it hears and enqueues typed commands
(:mod:`vamen.server.core.commands`); none touches the control state, torch
or the sound card. MIDI is a source too, in a wing of its own
(:mod:`vamen.server.midi`).

Contents
--------
osc         the OSC codec: address + arguments -> commands, or BadMessage (pure)
oscserver   OscServer: the OSC thread (UDP in, replies out, bundles at their time tags)
guard       who may send, and how fast: allow-lists and per-sender rate limits
fairqueue   the command queue, taking turns between senders
autopilot   Autopilot: plays scenes unattended, hands over to a performer and back
scenes      the ``[autopilot]`` scenes: read, checked, resolved against the model

The packet decoder and the guard are hand-written because they do more than
python-osc's server: bounded parsing of hostile datagrams, per-sender rate
limits, fair turns and time tags that are scheduled, never slept on.

May import: :mod:`vamen.server.core` and :mod:`vamen.server.ops`.
"""
