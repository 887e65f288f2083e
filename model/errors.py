"""Errors a user can cause and fix: each carries one clear sentence."""


class VamenError(Exception):
    """Base for errors that end a command with one line on stderr, not a traceback."""


class CheckpointError(VamenError):
    """A file that is not a usable vamen checkpoint."""


class AudioFileError(VamenError):
    """An audio file that cannot be read or holds no usable audio."""
