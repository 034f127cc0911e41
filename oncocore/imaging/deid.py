"""De-identification following DICOM PS3.15 Annex E (Basic Application Level Confidentiality Profile).

The per-attribute actions come from Table E.1-1, kept as data in
``ps315_e1_1.tsv`` (see :mod:`.deid_table`). On top of the table this module:

* replaces Patient's Name and Patient ID with a keyed pseudonym, so one patient
  links across uploads without us keeping the identity;
* removes every private attribute, every retired group length, curve groups
  (50xx) and whole overlay planes (60xx: the profile removes Overlay Data and
  Comments; a plane without its data is invalid, so the rest of it goes too);
* empties any person name (PN) the table does not list, and removes every
  public attribute unknown to the data dictionary, whatever its VR (the table
  is a deny-list; the dictionary is the allow-list of what we can judge):
  two conservative safety nets beyond the table;
* records what was done: Patient Identity Removed, De-identification Method and
  its code sequence (CID 7050), Longitudinal Temporal Information Modified.

Nested sequences are processed recursively with the same rules.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

import pydicom
from pydicom.datadict import dictionary_VR, get_entry
from pydicom.dataelem import empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .deid_table import ActionPlan, action_plan

__all__ = ["DEID_METHOD_TEXT", "DeidOptions", "deidentify", "is_own_pseudonym", "pseudonym_for"]

DEID_METHOD_TEXT = "PS3.15 E.1-1 Basic Application Confidentiality Profile"

# CID 7050 De-identification Method codes (PS3.16). 113106 is the *Full Dates* option;
# 113107 is the *Modified Dates* option, which we do not use.
_CODE_BASIC = ("113100", "Basic Application Confidentiality Profile")
_CODE_RETAIN_UIDS = ("113110", "Retain UIDs Option")
_CODE_FULL_DATES = ("113106", "Retain Longitudinal Temporal Information Full Dates Option")
_CODE_PATIENT_CHARS = ("113108", "Retain Patient Characteristics Option")

_DUMMY_TEXT = "ANONYMIZED"
_DUMMY_BY_VR: dict[str, object] = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000D",
    "IS": "0",
    "DS": "0",
    **{vr: _DUMMY_TEXT for vr in ("PN", "LO", "SH", "CS", "LT", "ST", "UT", "UC", "AE")},
    **{vr: 0 for vr in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV")},
}

_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"  # SC and multi-frame SC classes


@dataclass(frozen=True)
class DeidOptions:
    """The PS3.15 options in force. The product always retains UIDs and full dates.

    ``remove_private_tags=False`` selects the Retain Safe Private option, whose
    action is "clean"; without a per-vendor list of safe private attributes we
    cannot clean, so private attributes are removed either way.
    """

    retain_uids: bool = True  # PS3.15 Retain UIDs Option (always on in this product)
    retain_full_dates: bool = True  # Retain Longitudinal Temporal Information with Full Dates Option
    retain_patient_characteristics: bool = True  # sex, age, size, weight
    remove_private_tags: bool = True

    def option_columns(self) -> tuple[str, ...]:
        """The Table E.1-1 option columns these options enable."""
        cols = []
        if self.retain_uids:
            cols.append("retain_uids")
        if self.retain_patient_characteristics:
            cols.append("retain_patient_characteristics")
        if self.retain_full_dates:
            cols.append("retain_long_full_dates")
        if not self.remove_private_tags:
            cols.append("retain_safe_private")  # cleaning is not implemented: still removed
        return tuple(cols)

    def method_codes(self) -> list[tuple[str, str]]:
        codes = [_CODE_BASIC]
        if self.retain_uids:
            codes.append(_CODE_RETAIN_UIDS)
        if self.retain_full_dates:
            codes.append(_CODE_FULL_DATES)
        if self.retain_patient_characteristics:
            codes.append(_CODE_PATIENT_CHARS)
        return codes


def pseudonym_for(*, issuer: str, patient_id: str, key: bytes) -> str:
    """Keyed pseudonym: HMAC-SHA256(key, issuer + '\\x00' + patient_id) -> 'P' + 12 base32 chars.

    Deterministic, so the same patient (same issuer and ID) links across uploads,
    while nobody without ``key`` can recompute or reverse it. Values are used
    exactly as given; callers strip DICOM padding first.
    """
    if not key:
        raise ValueError("the pseudonym key must not be empty")
    mac = hmac.new(key, f"{issuer}\x00{patient_id}".encode(), hashlib.sha256).digest()
    return "P" + base64.b32encode(mac).decode("ascii")[:12]


_PSEUDONYM = re.compile(r"^P[A-Z2-7]{12}$")


def is_own_pseudonym(ds: Dataset, patient_id: str) -> bool:
    """True when ``ds`` was de-identified by this platform and ``patient_id`` is one of its pseudonyms.

    Such a file (a saved try-out, a re-imported export) keeps its pseudonym, so
    it links to the same patient instead of being hashed a second time. A file
    that merely claims this gains nothing an uploader could not do by sending
    the real patient ID.
    """
    return (
        str(ds.get("PatientIdentityRemoved", "")).strip().upper() == "YES"
        and str(ds.get("DeidentificationMethod", "")).strip() == DEID_METHOD_TEXT
        and bool(_PSEUDONYM.match(patient_id))
    )


def deidentify(ds: Dataset, *, pseudonym: str, options: DeidOptions) -> list[str]:
    """De-identify ``ds`` in place; return warnings for the user (e.g. 'burned-in annotation: YES').

    ``pseudonym`` replaces Patient's Name and Patient ID (``prepare`` gives a
    file without a Patient ID one keyed on its study; ``''`` leaves both
    empty). If ``ds`` carries file meta,
    its identifying attributes (AE titles, network addresses, private
    information) are removed too.
    """
    plan = action_plan(options.option_columns())
    uid_salt = f"oncoportal-uid\x00{pseudonym}"
    _walk(ds, plan, options, uid_salt)
    _clean_file_meta(ds)

    ds.PatientName = pseudonym
    ds.PatientID = pseudonym
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEID_METHOD_TEXT
    ds.DeidentificationMethodCodeSequence = Sequence(
        [_code_item(value, meaning) for value, meaning in options.method_codes()]
    )
    ds.LongitudinalTemporalInformationModified = "UNMODIFIED" if options.retain_full_dates else "REMOVED"
    return _identity_warnings(ds)


# File meta attributes that name the sending/receiving systems or carry private data.
_FILE_META_IDENTIFYING = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "SourcePresentationAddress",
    "SendingPresentationAddress",
    "ReceivingPresentationAddress",
    "PrivateInformationCreatorUID",
    "PrivateInformation",
)


def _clean_file_meta(ds: Dataset) -> None:
    """Drop identifying file meta and keep its instance UID in step with the dataset's."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        return
    for keyword in _FILE_META_IDENTIFYING:
        if keyword in meta:
            del meta[keyword]
    if "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def _vr_of(ds: Dataset, tag: int) -> str:
    """The VR of an element without converting a still-raw value.

    Implicit-VR reads leave the VR empty and some writers encode known
    attributes as UN; the data dictionary decides in both cases (pydicom applies
    the same VR when the value is converted). 'UN' remains only for attributes
    the dictionary does not know.
    """
    vr = getattr(ds.get_item(tag), "VR", None)
    if not vr or vr == "UN":
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "UN"
    return str(vr)


