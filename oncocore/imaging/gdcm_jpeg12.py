"""pydicom decoder plugin: 12-bit JPEG Extended (1.2.840.10008.1.2.4.51) through GDCM.

pydicom's own GDCM plugin refuses 12-bit JPEG Extended, and the only other
12-bit JPEG decoder for pydicom (pylibjpeg-libjpeg) is GPL, which we do not
ship. python-gdcm (BSD) bundles IJG libjpeg built for 8, 12 and 16 bits and
decodes these streams correctly (it retries with the 12-bit codec after the
8-bit one refuses; that first attempt prints "Unsupported JPEG data precision
12" on native stderr, which :mod:`.decoder_log` moves to the debug log). This module follows pydicom's plugin
interface (``is_available``, ``DECODER_DEPENDENCIES``, a frame decode function)
and is registered as a fallback by :func:`register`.
"""

from __future__ import annotations

from pydicom import uid
from pydicom.pixels.decoders.base import DecodeRunner

try:
    import gdcm

    HAVE_GDCM = True
except ImportError:  # pragma: no cover - python-gdcm is a hard requirement in production
    HAVE_GDCM = False

PLUGIN_LABEL = "oncoportal-gdcm-jpeg12"
DECODER_DEPENDENCIES = {uid.JPEGExtended12Bit: ("python-gdcm",)}


def is_available(transfer_syntax: str) -> bool:
    return HAVE_GDCM and transfer_syntax == uid.JPEGExtended12Bit


def decode_frame(src: bytes, runner: DecodeRunner) -> bytes:
    """Decode one JPEG Extended frame with more than 8 bits per sample."""
    if runner.bits_stored <= 8:
        # 8-bit streams are handled by the standard plugins; let them report errors.
        raise NotImplementedError("only used for JPEG Extended with more than 8 bits per sample")
    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(src)
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    elem = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    elem.SetValue(fragments.__ref__())

    img = gdcm.Image()
    img.SetNumberOfDimensions(2)
    img.SetDimensions((runner.columns, runner.rows, 1))
    img.SetDataElement(elem)
    pi_type = gdcm.PhotometricInterpretation.GetPIType(str(runner.photometric_interpretation))
    img.SetPhotometricInterpretation(gdcm.PhotometricInterpretation(pi_type))
    if runner.samples_per_pixel > 1:
        img.SetPlanarConfiguration(runner.planar_configuration)
    img.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(str(uid.JPEGExtended12Bit))))
    img.SetPixelFormat(
        gdcm.PixelFormat(
            runner.samples_per_pixel,
            runner.bits_allocated,
            runner.bits_stored,
            runner.bits_stored - 1,
            runner.pixel_representation,
        )
    )
    buffer = img.GetBuffer()
    if buffer is None:
        raise RuntimeError("GDCM could not decode the 12-bit JPEG stream")
    # GDCM returns char* as str; undo that without touching the bytes.
    frame = buffer.encode("utf-8", "surrogateescape")
    expected = runner.rows * runner.columns * runner.samples_per_pixel * (runner.bits_allocated // 8)
    if len(frame) != expected:
        raise RuntimeError(f"GDCM returned {len(frame)} bytes for a {expected}-byte frame")
    return frame


def register() -> None:
    """Add this plugin to pydicom's JPEG Extended decoder, once per process."""
    from pydicom.pixels.decoders import JPEGExtended12BitDecoder

    if (
        PLUGIN_LABEL in JPEGExtended12BitDecoder._available
        or PLUGIN_LABEL in JPEGExtended12BitDecoder._unavailable
    ):
        return
    JPEGExtended12BitDecoder.add_plugin(PLUGIN_LABEL, (__name__, "decode_frame"))
