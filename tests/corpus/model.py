"""The corpus's records: a file input and a whole-request input, and what must become of each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Expect = Literal["reject", "accept", "either", "mixed"]
ENTRY_POINTS = ("web", "cli", "api", "stow", "dimse")


@dataclass(frozen=True)
class HostileInput:
    """One file of the corpus.

    ``filename`` is what the upload (or the file on disk) is called: ``bytes`` for a
    name that is not UTF-8. ``disk`` makes it a CLI-only input that is not a plain file
    (``symlink-out``, ``symlink-dangling``, ``symlink-loop``, ``symlink-dir``, ``fifo``).
    ``reason_has`` is a word the refusal must give (lower case), when one is certain.
    ``known`` maps an entry point (or ``*``) to a known bug that fails it today, for an
    ``xfail(strict=True)`` that turns into a failure once the bug is fixed (none is known now).
    """

    name: str
    category: str
    data: bytes
    expect: Expect
    filename: str | bytes | None = None
    reason_has: str = ""
    disk: str = ""
    known: dict[str, str] = field(default_factory=dict)
    entry_points: tuple[str, ...] = ENTRY_POINTS

    @property
    def upload_name(self) -> str | bytes:
        return self.filename if self.filename is not None else self.name.rsplit("/", 1)[-1]

    def known_bug(self, entry_point: str) -> str:
        return self.known.get(entry_point) or self.known.get("*", "")


@dataclass(frozen=True)
class HostileRequest:
    """A whole HTTP request body for the upload endpoints (``web``, ``api``, ``stow``).

    ``content_length`` overrides the header (a body that lies about its size);
    every one must be answered 4xx with nothing stored.
    """

    name: str
    body: bytes
    content_type: str
    targets: tuple[str, ...]
    content_length: int | None = None
    reason_has: str = ""
    category: str = "multipart"
    known: dict[str, str] = field(default_factory=dict)
