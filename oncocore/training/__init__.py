"""Training, evaluation and export of OncoPortal classifiers (no Django).

Entry points: ``python -m oncocore.training.train`` (also under ``torchrun``:
DistributedDataParallel, see ``distributed.py``) and
``python -m oncocore.training.evaluate``. ``train`` reads data folders and
exported snapshots (``sources.py``), fine-tunes bundles (``finetune.py``),
takes named recipes (``recipes.py``) and keeps a progress file (``progress.py``);
docs/training.md describes them.
"""
