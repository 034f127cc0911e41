"""Login throttling (django-axes): the settings, kept out of settings.py.

After ``ONCOPORTAL_LOGIN_FAILURE_LIMIT`` wrong passwords (default 5) for one
username, that username is locked for ``ONCOPORTAL_LOGIN_LOCKOUT_MINUTES``
(default 15): every sign-in of it is refused with a clear page (HTTP 429),
even with the right password, on the sign-in page and the admin's alike. The
lock is per username, not per address: behind a hospital proxy every client
can share one address, and a per-address lock would shut out the whole ward.
Each failure and each lockout is in the audit trail (``cases.services.sign_in``).
An administrator unlocks early with ``manage.py axes_reset_username <name>``
(or ``axes_reset`` for all).
"""

from __future__ import annotations

from datetime import timedelta

from oncoportal.env import env_int

AXES_FAILURE_LIMIT = env_int("ONCOPORTAL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ONCOPORTAL_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True  # a right password before the limit starts the count again
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # our audit trail records the events; no console chatter per failure

AUTHENTICATION_BACKENDS = [
    # First, so a locked username is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# axes.W006 warns that a lock without 'ip_address' can be dodged by rotating user agents or
# cookies. The lock here is on the username an attacker guesses at, which rotating neither
# changes; adding the address would let a ward behind one proxy lock each other out.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
