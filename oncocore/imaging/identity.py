"""What re-identifies a study for the hospital's own PACS, and putting it back on a result object.

De-identification (:mod:`.deid`) replaces the patient's name and ID with a
pseudonym and empties the accession number; the UIDs are kept. A result sent
back to the PACS (an SR, a Secondary Capture) must be filed under the
hospital's own patient and order, so for a site with a result destination the
intake keeps exactly these attributes of the original header, encrypted
(``results.identity``), and a sender puts them back on the object in memory
just before it goes out. Nothing here is ever stored in clear.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydicom.dataset import Dataset

__all__ = ["IDENTITY_KEYWORDS", "identity_of", "reidentify"]

# Patient and General Study module attributes the PACS files a result under.
IDENTITY_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyDescription",
)


def identity_of(ds: Dataset) -> dict[str, str]:
    """The original header's identifying values (as text; absent or empty ones left out).

    Call on the dataset *before* it is de-identified.
    """
    identity: dict[str, str] = {}
    for keyword in IDENTITY_KEYWORDS:
        value = ds.get(keyword)
        if value is None:
            continue
        text = str(value).strip()
        if text:
            identity[keyword] = text
    return identity


def reidentify(ds: Dataset, identity: Mapping[str, str]) -> Dataset:
    """Put the original identity back on ``ds`` (in place; returns it). Unknown keys are ignored."""
    for keyword in IDENTITY_KEYWORDS:
        if keyword in identity:
            setattr(ds, keyword, identity[keyword])
    return ds