def _is_removed_outright(tag: int) -> bool:
    """Group lengths (retired, and wrong once we edit), curves and overlay planes."""
    group, element = tag >> 16, tag & 0xFFFF
    if element == 0x0000 and group != 0x0002:
        return True
    if group & 0xFF00 == 0x5000:  # (50xx,xxxx) curve data, removed by the profile
        return True
    return group & 0xFF00 == 0x6000 and group % 2 == 0  # overlay planes (60xx)


def _in_dictionary(tag: int) -> bool:
    """True for named attributes of pydicom's data dictionary, repeating groups included.

    The dictionary also lists a few retired numbers with no name at all
    ((0008,0202), (0018,0061), (0018,9445): "Retired-blank"); nothing says what
    they hold, so they count as unknown.
    """
    try:
        keyword = get_entry(tag)[4]
    except KeyError:
        return False
    return bool(keyword)


def _walk(ds: Dataset, plan: ActionPlan, options: DeidOptions, uid_salt: str) -> None:
    for tag in list(ds.keys()):
        if _is_removed_outright(tag):
            del ds[tag]
            continue
        action = plan.action_for(tag)
        if action == "X" or (action is not None and tag.is_private):
            # A private attribute under any option is removed: cleaning is not implemented.
            del ds[tag]
            continue
        if action is None and not _in_dictionary(tag):
            # A public attribute the data dictionary does not know (a newer edition's, or a
            # vendor's misuse of an even group, e.g. (0010,0099) LO): what it means is
            # unknown, so nothing says it is safe to keep, whatever VR it was written with.
            del ds[tag]
            continue
        vr = _vr_of(ds, tag)
        if action is None:
            if vr == "PN":
                action = "Z"  # a person name the table does not list: empty it
            elif vr == "SQ":
                action = "K"
            else:
                continue  # not identifying per the profile: keep, without even decoding it
        elem = ds[tag]
        if action == "Z" or (action == "D" and (vr == "SQ" or elem.is_empty)):
            elem.value = Sequence() if vr == "SQ" else empty_value_for_VR(vr)
        elif action == "D":
            elem.value = _dummy(vr, elem.value, uid_salt)
        elif action == "U" and vr == "UI" and not options.retain_uids:
            elem.value = _replace_uids(elem.value, uid_salt)
        if vr == "SQ" and action in ("K", "U") and elem.value:
            for item in elem.value:
                _walk(item, plan, options, uid_salt)


def _dummy(vr: str, value: object, uid_salt: str) -> object:
    if vr == "UI":
        return _replace_uids(value, uid_salt)
    if vr in _DUMMY_BY_VR:
        return _DUMMY_BY_VR[vr]
    return empty_value_for_VR(vr)  # binary and other VRs: no meaningful dummy, so empty


def _replace_uids(value: object, uid_salt: str) -> object:
    """Deterministic replacement UID(s): same original + same patient -> same new UID."""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return [_replace_uids(v, uid_salt) for v in value]
    if not value:
        return value
    # A 2.25 UID (PS3.5 B.2) from 128 bits of a hash: deterministic, unlinkable to the original.
    digest = hashlib.sha256(f"{uid_salt}\x00{value}".encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def _identity_warnings(ds: Dataset) -> list[str]:
    """Warnings about identity that may survive in the pixels themselves."""
    warnings: list[str] = []
    burned = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned == "YES":
        warnings.append("burned-in annotation: YES (text in the pixels may identify the patient)")
    elif not burned:
        sop_class = str(ds.get("SOPClassUID", "") or "")
        modality = str(ds.get("Modality", "") or "").upper()
        if sop_class.startswith(_SECONDARY_CAPTURE_PREFIX) or modality in ("US", "OT", "SC", "XC", "ES"):
            kind = "an ultrasound" if modality == "US" else "a secondary capture/photo"
            warnings.append(f"burned-in annotation: not stated for {kind} image, which often carries text")
    if str(ds.get("RecognizableVisualFeatures", "") or "").strip().upper() == "YES":
        warnings.append("recognizable visual features: YES (the image may show the face)")
    return warnings
