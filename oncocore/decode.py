"""Bytes to the array a model is served, decoded exactly as training decoded its images.

Plain images go through ``preprocessing.load_image`` (the training decoder).
DICOM is decoded by the intake's own frame decoder to real values (modality
LUT applied) and, for models trained on 8-bit display images, turned into one
the same way those were made: a CT window in Hounsfield units, percentile
windowing otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from oncocore.imaging import Rejected
from oncocore.imaging.dicom_io import has_dicom_preamble, looks_like_bare_dataset
from oncocore.imaging.dicom_pixels import frame_values
from oncocore.preprocessing import PreprocessSpec, load_image, to_uint8_display

_LUMA = np.array([0.299, 0.587, 0.114])


def dicom_model_input(data: bytes, *, frame: int | None, spec: PreprocessSpec) -> np.ndarray:
    """The model input for one frame of a DICOM file (``None``: the middle frame)."""
    try:
        values, photometric, modality = frame_values(data, frame=frame)
    except Rejected as exc:
        raise ValueError(exc.reason) from None
    if values.ndim == 3:  # colour
        rgb = values if values.dtype == np.uint8 else to_uint8_display(values)
        return rgb if spec.channels == 3 else np.rint(rgb @ _LUMA).astype(np.uint8)
    values = values.astype(np.float32)
    if photometric == "MONOCHROME1":
        values = values.max() + values.min() - values  # display convention: high = bright
    if spec.intensity != "display":
        return values
    window = (spec.window_center, spec.window_width) if modality == "CT" else None
    gray = to_uint8_display(values, window=window, percentiles=(spec.percentile_low, spec.percentile_high))
    return gray if spec.channels == 1 else np.repeat(gray[..., None], 3, axis=2)


def decode_local_file(path: Path, spec: PreprocessSpec) -> np.ndarray:
    """The model input array for a file on disk (CLI try-out): DICOM or an image.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Neither a decodable DICOM image nor an image.
    """
    data = Path(path).read_bytes()
    if has_dicom_preamble(data) or looks_like_bare_dataset(data):
        return dicom_model_input(data, frame=None, spec=spec)
    return load_image(data, spec.channels)
