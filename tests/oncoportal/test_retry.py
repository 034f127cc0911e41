"""The retry schedule both delivery kinds share, and its environment parsing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from oncoportal.env import env_seconds
from oncoportal.retry import retry_wait


def test_each_failure_waits_the_next_wait_and_the_last_gives_up():
    schedule = [30.0, 120.0]
    assert [retry_wait(n, schedule) for n in (1, 2, 3)] == [30.0, 120.0, None]


def test_a_schedule_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ONCOPORTAL_RESULTS_RETRIES", " 0.5, 60 ,")
    assert env_seconds("ONCOPORTAL_RESULTS_RETRIES", ["1"]) == [0.5, 60.0]
    monkeypatch.delenv("ONCOPORTAL_RESULTS_RETRIES")
    assert env_seconds("ONCOPORTAL_RESULTS_RETRIES", ["1", "2"]) == [1.0, 2.0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("30,soon", "ONCOPORTAL_RESULTS_RETRIES: expected seconds, comma-separated"),
        ("30,-5", "ONCOPORTAL_RESULTS_RETRIES: a wait cannot be negative"),
    ],
)
def test_a_bad_schedule_is_one_clear_line(monkeypatch, value, message):
    monkeypatch.setenv("ONCOPORTAL_RESULTS_RETRIES", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_seconds("ONCOPORTAL_RESULTS_RETRIES", [])
