"""One line, not a traceback, when the configuration is wrong at start-up.

``manage.py``, the WSGI/ASGI applications and the Celery app load the settings
through :func:`load_settings_or_exit`: an ``ImproperlyConfigured`` raised by
``oncoportal.env`` (a missing, malformed or weak variable) is printed as one
line naming the variable, and the process exits with status 2.
"""

from __future__ import annotations

import sys

from django.core.exceptions import ImproperlyConfigured

EXIT_CONFIGURATION = 2


def load_settings_or_exit() -> None:
    """Import the settings now; on a configuration error print one line and exit."""
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018  (touching a setting imports the settings module)
    except ImproperlyConfigured as exc:
        print(f"oncoportal: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIGURATION) from None
