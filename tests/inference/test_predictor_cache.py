"""The worker's loaded ensembles: a small LRU keyed by members and weights."""

from __future__ import annotations

import pytest

from inference import scoring
from inference.services import model_version_register
from oncocore.predictor import Predictor
from tests.inference.conftest import trained_random_bundle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_cached_predictors():
    scoring._predictors.clear()
    yield
    scoring._predictors.clear()


@pytest.fixture
def loads(mocker):
    """Counts the Predictors predictor_for builds (each one loads weights from disk)."""
    return mocker.patch.object(scoring, "Predictor", wraps=Predictor)


def _version(tmp_path, name):
    folder = tmp_path / name
    trained_random_bundle(folder, f"2026.11.{name}")  # a version of its own per bundle
    version, _ = model_version_register(bundle_dir=folder)
    return version


def test_two_ensembles_taking_turns_are_loaded_once_each(tmp_path, loads):
    clinical, shadow = _version(tmp_path, "a"), _version(tmp_path, "b")
    for _ in range(3):  # clinical predictions interleaved with a shadow run
        first = scoring.predictor_for([clinical])
        second = scoring.predictor_for([shadow])
    assert loads.call_count == 2
    assert scoring.predictor_for([clinical]) is first and scoring.predictor_for([shadow]) is second


def test_new_ensemble_weights_load_a_new_predictor(tmp_path, loads):
    lead, other = _version(tmp_path, "a"), _version(tmp_path, "b")
    before = scoring.predictor_for([lead, other])
    lead.weight = 3.0  # a promotion re-weights the ensemble
    lead.save(update_fields=["weight"])
    after = scoring.predictor_for([lead, other])
    assert loads.call_count == 2 and after is not before
    assert [m.weight for m in after.members] == [0.75, 0.25]


def test_the_least_recently_used_ensemble_is_dropped(tmp_path, loads, settings):
    settings.PREDICTOR_CACHE_SIZE = 2
    a, b, c = (_version(tmp_path, n) for n in "abc")
    scoring.predictor_for([a])
    scoring.predictor_for([b])
    scoring.predictor_for([a])  # a is now the most recent: c evicts b
    scoring.predictor_for([c])
    assert loads.call_count == 3
    scoring.predictor_for([a])
    assert loads.call_count == 3
    scoring.predictor_for([b])
    assert loads.call_count == 4 and len(scoring._predictors) == 2
