"""vamen.server: the long-running process, in wings by concern.

Wings (each ``__init__`` says what lives there and what it may import;
``tests/test_layering.py`` holds them to it)::

    core      commands, control state, motion, points, talkback, tempo map, constants: pure
    ops       metrics, systemd, log file, folders, session and presets on disk
    audio     player, sound card (in-process or its own process), recorder, devices: no torch
    render    the render and encode workers: the only code that runs the model
    sinks     loops handed to SuperCollider, Max, Pure Data
    sources   OSC (codec, server, guard, fair queue), the autopilot and its scenes
    midi      MIDI in: mappings, takeover, learn, the MIDI clock follower
    clocks    who leads tempo and bar: internal, MIDI, Link (offline: a test steps it)
    the app   engine (builds), conductor (the control thread's work), options, config,
              bench, peer (jack_metro and jackd's log for bench soak --peer) and cli/:
              wires the wings; nothing imports it

Threads and processes of ``vamen serve`` (each is started by the part named,
and each owns what follows the arrow)::

    main thread          cli.serve: signals, the status line, sd_notify      -> nothing shared
    vamen-osc            sources.oscserver: UDP in, parse, guard, enqueue    -> its socket
    vamen-midi           midi.listener: ports, map, enqueue                 -> the MIDI ports
    vamen-link           clocks.link: polls the Link session, enqueues      -> the Link binding
      (OSC, MIDI, Link and the autopilot only build typed commands and put them
       on the command queue, sources.fairqueue, which takes turns between senders)
    vamen-control        conductor: takes commands, applies them           -> Control, the tempo map,
                                                                               the autopilot, the session saver
    vamen-render         render.worker: renders the next bars (torch)      -> the loop slots
    vamen-encode         render.encoder: /vamen/encode reads and encodes (torch) -> nothing shared
    vamen-listen         render.listener: cuts each bar of --input, encodes it (torch) -> the command queue
    vamen-input-meter    render.listener: the input's level and clipping, its recorder -> figures only
    sound card callback  audio.player.fill (PortAudio's thread)            -> copies only: no locks held
                         long, no allocation, no logging, no torch
      or vamen-timer     audio.output: the same fill on a timer when there is no sound card
      or the audio process  ``python -m vamen.server.audio.audiochild``: the
                         callback in a child process, loops in shared memory;
                         in the server, vamen-audio-watch (its health) and
                         vamen-audio-tap (its audio, for the recorder); on
                         JACK, vamen-connections (audio.jackports: reads its
                         ports' connections, gives them back after a restart)
    vamen-record         audio.recorder: writes the WAV file               -> the file
    vamen-notify,        sinks: deliver each loop to a patch               -> their sockets
      vamen-supercollider
    vamen-metrics        ops.metrics: Prometheus /metrics                  -> reads figures only

Who touches torch: the render, encode and listen threads, and the main thread while
the model loads. The control thread hands the encoder files and takes back
latent points as commands; it never runs the model itself.
"""
