"""OncoPortal's Django-free core: everything that runs with no database, web stack or broker.

- ``imaging``: DICOM and image sniffing, limits, de-identification, decoding and rendering.
- ``nets``, ``preprocessing``, ``decode``, ``predictor``, ``saliency``: serving a model.
- ``registry`` and ``model_card``: bundles (weights + model card) on disk.
- ``training``: the training, evaluation and calibration scripts.

Nothing here imports Django, the ``cases`` or ``inference`` apps, or Celery;
``tests/oncocore/test_import_hygiene.py`` walks the package and enforces it.
"""
