"""OncoPortal imaging intake: uploaded bytes -> de-identified, validated, rendered files.

Django-free on purpose: the Django side calls only the names exported here.

    for item in expand_upload(name, data, limits):
        if isinstance(item, SourceRejected): record(item.name, item.reason); continue
        try:
            prepared = prepare(item, limits=limits, deid=DeidOptions(), pseudonym_key=key)
        except Rejected as exc:
            record(item.name, exc.reason)
"""

from .archive import SourceFile, SourceRejected, expand_upload
from .deid import DeidOptions, deidentify, pseudonym_for
from .disk import expand_path
from .errors import Rejected
from .limits import Limits
from .names import neutral_name, scrub_name
from .prepare import Prepared, prepare, routing_header_of
from .render import PRESETS, choose_window, png_bytes, render_frame, thumbnail_png

__all__ = [
    "PRESETS",
    "DeidOptions",
    "Limits",
    "Prepared",
    "Rejected",
    "SourceFile",
    "SourceRejected",
    "choose_window",
    "deidentify",
    "expand_path",
    "expand_upload",
    "neutral_name",
    "png_bytes",
    "prepare",
    "pseudonym_for",
    "render_frame",
    "routing_header_of",
    "scrub_name",
    "thumbnail_png",
]
