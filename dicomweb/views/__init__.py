"""DICOMweb endpoints: STOW-RS, QIDO-RS and WADO-RS (docs/dicomweb.md). Thin: parse, call, answer.

They share the REST API's authentication (bearer tokens with scopes, or the
browser's session), permission class, throttling and error body, but are left
out of its OpenAPI schema: PS3.18 and the conformance statement describe them.
"""

from dicomweb.views.retrieve import (
    FramesView,
    InstanceView,
    MetadataView,
    RenderedView,
    SeriesView,
)
from dicomweb.views.search import AllSeriesView, InstancesView, StudiesView, StudySeriesView, StudyView

__all__ = [
    "AllSeriesView",
    "FramesView",
    "InstanceView",
    "InstancesView",
    "MetadataView",
    "RenderedView",
    "SeriesView",
    "StudiesView",
    "StudySeriesView",
    "StudyView",
]
