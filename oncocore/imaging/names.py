"""Neutral file names: what an uploaded file is called once it is inside the platform.

An uploaded file's own name is often the patient's (``DOE_JOHN_19450101.png``),
so it is never stored, logged or shown back: every file of an upload is
called ``file-NNN`` plus a known image or archive extension, by its position
in the upload (zip entries counted in archive order).
"""

from __future__ import annotations

from pathlib import PurePosixPath

__all__ = ["neutral_name", "scrub_name"]

# Extensions worth keeping (they say what the file is); any other suffix could be text.
_EXTENSIONS = frozenset(
    {".dcm", ".dicom", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".zip"}
)


def neutral_name(position: int, original: str) -> str:
    """'file-003.png' for the third file of an upload whatever it was called (e.g. 'DOE_JOHN.png')."""
    suffix = PurePosixPath(original.replace("\\", "/")).suffix.lower()
    return f"file-{position:03d}{suffix if suffix in _EXTENSIONS else ''}"


def scrub_name(text: str, original: str, neutral: str) -> str:
    """``text`` (a rejection reason) with the original name and its path parts replaced.

    Reasons come from the archive reader and the decoders (a zip library's error
    may quote an entry's name). Parts shorter than 3 characters are left alone:
    replacing 'a' or 'CT' would mangle the reason's own words.
    """
    parts = [p for p in original.replace("\\", "/").split("/") if p]
    # Longest first, so a path is replaced whole before its parts are.
    for needle in sorted({original, *parts}, key=len, reverse=True):
        if len(needle) >= 3:
            text = text.replace(needle, neutral)
    return text
