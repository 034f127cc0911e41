"""The LOGGING setting (kept out of settings.py): console records, one line each."""

from __future__ import annotations

from typing import Any

from oncoportal.env import env_str

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"forbidden_one_line": {"()": "oncoportal.logfilters.ForbiddenOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 403 logs one line, not a traceback (issue 23).
        "django.request": {"filters": ["forbidden_one_line"]},
        # pynetdicom logs every PDU at INFO; the listener logs what an operator needs.
        "pynetdicom": {"level": "WARNING"},
        # Pillow's debug records quote an image's metadata as it reads it (EXIF Artist,
        # text chunks): an uploaded file's identity, even at LOG_LEVEL=DEBUG, never reaches a log.
        "PIL": {"level": "INFO"},
    },
}
