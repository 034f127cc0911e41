"""The array a model is served: the stored file decoded exactly as training decoded its images.

Plain images go through ``preprocessing.load_image`` (the training decoder).
DICOM is decoded to real values (modality LUT applied) and, for models
trained on 8-bit display images, turned into one the same way those were
made: a CT window in Hounsfield units, percentile windowing otherwise.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from django.core.files.storage import default_storage
from pydicom.pixels import apply_modality_lut

from cases.models import Image, ImageKind
from inference.preprocessing import PreprocessSpec, load_image, to_uint8_display


def serving_array(image: Image, spec: PreprocessSpec) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3), or raw values when the spec windows them itself.

    Raises:
        ValueError: The stored file cannot be decoded.
        FileNotFoundError: The stored file is gone.
    """
    with default_storage.open(image.file.name) as fh:
        data = fh.read()
    if image.kind == ImageKind.IMAGE:
        return load_image(data, spec.channels)
    return dicom_model_input(data, frame=image.key_frame, spec=spec)


def dicom_model_input(data: bytes, *, frame: int | None, spec: PreprocessSpec) -> np.ndarray:
    """The model input for one frame of a DICOM file (``None``: the middle frame)."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        if "PixelData" not in ds:
            raise ValueError("no pixel data")
        if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
            # Files without file meta: pydicom knows how it parsed them.
            ds.file_meta = ds.get("file_meta", pydicom.dataset.FileMetaDataset())
            ds.file_meta.TransferSyntaxUID = (
                pydicom.uid.ImplicitVRLittleEndian if ds.is_implicit_VR else
                pydicom.uid.ExplicitVRLittleEndian if ds.is_little_endian else pydicom.uid.ExplicitVRBigEndian
            )
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for bad pixel data
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    colour = int(getattr(ds, "SamplesPerPixel", 1)) == 3
    if frames > 1:
        pixels = pixels[frames // 2 if frame is None else min(frame, frames - 1)]
    if colour:
        rgb = pixels if pixels.dtype == np.uint8 else to_uint8_display(pixels)
        return rgb if spec.channels == 3 else np.asarray(
            np.rint(rgb @ np.array([0.299, 0.587, 0.114])), dtype=np.uint8
        )
    values = apply_modality_lut(pixels, ds).astype(np.float32)
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        values = values.max() + values.min() - values  # display convention: high = bright
    if spec.intensity != "display":
        return values
    modality = str(getattr(ds, "Modality", ""))
    window = (spec.window_center, spec.window_width) if modality == "CT" else None
    gray = to_uint8_display(values, window=window, percentiles=(spec.percentile_low, spec.percentile_high))
    return gray if spec.channels == 1 else np.repeat(gray[..., None], 3, axis=2)


def is_dicom_bytes(data: bytes) -> bool:
    """Part 10 files carry 'DICM' at offset 128; files without file meta are tried by parsing."""
    if data[128:132] == b"DICM":
        return True
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
    except Exception:
        return False
    return "SOPClassUID" in ds or "PixelData" in ds or "Rows" in ds


def decode_local_file(path: Path, spec: PreprocessSpec) -> np.ndarray:
    """The model input array for a file on disk (CLI try-out): DICOM or an image.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Neither a decodable DICOM file nor an image.
    """
    data = Path(path).read_bytes()
    if is_dicom_bytes(data):
        return dicom_model_input(data, frame=None, spec=spec)
    return load_image(data, spec.channels)
