"""Valid files under hostile names: not UTF-8, very long, markup, control and bidi characters.

The content is a valid MR image each time (its own UIDs), so the only thing under test
is the name: every one must be stored, and every page that shows the name must stay up.
STOW-RS and DIMSE carry no file names, so these go through the web, the API and the CLI.
"""

from __future__ import annotations

from tests.corpus.dicom_inputs import Seed, fresh
from tests.corpus.model import HostileInput


def names(seeds: dict[str, Seed]) -> list[HostileInput]:
    seed = seeds["mr-explicit"]
    cases: list[tuple[str, str | bytes, str, tuple[str, ...], dict[str, str]]] = [
        # (label, name, expect, entry points, known)
        (
            "latin1-bytes",
            "Müller_Jürgen.dcm".encode("latin-1"),
            "accept",
            ("web", "api", "cli"),
            {},
        ),
        (
            "invalid-utf8",
            b"\xff\xfe\xfd-\xc3\x28.dcm",
            "accept",
            ("web", "api", "cli"),
            {},
        ),
        ("long-255", "a" * 251 + ".dcm", "accept", ("web", "api", "cli"), {}),
        # Django refuses a multipart part header over 1 KiB: a 400 ("malformed or too large") is fair.
        ("long-1000", "b" * 996 + ".dcm", "either", ("web", "api"), {}),
        ("long-10000", "c" * 9996 + ".dcm", "either", ("web", "api"), {}),
        ("deep-folder", "/".join(["d" * 50] * 40) + "/x.dcm", "accept", ("cli",), {}),
        ("script-tag", "<script>alert(1)</script>.dcm", "accept", ("web", "api", "cli"), {}),
        ("quote-and-semicolon", 'x";filename=evil.sh;.dcm', "either", ("web", "api"), {}),
        ("crlf", "a\r\nContent-Type: text/html\r\n\r\n<b>x</b>.dcm", "either", ("web", "api"), {}),
        ("nul", "a\x00b.dcm", "either", ("web", "api"), {}),
        ("bidi-override", "scan\u202egnp.dcm", "accept", ("web", "api", "cli"), {}),
        ("emoji-and-cjk", "🩻肺部扫描.dcm", "accept", ("web", "api", "cli"), {}),
        ("windows-reserved", "CON.dcm", "accept", ("web", "api", "cli"), {}),
        ("only-dots", "..", "either", ("web", "api"), {}),
        ("empty", "", "either", ("web", "api"), {}),
        ("spaces-only", "   ", "either", ("web", "api"), {}),
    ]
    return [
        HostileInput(
            name=f"names/{label}",
            category="names",
            data=fresh(seed, f"names/{label}"),
            expect=expect,  # type: ignore[arg-type]
            filename=name,
            entry_points=entry_points,
            known=known,
        )
        for label, name, expect, entry_points, known in cases
    ]
