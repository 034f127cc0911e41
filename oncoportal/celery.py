"""The Celery application: `celery -A oncoportal worker -Q default` (and `-Q inference` on GPU nodes)."""

import os

from celery import Celery

from oncoportal.startup import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncoportal.settings")
load_settings_or_exit()  # a configuration error is one line, not a traceback

app = Celery("oncoportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs: object) -> None:
    # kombu's filesystem transport expects its folders to exist.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)
