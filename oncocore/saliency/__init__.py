"""Grad-CAM saliency maps and their PNG renderings.

The serving path computes Grad-CAM at the target layer's own resolution
(:func:`gradcam_lowres`: a 160 px ResNet gives a 5 x 5 map) and keeps it that
way, as a :class:`SaliencyMap` (the cells plus the preprocessing
:class:`~oncocore.preprocessing.Geometry`). :meth:`SaliencyMap.render` turns it
into the full-resolution map of the original image when someone looks at it,
the same map :func:`gradcam` + :func:`cam_to_original` give (upsample to the
model input, rescale, undo letterbox and crop).

:func:`gradcam` (``pytorch_grad_cam.GradCAM``, maps at the model input's
S x S) stays as the reference the low-resolution path is tested against.

The package: :mod:`.gradcam` computes maps, :mod:`.maps` stores and renders them.
"""

from .gradcam import gradcam, gradcam_lowres
from .maps import (
    SaliencyMap,
    cam_to_original,
    cam_to_png16,
    input_rescaling,
    overlay_png,
    png16_to_cam,
    rescale_to_input,
)
from .maps import _colormap_lut as _colormap_lut  # the viewer test compares its JavaScript copy with it

__all__ = [
    "SaliencyMap",
    "cam_to_original",
    "cam_to_png16",
    "gradcam",
    "gradcam_lowres",
    "input_rescaling",
    "overlay_png",
    "png16_to_cam",
    "rescale_to_input",
]
