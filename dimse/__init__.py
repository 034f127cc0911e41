"""DICOM DIMSE in: a C-STORE listener that spools what it receives and hands whole studies to intake.

``access``, ``spool`` and ``listener`` know nothing of Django (the listener takes the
ingest step as a callable); ``ingest`` is the Django side and the management command
wires them together. See docs/dimse.md.
"""
