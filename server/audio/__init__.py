"""Audio: getting the loops to a sound card or a file, on time, without clicks.

This wing never imports torch or the model's networks: the audio process
(``python -m vamen.server.audio.audiochild``) imports only it, numpy and
sounddevice, so it starts fast and its callback is never held up.

Contents
--------
player      Player: the loop pool and the callback's ``fill``: copies, crossfades, counts underruns
output      choose_output: sound card, audio process, timer (no device) or a test's own
audioproc   ProcessOutput: the sound card in a child process, loops in shared memory
audiochild  the child process's side (``python -m vamen.server.audio.audiochild``)
recorder    WavRecorder: a player tap writing 16-bit WAV on a thread of its own
cpuwake     CpuAwake: the PM QoS request of ``--keep-cpu-awake``
devices     audio outputs and MIDI inputs: finding them by name, JACK names

May import: :mod:`vamen.server.core` (nothing else of the server).
"""
