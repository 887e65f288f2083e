"""vamen.server: the long-running process: control, scheduling, sinks, CLI."""
