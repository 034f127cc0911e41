"""Signals other apps listen to, so `cases` never imports them.

``images_ingested`` is sent after the intake transaction commits, once per
batch, with ``case_ids``: the cases that received new images. The inference
app queues predictions for them.

``case_event`` is sent after a transaction commits, once per case, when a case
reaches a moment outside systems may want to hear about, with ``event`` (one
of ``cases.services.events.CASE_EVENTS``), ``case_id`` and ``detail`` (a
JSON-ready dict). The api app turns it into webhook deliveries. Send it only
through ``cases.services.events.case_event_send``.

``study_instance_stored`` is sent by the intake INSIDE its transaction, once
per stored DICOM instance, after the Study row is created or found and before
the Image row, with ``study``, ``created`` (the study is new) and ``identity``
(the original header's identity, ``oncocore.imaging.identity``: in memory
only, never to be logged). A receiver returns a list of warnings for the
upload report (no patient data in them); an exception it raises rolls the
instance back. The results app keeps the identity, encrypted, for sites with a
result destination.

``task_from_image`` is sent by the intake when neither the uploader nor the
header rules gave a new study a task, with ``data`` (the stored file's bytes)
and ``dicom`` (a DICOM file, else a plain image). A receiver returns the key
of the task the image looks like, or None; the inference app answers from
its models' input suitability checks (``inference.image_routing``).
"""

from django.dispatch import Signal

images_ingested = Signal()
case_task_changed = Signal()
case_event = Signal()
study_instance_stored = Signal()
task_from_image = Signal()
