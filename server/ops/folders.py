"""The folders OSC may make vamen read from.

``/vamen/encode s path`` names a file on the server's machine, and anyone
who can send OSC can send it: without a fence, a client could make vamen
open ``/etc/shadow`` or a device file and learn from the error what exists.
:meth:`Folders.check` resolves a path completely (``~``, ``..`` and every
symbolic link, as the file system will when the file is opened) and accepts
it only when the result lies inside one of the allowed folders, so neither
``../../etc/passwd`` nor a link in an allowed folder pointing out of it gets
through. The file is then opened by its resolved name, the one checked.

Defaults (when neither ``[files] allow`` in ``vamen.toml`` nor
``--allow-dir`` is given):

- the current folder at start-up, unless that is the file system's root
  (a service manager starts programs in ``/``, which would allow everything);
- ``~/Music``;
- vamen's data folder, ``$XDG_DATA_HOME/vamen`` (``~/.local/share/vamen``),
  beside the presets.

Giving any folder replaces the defaults.

Contents
--------
Folders         ``check(path) -> Path``, ``roots``, ``describe()``
OutsideFolders  the refusal: a ValueError with one sentence
default_folders the defaults above
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable


class OutsideFolders(ValueError):
    """A path vamen may not read; the message says why, in one sentence."""


def default_folders() -> list[Path]:
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    folders = [Path.cwd()]
    if Path.cwd().resolve() == Path(Path.cwd().anchor):
        folders = []
    return folders + [Path("~/Music").expanduser(), Path(data) / "vamen"]


class Folders:
    """Allowed folders, resolved once at start-up.

    Parameters
    ----------
    roots : iterable of path-like, optional
        The folders; None means :func:`default_folders`. Relative ones are
        taken from the current folder.
    """

    def __init__(self, roots: Iterable[str | os.PathLike] | None = None) -> None:
        given = default_folders() if roots is None else [Path(r) for r in roots]
        self.roots: tuple[Path, ...] = tuple(dict.fromkeys(
            Path(r).expanduser().resolve() for r in given))

    def describe(self) -> str:
        home = Path.home()
        return ", ".join("~/" + str(r.relative_to(home)) if r.is_relative_to(home) and r != home
                         else str(r) for r in self.roots) or "none"

    def check(self, path: str | os.PathLike) -> Path:
        """The resolved path if it lies inside an allowed folder.

        Raises
        ------
        OutsideFolders
            Outside every folder (after following ``..`` and links), or not
            a path at all (an embedded NUL byte).
        """
        try:
            resolved = Path(path).expanduser().resolve()
        except (ValueError, OSError, RuntimeError) as exc:  # NUL bytes, link loops
            raise OutsideFolders(f"not a usable path ({exc})") from None
        if any(resolved.is_relative_to(root) for root in self.roots):
            return resolved
        raise OutsideFolders(f"outside the folders vamen may read ({self.describe()}); "
                             "add one with --allow-dir or [files] allow in vamen.toml")
