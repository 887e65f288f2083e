"""Operations: what keeps a long-running server healthy and its state safe.

Contents
--------
metrics     MetricsServer: Prometheus ``/metrics`` on a thread of its own
sdnotify    systemd's READY/STOPPING/STATUS and the watchdog
logfile     the rotated log file; sizes such as ``10M``; repeated lines summarised; other libraries' logs
repeats     Repeats: the first of a kind said, the rest counted and summed up once a minute
folders     which folders ``/vamen/encode`` may read
session     the session saved every bar and resumed at start
presets     PresetStore: named points, written atomically

May import: :mod:`vamen.server.core` (nothing else of the server). The
metrics endpoint is handed the running engine and reads its ``health()``,
the OSC guard's drops and a few control figures from its own thread
(single references, read whole); it changes nothing.
"""
