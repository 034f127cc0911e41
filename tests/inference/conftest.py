"""Inference tests share the root fixtures (random_bundle, random_model, brain_case)."""

from tests.conftest import BRAIN_CLASSES

__all__ = ["BRAIN_CLASSES"]
