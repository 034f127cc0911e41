#!/bin/sh
# Web container: apply migrations, register the bundled models, serve with gunicorn.
set -eu
python manage.py migrate --noinput
python manage.py setup_roles
python manage.py register_models --activate-missing
exec gunicorn oncoportal.wsgi:application \
    --bind 0.0.0.0:8000 --workers "${WEB_WORKERS:-4}" --timeout "${WEB_TIMEOUT:-300}" \
    --access-logfile - --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
