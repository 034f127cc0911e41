"""Image files, streamed only after a permission check (media is never served by URL)."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from cases.models import Image
from cases.selectors import image_for_user
from cases.views.access import ui_view

# Renderings never change once written (a re-render gets a new storage
# prefix), so the browser may keep them; "private" keeps shared caches out.
IMAGE_CACHE_CONTROL = "private, max-age=3600"


def _visible_image(request: HttpRequest, pk: int) -> Image:
    try:
        return image_for_user(user=request.user, image_id=pk)  # type: ignore[arg-type]
    except Image.DoesNotExist:
        raise Http404("No such image.") from None


def _png(name: str) -> FileResponse:
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404("This rendering is not available.") from None
    response = FileResponse(handle, content_type="image/png")
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


@require_GET
@ui_view
def image_thumbnail(request: HttpRequest, pk: int) -> FileResponse:
    """The image's thumbnail PNG; 404 unless the user may see its case."""
    return _png(_visible_image(request, pk).thumbnail.name)


@require_GET
@ui_view
def image_frame(request: HttpRequest, pk: int, frame: int) -> FileResponse:
    """One frame's display PNG (frames count from 0); 404 for a frame out of range or a case the user may not see."""
    image = _visible_image(request, pk)
    if not 0 <= frame < image.frames:
        raise Http404("No such frame.")
    return _png(image.display_name(frame))
