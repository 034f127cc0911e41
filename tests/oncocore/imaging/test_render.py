"""Rendering: windows, presets, rescale, MONOCHROME1, colour, thumbnails."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image

from oncocore.imaging import PRESETS, DeidOptions, Prepared, SourceFile, choose_window, prepare, render_frame
from oncocore.imaging.dicom_io import read_geometry
from oncocore.imaging.dicom_pixels import modality_values
from oncocore.imaging.render import png_bytes, thumbnail_png

KEY = b"render-tests"


def _prepare(data: bytes, limits, name: str = "x.dcm") -> Prepared:
    return prepare(SourceFile(name, data), limits=limits, deid=DeidOptions(), pseudonym_key=KEY)


def _gradient(dtype=np.uint16, lo: int = 0, hi: int = 4000) -> np.ndarray:
    return np.linspace(lo, hi, 32 * 48).reshape(32, 48).astype(dtype)


def test_linear_voi_function_matches_dicom_definition():
    frame = np.array([[-1000, -160, 40, 240, 3000]], dtype=np.float32)
    out = render_frame(frame, window=(40, 400), photometric="MONOCHROME2")
    # PS3.3 C.11.2.1.2.1: below c-0.5-(w-1)/2 -> 0, above c-0.5+(w-1)/2 -> 255.
    assert out.tolist() == [[0, 0, 128, 255, 255]]
    assert out.dtype == np.uint8


def test_monochrome1_is_inverted_monochrome2(make_dicom, limits, png_array):
    pixels = _gradient()
    mono2 = _prepare(make_dicom(pixels, modality="MR", rescale=None, photometric="MONOCHROME2"), limits)
    mono1 = _prepare(make_dicom(pixels, modality="MR", rescale=None, photometric="MONOCHROME1"), limits)
    a, b = png_array(mono2.display_pngs[0]).astype(int), png_array(mono1.display_pngs[0]).astype(int)
    assert a.std() > 50
    assert np.array_equal(a, 255 - b)


def test_rescale_gives_hounsfield_units(make_dicom, limits, data_path):
    # Stored 24 with intercept -1024 is air at -1000 HU: black in the mediastinal window.
    pixels = np.full((16, 16), 24, np.uint16)
    pixels[4:12, 4:12] = 1064  # +40 HU: the centre of the mediastinal window
    p = _prepare(make_dicom(pixels, rescale=(1.0, -1024.0)), limits)
    assert p.window == PRESETS["ct_mediastinum"]
    img = np.asarray(Image.open(io.BytesIO(p.display_pngs[0])))
    assert img[0, 0] == 0 and img[8, 8] == 128

    ds = pydicom.dcmread(data_path("dicom/pydicom/CT_small.dcm"))
    hu = modality_values(ds.pixel_array, ds, read_geometry(ds, limits), 0)
    assert -1100 < float(hu.min()) < -800  # air (noisy, partly cropped) around -1000 HU
    assert float(ds.pixel_array.min()) != float(hu.min())  # the intercept was applied


def test_file_window_is_used(make_dicom, limits, prepare_sample, data_path):
    p = _prepare(make_dicom(_gradient(), rescale=(1.0, -1024.0), window=(300, 1500)), limits)
    assert p.window == (300.0, 1500.0)
    data_path("dicom/MANIFEST.tsv")
    assert prepare_sample("pydicom/MR_small.dcm").window == (600.0, 1600.0)


@pytest.mark.parametrize(
    "body_part, preset",
    [
        ("CHEST", "ct_lung"),
        ("LUNG", "ct_lung"),
        ("THORAX", "ct_lung"),
        ("HEAD", "ct_brain"),
        ("BRAIN", "ct_brain"),
        ("ABDOMEN", "ct_mediastinum"),
        ("", "ct_mediastinum"),
    ],
)
def test_ct_presets_by_body_part(body_part, preset):
    frame = np.zeros((4, 4), np.float32)
    window = choose_window(
        frame, modality="CT", body_part=body_part, file_window=None, photometric="MONOCHROME2"
    )
    assert window == PRESETS[preset]


def test_presets_and_window_rules():
    assert PRESETS == {
        "ct_lung": (-600, 1500),
        "ct_mediastinum": (40, 400),
        "ct_brain": (40, 80),
        "ct_bone": (480, 2500),
    }
    mr = np.arange(10000, dtype=np.uint16).reshape(100, 100)
    center, width = choose_window(
        mr, modality="MR", body_part=None, file_window=None, photometric="MONOCHROME2"
    )
    assert 30 < center - width / 2 < 80 and 9920 < center + width / 2 < 9980  # 0.5-99.5 %
    assert choose_window(
        mr, modality="CT", body_part="", file_window=(10, 20), photometric="MONOCHROME2"
    ) == (10, 20)
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert choose_window(rgb, modality="US", body_part=None, file_window=None, photometric="RGB") is None
    grey8 = np.zeros((4, 4), np.uint8)
    assert (
        choose_window(grey8, modality="OT", body_part=None, file_window=None, photometric="MONOCHROME2")
        is None
    )


def test_rgb_and_ybr_render_in_colour(prepare_sample, data_path, png_array):
    data_path("dicom/MANIFEST.tsv")
    for relative in (
        "pydicom-data/SC_ybr_full_uncompressed.dcm",
        "pydicom/SC_rgb_dcmtk_+eb+cy+np.dcm",
        "pydicom-data/US1_J2KI.dcm",
        "pydicom-data/OT-PAL-8-face.dcm",
    ):
        p = prepare_sample(relative)
        assert isinstance(p, Prepared), relative
        img = png_array(p.display_pngs[0])
        assert img.ndim == 3 and img.shape[2] == 3, relative
        spread = np.abs(img[..., 0].astype(int) - img[..., 2].astype(int)).mean()
        assert spread > 5, f"{relative} looks grey"
    # YBR_FULL and its RGB original render the same (colour converted, not shown as YCbCr).
    ybr = png_array(prepare_sample("pydicom-data/SC_ybr_full_uncompressed.dcm").display_pngs[0]).astype(int)
    rgb = png_array(prepare_sample("pydicom-data/SC_rgb.dcm").display_pngs[0]).astype(int)
    assert np.abs(ybr - rgb).mean() < 1 and np.abs(ybr - rgb).max() <= 8  # YCbCr rounding


def test_multiframe_gives_one_png_per_frame(prepare_sample, data_path):
    data_path("dicom/MANIFEST.tsv")
    p = prepare_sample("pydicom/examples_ybr_color.dcm")
    assert p.frames == 30 and len(p.display_pngs) == 30
    assert len(set(p.display_pngs)) > 1  # frames differ


def test_thumbnail_and_display_sizes(limits):
    wide = np.zeros((300, 2000), np.uint8)
    assert Image.open(io.BytesIO(thumbnail_png(wide, 160))).size == (160, 24)
    tiny = np.zeros((3, 3, 3), np.uint8)
    assert Image.open(io.BytesIO(thumbnail_png(tiny, 160))).size == (160, 160)
    assert Image.open(io.BytesIO(png_bytes(wide, max_px=1024))).size == (1024, 154)
    assert Image.open(io.BytesIO(png_bytes(wide))).size == (2000, 300)


def test_enhanced_ct_uses_functional_groups(prepare_sample, data_path):
    """eCT_Supplemental keeps rescale and window in the functional groups, not at top level."""
    data_path("dicom/MANIFEST.tsv")
    p = prepare_sample("pydicom-data/eCT_Supplemental.dcm")
    assert isinstance(p, Prepared) and p.frames == 2
    assert p.window is not None and p.window != PRESETS["ct_mediastinum"]
