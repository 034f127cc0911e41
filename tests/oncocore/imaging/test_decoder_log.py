"""Decoder fallbacks that succeed are silent: pydicom's plugin tracebacks and GDCM's native stderr go to debug."""

from __future__ import annotations

import io
import logging

import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

from oncocore.imaging import Rejected, decoder_log
from oncocore.imaging.dicom_pixels import frame_values

from .conftest import require_data

LOGGER = "oncocore.imaging.decoder_log"


@pytest.fixture
def debug_log(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


def test_a_12_bit_jpeg_decoded_on_the_second_try_prints_nothing(debug_log, capfd):
    data = (require_data("dicom") / "pydicom" / "JPEG-lossy.dcm").read_bytes()

    values, photometric, _ = frame_values(data)

    assert values.shape == (1024, 256) and photometric == "MONOCHROME2"
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # not even GDCM's native line
    messages = [r.getMessage() for r in debug_log.records if r.name == LOGGER]
    assert any(m.startswith("decoder plugin failed: GDCM does not support 'JPEG Extended'") for m in messages)
    assert any(
        "oncoportal-gdcm-jpeg12 wrote on stderr: Unsupported JPEG data precision 12" in m for m in messages
    )
    # Nothing above debug, and no traceback, from pydicom's loggers.
    assert not [r for r in debug_log.records if r.name.startswith("pydicom")]
    assert all(
        r.levelno == logging.DEBUG and r.exc_info is None for r in debug_log.records if r.name == LOGGER
    )


def _j2k_no_plugin_decodes() -> bytes:
    """JPEG2000.dcm with its SIZ marker's tile height (YTsiz) set to 0.

    The image size in SIZ still matches the header, so the codestream check lets it
    through, and every plugin then fails on it (GDCM says so on native stderr).
    """
    ds = pydicom.dcmread(require_data("dicom") / "pydicom" / "JPEG2000.dcm")
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[:28] + bytes(4) + frame[32:]])  # SOC, SIZ: Lsiz..YTOsiz; YTsiz at 28
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def test_a_file_no_plugin_decodes_is_one_rejection_and_no_traceback(debug_log, capfd):
    data = _j2k_no_plugin_decodes()

    with pytest.raises(
        Rejected, match=r"could not decode pixel data \(JPEG 2000 Image Compression\): pylibjpeg"
    ):
        frame_values(data)

    assert capfd.readouterr() == ("", "")
    messages = [r.getMessage() for r in debug_log.records if r.name == LOGGER]
    assert any("plugin gdcm wrote on stderr: Error with SIZ marker: invalid tile size" in m for m in messages)
    assert sum(m.startswith("decoder plugin failed: ") for m in messages) == 3  # gdcm, pylibjpeg, pillow


def test_pydicom_reading_warnings_go_to_debug_and_real_errors_stay(debug_log):
    pydicom_logger = logging.getLogger("pydicom")
    pydicom_logger.warning("Invalid value for VR UI: 'x'")
    pydicom_logger.error("something pydicom could not do")

    ours = [r for r in debug_log.records if r.name == LOGGER]
    assert [(r.levelno, r.getMessage()) for r in ours] == [
        (logging.DEBUG, "pydicom: Invalid value for VR UI: 'x'")
    ]
    kept = [r for r in debug_log.records if r.name == "pydicom"]
    assert [(r.levelno, r.getMessage()) for r in kept] == [(logging.ERROR, "something pydicom could not do")]


def test_install_is_idempotent_and_wraps_each_gdcm_plugin_once():
    from pydicom.pixels.decoders.base import _PIXEL_DATA_DECODERS

    before = {
        (uid, label): func
        for uid, (decoder, _) in _PIXEL_DATA_DECODERS.items()
        for label, func in decoder._available.items()
    }
    decoder_log.install()
    decoder_log.install()
    after = {
        (uid, label): func
        for uid, (decoder, _) in _PIXEL_DATA_DECODERS.items()
        for label, func in decoder._available.items()
    }
    assert after == before
    wrapped = [key for key, func in after.items() if getattr(func, "_oncoportal_stderr_to_debug", False)]
    assert {label for _, label in wrapped} == set(decoder_log.GDCM_PLUGINS)
    assert all(label in decoder_log.GDCM_PLUGINS for _, label in wrapped)
    assert sum(f is decoder_log._filter for f in logging.getLogger("pydicom").filters) == 1
