"""Image files, streamed only after a permission check (media is never served by URL)."""

from __future__ import annotations

from dataclasses import asdict

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from cases.models import Image, ImageKind
from cases.selectors import image_for_user
from cases.views.access import AuthenticatedHttpRequest, ui_view
from cases.views.case import header_rows
from oncocore.imaging import Rejected
from oncocore.imaging.pixels import FramePixels, dicom_frame_pixels, plain_image_pixels

# Renderings never change once written (a re-render gets a new storage
# prefix), so the browser may keep them; "private" keeps shared caches out.
IMAGE_CACHE_CONTROL = "private, max-age=3600"


def _visible_image(request: AuthenticatedHttpRequest, pk: int) -> Image:
    try:
        return image_for_user(user=request.user, image_id=pk)
    except Image.DoesNotExist:
        raise Http404("No such image.") from None


def stored_png(name: str, *, missing: str = "This rendering is not available.") -> FileResponse:
    """A stored PNG as a privately cacheable response; 404 with ``missing`` when the name is empty or the file gone."""
    if not name:
        raise Http404(missing)
    try:
        handle = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404(missing) from None
    response = FileResponse(handle, content_type="image/png")
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


@require_GET
@ui_view
def image_thumbnail(request: AuthenticatedHttpRequest, pk: int) -> FileResponse:
    """The image's thumbnail PNG; 404 unless the user may see its case."""
    return stored_png(_visible_image(request, pk).thumbnail.name)


@require_GET
@ui_view
def image_frame(request: AuthenticatedHttpRequest, pk: int, frame: int) -> FileResponse:
    """One frame's display PNG (frames count from 0); 404 for a frame out of range or a case the user may not see."""
    image = _visible_image(request, pk)
    if not 0 <= frame < image.frames:
        raise Http404("No such frame.")
    return stored_png(image.display_name(frame))


def _stored_window(image: Image) -> tuple[float, float] | None:
    if image.window_center is None or image.window_width is None:
        return None
    return image.window_center, image.window_width


def _decode(image: Image, frame: int) -> FramePixels:
    try:
        with default_storage.open(image.file.name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Http404("The stored image file is missing.") from None
    try:
        if image.kind == ImageKind.DICOM:
            return dicom_frame_pixels(data, frame=frame, stored_window=_stored_window(image))
        return plain_image_pixels(data, stored_window=_stored_window(image))
    except Rejected:
        # It decoded at intake; the viewer falls back to the display PNG.
        raise Http404("The pixel values of this frame are not available.") from None


def _number(value: float) -> str:
    return f"{value:.6g}"


@require_GET
@ui_view
def image_pixels(request: AuthenticatedHttpRequest, pk: int, frame: int) -> HttpResponse:
    """One frame's values (modality values, or RGB) as little-endian binary for the viewer; 404 like image_frame.

    Rows are in order, samples interleaved. The headers say how to read and show them:
    X-Rows, X-Columns, X-Samples, X-Dtype (uint8, int16, uint16, int32 or float32),
    X-Photometric and X-Monochrome1 (1: invert), X-Window-Center/-Width (suggested),
    X-Value-Min/-Max (finite values only).
    """
    image = _visible_image(request, pk)
    if not 0 <= frame < image.frames:
        raise Http404("No such frame.")
    pixels = _decode(image, frame)
    low, high = pixels.value_range()
    response = HttpResponse(pixels.to_bytes(), content_type="application/octet-stream")
    response["X-Rows"] = str(pixels.rows)
    response["X-Columns"] = str(pixels.cols)
    response["X-Samples"] = str(pixels.samples)
    response["X-Dtype"] = pixels.dtype
    response["X-Photometric"] = pixels.photometric
    response["X-Monochrome1"] = "1" if pixels.photometric == "MONOCHROME1" else "0"
    response["X-Window-Center"] = _number(pixels.window[0])
    response["X-Window-Width"] = _number(pixels.window[1])
    response["X-Value-Min"] = _number(low)
    response["X-Value-Max"] = _number(high)
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


@require_GET
@ui_view
def image_header(request: AuthenticatedHttpRequest, pk: int) -> JsonResponse:
    """The image's de-identified header as ``{"image": id, "rows": [{tag, name, value}, ...]}``; 404 like the files."""
    image = _visible_image(request, pk)
    response = JsonResponse({"image": image.pk, "rows": [asdict(row) for row in header_rows(image.header)]})
    response["Cache-Control"] = IMAGE_CACHE_CONTROL  # the stored header never changes
    return response
