"""The model input of a stored image: its file read from storage and decoded by ``oncocore.scoring``."""

from __future__ import annotations

import numpy as np
from django.core.files.storage import default_storage

from cases.models import Image, ImageKind
from oncocore.preprocessing import PreprocessSpec
from oncocore.scoring import model_input


def serving_array(image: Image, spec: PreprocessSpec) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3), or raw values when the spec windows them itself.

    Raises:
        ValueError: The stored file cannot be decoded.
        FileNotFoundError: The stored file is gone.
    """
    with default_storage.open(image.file.name) as fh:
        data = fh.read()
    return model_input(data, dicom=image.kind != ImageKind.IMAGE, spec=spec, frame=image.key_frame)
