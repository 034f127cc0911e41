"""The shipped models' input suitability checks, measured on a small fixed set of real images.

The full figures (bench/ood.py, docs/models.md "Input suitability") are, per
model: at most 1 % of its own validation images wrongly flagged, and 98-100 %
of the other tasks' images and 99-100 % of the non-brain-MR, non-chest-CT
DICOM samples flagged. On this small set the same two shares are computed and
held to bounds those figures leave room for: at most one own image in twelve
flagged (0.083), and at least 90 % of the foreign images flagged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oncocore.decode import dicom_model_input
from oncocore.predictor import Predictor
from oncocore.training.data import GROUP_COLUMNS, card_dataset, card_split_rows, group_split, read_manifest

from .conftest import DATA_DIR, REPO

pytestmark = pytest.mark.slow

BUNDLES = ["brain_mri-lite0", "lung_ct-cpu", "histology-cpu"]
PER_SOURCE = 6
OWN = 12
# Not brain MR, chest CT or histology: a head CT, a CT scout, a pancreas CT, a shoulder MR,
# an abdominal MR, ultrasound, a radiograph, colour secondary captures, a drawn test pattern.
DICOM = [
    "pydicom/dicomdirtests/77654033/CT2/17106",
    "pydicom/dicomdirtests/98892001/CT2N/6293",
    "pydicom-data/explicit_VR-UN.dcm",
    "pydicom-data/MR2_UNCI.dcm",
    "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm",
    "pydicom/ExplVR_BigEnd.dcm",
    "pydicom-data/RG1_J2KI.dcm",
    "pydicom/SC_rgb_jpeg.dcm",
    "pydicom-data/SC_rgb.dcm",
    "pydicom-data/vlut_04.dcm",
]
MAX_OWN_FLAGGED = 1 / OWN
MIN_FOREIGN_FLAGGED = 0.9


def spread(rows: list, n: int) -> list:
    """``n`` rows evenly spread over ``rows`` (a fixed pick across classes and groups)."""
    return [rows[int(i)] for i in np.linspace(0, len(rows) - 1, n)]


@pytest.mark.parametrize("name", BUNDLES)
def test_the_check_flags_foreign_images_and_spares_the_models_own(name, require_data):
    for folder in GROUP_COLUMNS:
        require_data(folder)
    if not (DATA_DIR / "dicom" / "MANIFEST.tsv").is_file():
        pytest.skip("DICOM samples missing")
    predictor = Predictor(REPO / "inference" / "bundles" / name, device="cpu", batch_size=8)
    card = predictor.cards[0]
    assert predictor.check is not None, f"{name} ships without a suitability check"
    own_folder = card_dataset(card)
    own = [r["abs_path"] for r in spread(card_split_rows(card, DATA_DIR / own_folder), OWN)]
    foreign: list[object] = []
    for folder, column in GROUP_COLUMNS.items():
        if folder != own_folder:
            val = group_split(read_manifest(DATA_DIR / folder), column)[1]
            foreign += [r["abs_path"] for r in spread(val, PER_SOURCE)]
    spec = card.preprocessing
    foreign += [
        dicom_model_input(Path(DATA_DIR / "dicom" / f).read_bytes(), frame=None, spec=spec) for f in DICOM
    ]

    own_flagged = np.mean([r.in_scope is False for r in predictor.predict_sources(own, saliency=False)])
    foreign_flagged = np.mean(
        [r.in_scope is False for r in predictor.predict_sources(foreign, saliency=False)]
    )

    assert own_flagged <= MAX_OWN_FLAGGED, f"{name}: {own_flagged:.3f} of its own validation images flagged"
    assert foreign_flagged >= MIN_FOREIGN_FLAGGED, (
        f"{name}: only {foreign_flagged:.3f} of foreign images flagged"
    )
