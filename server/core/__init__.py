"""The core: what the performance *is*, as plain data and pure functions.

No threads, no sockets, no files, no devices, no torch. Everything here can
be built and tested in a line or two, and every other wing builds on it.

Contents
--------
commands    typed commands, one frozen dataclass per OSC address; the valid ranges
control     Control: the control state (latent, moves, walk, tempo, transport), owned by one thread
motion      trajectories as functions of beats: Still, Glide, Morph, Walk, curves
course      where the loop is heading: the current move, walk and glide
points      anchors, presets and random draws; preset names
talkback    the ``/vamen/state`` and feedback formats; subscribers
tempo       TempoMap: which output sample each beat falls on
constants   BEATS_PER_BAR, OSC_PORT, CLOCKS, SINKS, ConfigError: written once

May import: nothing of the server outside this wing (the model's errors
only). Storage, such as the preset store, is handed in from
:mod:`vamen.server.ops`.
"""
