"""Errors a user can cause and fix: each carries one clear sentence."""


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``), so it prints as one line.

    Messages quote what a user or a sender wrote: a file name, a key, a value.
    Quoted as it is, a newline in one splits the sentence (and a log line) in two.
    """
    return text if text.isprintable() else "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class VamenError(Exception):
    """Base for errors that end a command with one line on stderr, not a traceback.

    The message is made one line here, whatever it quotes (see :func:`one_line`).
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(one_line(str(message)), *args)


class CheckpointError(VamenError):
    """A file that is not a usable vamen checkpoint."""


class AudioFileError(VamenError):
    """An audio file that cannot be read or holds no usable audio."""
