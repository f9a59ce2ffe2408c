"""Where a path really is, and names read from data files kept inside their root.

An output is compared with the inputs of its run as files, never as spellings: `../frames`,
`sub/../clip.mp4`, a symlinked parent folder or a second hard link all reach the same file. A
`Place` records both what a rename would replace (`location`: the real folder plus the final
name) and what reading the path reaches (`target`: every link followed, and the file's device
and inode). `conflicts` finds every output that is, contains or writes an image into an input,
in time linear in the number of paths, so a batch of 40,000 rows is checked before its first item.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Hashable, Iterator

from rvos_cli.errors import InputError

Identity = tuple[int, int]  # (st_dev, st_ino)


Ancestors = tuple[tuple[str, "Identity | None"], ...]


@dataclass(frozen=True)
class Place:
    """path as given; location: its real folder and its own name (a rename replaces this entry, even
    a symlink); target: every link followed; identity: (st_dev, st_ino) of the target, None when
    nothing is there; ancestors: (real folder, identity) of every folder above location and target.
    Paths are strings: a batch makes hundreds of thousands of them."""

    path: str | os.PathLike
    location: str
    target: str
    identity: Identity | None
    is_dir: bool
    ancestors: Ancestors = field(repr=False)

    def spellings(self) -> tuple[str, ...]:
        return (self.location,) if self.location == self.target else (self.location, self.target)


class Resolver:
    """Places, with the real path, identity and ancestors of each folder looked up once: the rows
    of a batch share their folders, so checking 40,000 of them takes a few system calls each."""

    def __init__(self) -> None:
        self._cwd = os.getcwd()
        self._real: dict[str, str] = {}
        self._chains: dict[str, Ancestors] = {}

    def _realpath(self, folder: str) -> str:
        real = self._real.get(folder)
        if real is None:
            real = self._real[folder] = os.path.realpath(folder)
        return real

    def _chain(self, folder: str) -> Ancestors:
        """(folder, identity) of `folder` and of every folder above it."""
        chain = self._chains.get(folder)
        if chain is None:
            parent = os.path.dirname(folder)
            above = () if parent == folder else self._chain(parent)
            chain = self._chains[folder] = ((folder, _stat_identity(folder)), *above)
        return chain

    def _split(self, path: str | os.PathLike) -> tuple[str, str]:
        """(location, target) of a path: its real folder joined with its name, and every link followed."""
        full = os.path.join(self._cwd, os.fspath(path))
        folder, name = os.path.split(full)
        if name in ("", ".", ".."):
            real = self._realpath(full)
            return real, real
        location = os.path.join(self._realpath(folder), name)
        return location, os.path.realpath(location) if os.path.islink(location) else location

    def real(self, path: str | os.PathLike) -> Path:
        """`path` with every link followed, as Path.resolve() gives it, its folders' real paths cached."""
        return Path(self._split(path)[1])

    def place(self, path: str | os.PathLike) -> Place:
        location, target = self._split(path)
        try:
            info = os.stat(target)
            identity, is_dir = (info.st_dev, info.st_ino), stat.S_ISDIR(info.st_mode)
        except (OSError, ValueError):
            identity, is_dir = None, False
        ancestors = self._chain(os.path.dirname(location))
        if target != location and os.path.dirname(target) != os.path.dirname(location):
            ancestors = ancestors + self._chain(os.path.dirname(target))
        return Place(path, location, target, identity, is_dir, ancestors)


def _stat_identity(path: str) -> Identity | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def place(path: str | os.PathLike) -> Place:
    """The Place of one path."""
    return Resolver().place(path)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

# How an output meets an input, worst first.
IS, CONTAINS, INSIDE = "is", "contains", "inside"


def conflicts(
    outputs: list[tuple[Place, Hashable, bool]], inputs: list[tuple[Place, Hashable]]
) -> Iterator[tuple[Hashable, Hashable, str]]:
    """(output key, input key, how) for every output that is an input (IS), is a folder holding one
    (CONTAINS: the output folder is replaced as a whole), or is an image file written inside an input
    folder (INSIDE: frames and masks folders are read by listing them). outputs: (place, key, is a
    folder); inputs: (place, key). Linear in the number of paths (dictionary lookups per ancestor)."""
    by_path: dict[str, list[Hashable]] = {}
    by_identity: dict[Identity, list[Hashable]] = {}
    for where, key in inputs:
        for spelling in where.spellings():
            by_path.setdefault(spelling, []).append(key)
        if where.identity is not None:
            by_identity.setdefault(where.identity, []).append(key)
    for where, key, _ in outputs:
        same = {k for s in where.spellings() for k in by_path.get(s, ())}
        if where.identity is not None:
            same.update(by_identity.get(where.identity, ()))
        for other in same:
            yield key, other, IS
        if _is_image(where.location) or _is_image(where.target):
            folders = {k for parent, identity in where.ancestors for k in _keys(parent, identity, by_path, by_identity)}
            for other in folders - same:
                yield key, other, INSIDE
    # An output folder holding an input: look each input's ancestors up among the outputs.
    out_path: dict[str, list[Hashable]] = {}
    out_identity: dict[Identity, list[Hashable]] = {}
    for where, key, _ in outputs:
        for spelling in where.spellings():
            out_path.setdefault(spelling, []).append(key)
        if where.identity is not None and where.is_dir:
            out_identity.setdefault(where.identity, []).append(key)
    for where, key in inputs:
        holders = {k for parent, identity in where.ancestors for k in _keys(parent, identity, out_path, out_identity)}
        for output in holders:
            yield output, key, CONTAINS


def _is_image(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


def _keys(path: str, identity: Identity | None, by_path: dict, by_identity: dict) -> list[Hashable]:
    found = list(by_path.get(path, ()))
    if identity is not None:
        found += by_identity.get(identity, ())
    return found


# --- names read from data files ----------------------------------------------------------------


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's control characters (category Cc)


def name_problem(name: object) -> str | None:
    """Why `name` cannot be one file or folder name under a root, or None when it can: it must be
    text, not empty, `.` or `..`, without `/`, `\\`, NUL or other control characters, and encodable
    as a file name."""
    if not isinstance(name, str):
        return f"is {type(name).__name__}, not text"
    if name.strip() in ("", ".", ".."):
        return "is empty" if not name.strip() else f"is {name.strip()!r}, which names a folder, not an entry in it"
    for bad, what in (("/", "a '/'"), ("\\", "a '\\'"), ("\0", "a NUL character")):
        if bad in name:
            return f"contains {what}"
    if _CONTROL.search(name):
        return "contains a control character"
    try:
        os.fsencode(name)
    except UnicodeEncodeError:
        return "cannot be encoded as a file name"
    return None


def safe_name(name: object, what: str) -> str:
    """`name` if it is one safe file name (`name_problem`); InputError naming `what` (e.g. "manifest
    m.csv row 3: name") otherwise."""
    problem = name_problem(name)
    if problem is not None:
        raise InputError(f"{what} {name!r} {problem}; use a plain file name (letters, digits, '-', '_', '.')")
    return name


def child(root: Path, name: object, what: str) -> Path:
    """`root / name` for a name read from a data file, checked to be one safe component lying
    directly in `root` (InputError naming `what` otherwise)."""
    path = root / safe_name(name, what)
    if Path(os.path.normpath(path)).parent != Path(os.path.normpath(root)):
        raise InputError(f"{what} {name!r} leaves {root}; use a plain file name")
    return path
