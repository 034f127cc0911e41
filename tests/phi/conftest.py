"""The DICOMweb tokens and clients, for the canary test's API and STOW-RS uploads."""

from tests.dicomweb.conftest import make_token, token_client

__all__ = ["make_token", "token_client"]
