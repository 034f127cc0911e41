"""Logging filters named in settings.LOGGING."""

from __future__ import annotations

import logging


class ForbiddenOneLine(logging.Filter):
    """A 403 is an answer, not a fault: Django's ``django.request`` warning for one keeps its
    line (method, path) but drops the traceback it would carry."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
