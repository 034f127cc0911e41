"""Training data: manifests, group-wise splits and a decode-once image cache.

The shipped data folders hold near-duplicates (re-encoded slices, neighbouring
slices, rotated copies of one histology tile), so train/validation are split
by a group column, stratified by class: a group never lands on both sides.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from ..datasets.split import TRAIN, groups_by_class, split_by_group
from ..decode import decode_local_file
from ..preprocessing import PreprocessSpec, prepare_uint8
from ..tasks import BUILTIN_TASKS

Row = dict[str, str]
PathLike = str | Path

#: Dataset folder -> manifest column that groups near-duplicates.
GROUP_COLUMNS = {
    "brain_mri": "dup_group",
    "lung_ct": "pseudo_patient_group",
    "histo_lung": "lc25000_clean_cluster",
}
#: DICOM modality of a task -> augmentation family (see ``augment.py``).
_AUGMENT_FAMILIES = {"MR": "mr", "CT": "ct", "SM": "histology"}
#: Dataset folder -> augmentation family, from the task registry's modality.
MODALITIES = {t.data_folder: _AUGMENT_FAMILIES[t.modality] for t in BUILTIN_TASKS if t.data_folder}
#: Dataset folder -> task key used on model cards (``oncocore.tasks``: histo_lung trains "histology").
CARD_TASKS = {t.data_folder: t.key for t in BUILTIN_TASKS if t.data_folder}


def read_manifest(data_dir: PathLike) -> list[Row]:
    """Read ``<data_dir>/MANIFEST.tsv``.

    Returns:
        One dict per row (all values str) plus ``"abs_path"``, the image path
        resolved against ``data_dir``.

    Raises:
        FileNotFoundError: No manifest.
        ValueError: Missing ``path``/``class`` columns or empty manifest.
    """
    root = Path(data_dir)
    path = root / "MANIFEST.tsv"
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        missing = {"path", "class"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        rows = [dict(r, abs_path=str(root / r["path"])) for r in reader]
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def manifest_digest(rows: Sequence[Row]) -> str:
    """SHA-256 over (path, class, sha1) of the rows, to reference the data on cards."""
    h = hashlib.sha256()
    for r in sorted(rows, key=lambda r: r["path"]):
        h.update(f"{r['path']}\t{r['class']}\t{r.get('sha1', '')}\n".encode())
    return h.hexdigest()


def _group_key(r: Row, group_col: str) -> str:
    # An empty group id would merge unrelated images; give them their own group.
    return r[group_col] or f"__row__{r['path']}"


def _groups_by_class(rows: Sequence[Row], group_col: str) -> dict[str, list[tuple[str, int]]]:
    """class -> sorted [(group, size)], each group filed under its majority class."""
    if any(group_col not in r for r in rows):
        raise ValueError(f"group column {group_col!r} missing from manifest rows")
    return groups_by_class((r["class"], _group_key(r, group_col)) for r in rows)


def group_split(
    rows: Sequence[Row], group_col: str, val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Row], list[Row]]:
    """Split rows into train/validation by group, stratified by class.

    :func:`oncocore.datasets.split.split_by_group` with no test side: each
    group is filed under its majority class; per class, groups are shuffled
    (seeded) and moved to validation while the class's validation image count
    stays within ``val_fraction`` of its total (at least one group per class
    always goes, the smallest if none fits).

    Args:
        rows: Manifest rows with ``class`` and ``group_col``.
        group_col: Column whose equal values must stay together.
        val_fraction: Target share of each class in validation, in (0, 1).
        seed: Shuffle seed; the split is a pure function of rows and seed.

    Returns:
        ``(train_rows, val_rows)``, each in manifest order. No group appears in
        both; every class appears in both.

    Raises:
        ValueError: Bad fraction, a class with fewer than two groups, or a
            class left out of one side.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if any(group_col not in r for r in rows):
        raise ValueError(f"group column {group_col!r} missing from manifest rows")
    sides = split_by_group(
        [(r["class"], _group_key(r, group_col)) for r in rows],
        val_fraction=val_fraction,
        test_fraction=0.0,
        seed=seed,
    )
    train = [r for r, side in zip(rows, sides, strict=True) if side == TRAIN]
    val = [r for r, side in zip(rows, sides, strict=True) if side != TRAIN]
    return train, val


def card_dataset(card: Any) -> str:
    """Data folder a model card was trained on (``training_data.dataset``, else from its task).

    Raises:
        ValueError: Neither names a known data folder.
    """
    key = card.training_data.get("dataset")
    if key in GROUP_COLUMNS:
        return key
    spec = card.task_spec()
    if spec is not None and spec.data_folder:
        return spec.data_folder
    raise ValueError(f"{card.name}: cannot tell which data folder the card was trained on")


def card_validation_rows(card: Any, data_root: PathLike) -> tuple[str, list[Row]]:
    """The group-held-out validation rows a card's metrics were measured on.

    Args:
        card: A :class:`oncocore.registry.ModelCard`.
        data_root: Folder holding the data folders (``../shared/data``).

    Returns:
        ``(data folder name, validation rows)``.

    Raises:
        ValueError: Unknown data folder, another manifest, or another split size.
    """
    key = card_dataset(card)
    return key, card_split_rows(card, Path(data_root) / key)


