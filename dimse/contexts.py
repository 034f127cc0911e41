"""What the listener negotiates: the image storage SOP classes, the transfer syntaxes it decodes, and its status codes."""

from __future__ import annotations

from pydicom import uid as dicom_uid
from pydicom.pixels import get_decoder
from pynetdicom import sop_class as sop

VERIFICATION = "1.2.840.10008.1.1"  # the Verification SOP Class (C-ECHO)
STATUS_SUCCESS = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700  # Refused: Out of Resources
STATUS_CANNOT_UNDERSTAND = 0xC000  # Error: Cannot understand

NATIVE_SYNTAXES = [
    dicom_uid.ExplicitVRLittleEndian,
    dicom_uid.ImplicitVRLittleEndian,
    dicom_uid.DeflatedExplicitVRLittleEndian,
    dicom_uid.ExplicitVRBigEndian,
]
_COMPRESSED = [
    dicom_uid.JPEGBaseline8Bit,
    dicom_uid.JPEGExtended12Bit,
    dicom_uid.JPEGLossless,
    dicom_uid.JPEGLosslessSV1,
    dicom_uid.JPEGLSLossless,
    dicom_uid.JPEGLSNearLossless,
    dicom_uid.JPEG2000Lossless,
    dicom_uid.JPEG2000,
    dicom_uid.HTJ2KLossless,
    dicom_uid.HTJ2KLosslessRPCL,
    dicom_uid.HTJ2K,
    dicom_uid.RLELossless,
]


def _decodable(syntax: str) -> bool:
    try:
        return bool(get_decoder(syntax).is_available)
    except NotImplementedError:
        return False


def transfer_syntaxes() -> list[str]:
    """The native syntaxes, then every compressed one an installed pydicom plugin decodes."""
    return [*NATIVE_SYNTAXES, *(ts for ts in _COMPRESSED if _decodable(ts))]


def image_storage_classes() -> dict[str, str]:
    """Name -> UID of the image storage SOP classes (not video: MPEG/H.264 are not decoded)."""
    return {
        name: str(uid)
        for name, uid in sop._STORAGE_CLASSES.items()
        if "ImageStorage" in name and not name.startswith("Video")
    }
