"""Training, evaluation and export of OncoPortal classifiers (no Django).

Entry points: ``python -m oncocore.training.train`` and
``python -m oncocore.training.evaluate``.
"""