def card_split_rows(card: Any, data_dir: PathLike) -> list[Row]:
    """The validation rows of ``data_dir`` under the card's split, checked against the card.

    Rebuilds the split from the card (group column, validation fraction,
    split seed) and checks the manifest digest and image count it records.

    Raises:
        ValueError: Another manifest, or another split size.
    """
    td = card.training_data
    rows = read_manifest(data_dir)
    if td.get("manifest_sha256") and manifest_digest(rows) != td["manifest_sha256"]:
        raise ValueError(f"{card.name}: {data_dir} manifest differs from the one the card records")
    group_col = td.get("group_column", GROUP_COLUMNS[card_dataset(card)])
    _, val = group_split(rows, group_col, float(td.get("val_fraction", 0.2)), int(td.get("split_seed", 0)))
    if td.get("n_val") is not None and len(val) != int(td["n_val"]):
        raise ValueError(f"{card.name}: split gives {len(val)} validation images, card says {td['n_val']}")
    return val


def limit_per_class(rows: Sequence[Row], per_class: int, group_col: str, seed: int = 0) -> list[Row]:
    """Keep about ``per_class`` images per class, taking whole groups (smoke runs).

    Groups are taken smallest first (shuffled among equals), at least two per
    class, so even tiny subsets stay splittable.
    """
    rng = random.Random(seed)
    keep: set[str] = set()
    for _cls, groups in sorted(_groups_by_class(rows, group_col).items()):
        order = groups[:]
        rng.shuffle(order)
        order.sort(key=lambda gn: gn[1])
        taken = 0
        for i, (g, n) in enumerate(order):
            if taken >= per_class and i >= 2:  # >= 2 groups so the subset stays splittable
                break
            keep.add(g)
            taken += n
    return [r for r in rows if _group_key(r, group_col) in keep]


class CachedImageDataset(Dataset):
    """Images decoded and preprocessed (stage A) once, held as one uint8 tensor.

    ``images`` is (N, C, S, S) uint8 (224 px: ~50 KB per grayscale image), so a
    whole dataset fits in RAM or GPU memory and epochs cost no decoding.
    Augmentation and normalisation happen per batch (see ``train.py``).
    """

    def __init__(
        self,
        rows: Sequence[Row],
        spec: PreprocessSpec,
        class_names: Sequence[str],
        *,
        num_workers: int = 4,
        cache_file: PathLike | None = None,
    ) -> None:
        """Decode ``rows`` (or load them from ``cache_file`` when it matches).

        Args:
            rows: Manifest rows with ``abs_path`` and ``class``.
            spec: Preprocessing; stage A of it is applied here.
            class_names: Label order; every row's class must be in it.
            num_workers: Decoding threads.
            cache_file: Optional ``.pt`` file reused when rows and spec match.
        """
        self.rows = list(rows)
        self.spec = spec
        self.class_names = list(class_names)
        index = {c: i for i, c in enumerate(self.class_names)}
        unknown = {r["class"] for r in self.rows} - set(index)
        if unknown:
            raise ValueError(f"rows have classes not in class_names: {sorted(unknown)}")
        self.targets = torch.tensor([index[r["class"]] for r in self.rows], dtype=torch.int64)  # (N,)
        key = hashlib.sha256(
            json.dumps([spec.to_dict(), [(r["path"], r.get("sha1", "")) for r in self.rows]]).encode()
        ).hexdigest()
        if cache_file is not None and Path(cache_file).is_file():
            cached = torch.load(cache_file, map_location="cpu", weights_only=True)
            if cached.get("key") == key:
                self.images = cached["images"]
                return
        with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
            tensors = list(pool.map(self._decode, self.rows))
        self.images = (
            torch.stack(tensors)
            if tensors
            else torch.empty((0, spec.channels, spec.input_size, spec.input_size), dtype=torch.uint8)
        )  # (N, C, S, S)
        if cache_file is not None:
            torch.save({"key": key, "images": self.images}, cache_file)

    def _decode(self, row: Row) -> torch.Tensor:
        # Exactly the serving path: decode (JPEG/PNG, or DICOM as the intake does) then stage A.
        try:
            return prepare_uint8(decode_local_file(Path(row["abs_path"]), self.spec), self.spec)[0]
        except (OSError, ValueError) as exc:
            raise ValueError(f"{row['abs_path']}: {exc}") from exc

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """Return (uint8 (C, S, S), class index)."""
        return self.images[i], int(self.targets[i])

    def to(self, device: str | torch.device) -> CachedImageDataset:
        """Move the cache (images and targets) to ``device``, in place."""
        self.images, self.targets = self.images.to(device), self.targets.to(device)
        return self

    def class_counts(self) -> list[int]:
        """Images per class, in ``class_names`` order."""
        return torch.bincount(self.targets.cpu(), minlength=len(self.class_names)).tolist()


class BatchLoader:
    """Batches straight from a :class:`CachedImageDataset` (no worker processes).

    Yields ``(uint8 (B, C, S, S), int64 (B,))`` on ``device``. With
    ``balanced=True`` it samples with replacement, inversely to class frequency.
    """

    def __init__(
        self,
        dataset: CachedImageDataset,
        batch_size: int,
        *,
        shuffle: bool = False,
        balanced: bool = False,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.ds, self.batch_size, self.shuffle, self.balanced = dataset, batch_size, shuffle, balanced
        self.device = torch.device(device)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)  # CPU: indices are cheap

    def set_epoch(self, epoch: int) -> None:
        """Reseed from (seed, epoch) so a resumed run replays the same order."""
        self.generator.manual_seed(self.seed * 100_003 + epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.ds) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.ds)
        if self.balanced:
            counts = torch.tensor(self.ds.class_counts(), dtype=torch.float64).clamp_min(1)
            weights = (1.0 / counts)[self.ds.targets.cpu()]  # (N,)
            order = torch.multinomial(weights, n, replacement=True, generator=self.generator)
        elif self.shuffle:
            order = torch.randperm(n, generator=self.generator)
        else:
            order = torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size].to(self.ds.images.device)
            yield (
                self.ds.images[idx].to(self.device, non_blocking=True),
                self.ds.targets[idx].to(self.device, non_blocking=True),
            )
