"""No existence oracle: a foreign object is refused exactly as one that does not exist."""

from __future__ import annotations

import re

# A path segment that names an object: a number, a UUID, or a DICOM UID (with a .png/.json suffix at most).
# Longest form first: a UUID or a UID starts with digits that ``\d+`` alone would stop at.
_ID = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9]+(?:\.[0-9]+)+|\d+)"
    r"(?:\.(?:png|json))?$"
)


def masked(text: str, path: str) -> str:
    """The body with the ids its path names replaced by ``<id>`` (so two bodies compare modulo the id)."""
    text = text.replace(path.split("?")[0], "<path>")
    # Per response, not per object: the CSP nonce and the CSRF token a page's forms carry.
    text = re.sub(r'nonce="[^"]*"', 'nonce=""', text)
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken" value=""', text)
    for segment in path.split("?")[0].split("/"):
        found = _ID.match(segment)
        if found:
            # Whole tokens only: an id of 8 must not turn the page's "utf-8" into "utf-<id>".
            text = re.sub(rf"(?<![\w.-]){re.escape(found.group(1))}(?![\w.-])", "<id>", text)
    return text


def oracle_problems(foreign: tuple[int, str, str], missing: tuple[int, str, str]) -> list[str]:
    """(status, body, path) of the foreign and of the missing call: the same status, the same body modulo the id."""
    found = []
    f_status, f_text, f_path = foreign
    m_status, m_text, m_path = missing
    if f_status != m_status:
        found.append(f"existence oracle: a foreign object is {f_status}, a missing one {m_status}")
    elif masked(f_text, f_path) != masked(m_text, m_path):
        one, two = masked(f_text, f_path), masked(m_text, m_path)
        at = next(
            (i for i, (a, b) in enumerate(zip(one, two, strict=False)) if a != b), min(len(one), len(two))
        )
        found.append(
            "existence oracle: the foreign and the missing object's bodies differ at "
            f"{one[max(0, at - 60) : at + 60]!r} vs {two[max(0, at - 60) : at + 60]!r}"
        )
    return found
