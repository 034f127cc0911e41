"""Signals other apps listen to, so `cases` never imports them.

``images_ingested`` is sent after the intake transaction commits, once per
batch, with ``case_ids``: the cases that received new images. The inference
app queues predictions for them.
"""

from django.dispatch import Signal

images_ingested = Signal()
case_task_changed = Signal()
