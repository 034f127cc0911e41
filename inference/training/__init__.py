"""Training, evaluation and export of OncoPortal classifiers (no Django).

Entry points: ``python -m inference.training.train`` and
``python -m inference.training.evaluate``.
"""
