"""The DICOMweb tokens and clients, and the DIMSE listener, for the canary tests."""

from tests.dicomweb.conftest import make_token, token_client
from tests.dimse.conftest import spool_root, start_listener

__all__ = ["make_token", "spool_root", "start_listener", "token_client"]
