#!/usr/bin/env python3
"""Pack training data small enough for the GPU machine (the ``device`` tool).

Only the git working tree travels to that machine, 64 MiB in all with the
ignored paths named in ``carry``, and at most 16 MiB per file comes back.
``../shared/data`` does not travel, so this script writes ``.pack/<folder>/``:
the same layout as the data folder (``MANIFEST.tsv`` copied byte for byte,
images at the same relative paths, so the group split is identical), with
every image larger than ``--max-side`` downscaled and re-encoded as JPEG
(grayscale tasks stored as grayscale, as ``load_image`` reads them). Images
that already fit (the 224 px histology tiles) are copied unchanged.

Usage (Django-free; our venv here, the device's ``python3`` there)::

    .venv/bin/python scripts/gpu_pack.py brain_mri lung_ct histo_lung   # -> .pack/<folder>/

``--quality auto`` (default) takes the best JPEG quality for which the folder
stays within ``--budget-mib`` and one device call still fits: tracked repo +
folder + wheels + one shrunk checkpoint (``--checkpoint-mib``) <= ``--travel-mib``.
Checkpoints that travel are made small by ``scripts/gpu_checkpoint.py``: float16
weights without AdamW's moment estimates (a ResNet-10 checkpoint: ~59 MB to
~9.8 MB); resuming from one restarts the moments, everything else continues.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MIB = 1 << 20
QUALITY_LADDER = (92, 90, 85, 80, 75, 70, 65, 60, 55, 50)
SAMPLE = 200  # images encoded per quality to estimate a folder's size


class PackError(Exception):
    """A one-line reason why packing stopped."""


def _repo_imports() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


# --------------------------------------------------------------------------- packing


def repo_travel_bytes(repo: Path = REPO) -> int:
    """Bytes of tracked plus untracked-not-ignored files: what every device call sends."""
    try:
        names = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        return 0
    total = 0
    for name in filter(None, names):
        p = repo / os.fsdecode(name)
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _prepare(src: Path, channels: int, max_side: int) -> tuple[bytes | None, Any, bool]:
    """Return (original bytes if it can travel unchanged, else None; resized PIL image; resized?)."""
    from PIL import Image

    from oncocore.preprocessing import load_image

    target_mode = "L" if channels == 1 else "RGB"
    with Image.open(src) as img:
        fits = max(img.size) <= max_side
        if fits and img.format == "JPEG" and img.mode == target_mode and img.getexif().get(0x0112, 1) == 1:
            return src.read_bytes(), None, False
    # Exactly the training decode (EXIF orientation, 16-bit scaling, L/RGB), then a downscale.
    im = Image.fromarray(load_image(src, channels))
    w, h = im.size
    if max(w, h) > max_side:
        s = max_side / max(w, h)
        im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
        return None, im, True
    return None, im, False


def _encode(im: Any, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def verify_split(src: Path, dst: Path, folder: str, seeds: list[int], val_fraction: float) -> str:
    """Check that the pack gives the same manifest digest and group split as the source.

    Raises:
        PackError: A manifest image is missing from the pack, or a split differs.
    """
    _repo_imports()
    from oncocore.training.data import GROUP_COLUMNS, group_split, manifest_digest, read_manifest

    a, b = read_manifest(src), read_manifest(dst)
    missing = [r["path"] for r in b if not Path(r["abs_path"]).is_file()]
    if missing:
        raise PackError(f"{dst}: {len(missing)} manifest image(s) missing, e.g. {missing[0]}")
    if manifest_digest(a) != manifest_digest(b):
        raise PackError(f"{dst}: manifest digest differs from {src}")
    col = GROUP_COLUMNS[folder]
    for seed in seeds:
        ta, va = group_split(a, col, val_fraction, seed)
        tb, vb = group_split(b, col, val_fraction, seed)
        if [r["path"] for r in ta] != [r["path"] for r in tb] or [r["path"] for r in va] != [
            r["path"] for r in vb
        ]:
            raise PackError(f"{dst}: group split (seed {seed}) differs from {src}")
    return f"split identical (seed {','.join(map(str, seeds))}: train {len(ta)} / val {len(va)})"


def pack_folder(
    src: Path,
    dst: Path,
    folder: str,
    *,
    max_side: int,
    quality: int | None,
    target_bytes: int,
    jobs: int,
    log: Callable[..., None] = print,
) -> dict[str, Any]:
    """Write ``dst`` from ``src`` (see module doc); returns a summary dict.

    Args:
        quality: JPEG quality, or None to pick the best that keeps the folder
            within ``target_bytes``.
        target_bytes: Size the whole folder must stay within.

    Raises:
        PackError: No manifest, an unreadable image, or the folder over ``target_bytes``.
    """
    _repo_imports()
    from oncocore.preprocessing import PreprocessSpec
    from oncocore.training.data import read_manifest

    if not (src / "MANIFEST.tsv").is_file():
        raise PackError(f"{src}: no MANIFEST.tsv")
    rows = read_manifest(src)
    channels = PreprocessSpec.for_task(folder).channels
    t0 = time.monotonic()

    def prepare(row: dict[str, str]) -> tuple[str, bytes | None, Any, bool]:
        try:
            return (row["path"], *_prepare(Path(row["abs_path"]), channels, max_side))
        except (OSError, ValueError) as exc:
            raise PackError(f"{row['abs_path']}: {exc}") from exc

    items, step = [], max(1, len(rows) // 10)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for i, item in enumerate(pool.map(prepare, rows), 1):
            items.append(item)
            if i % step == 0 or i == len(rows):
                log(f"  {folder}: decoded {i}/{len(rows)}", flush=True)
    extras = [
        p for p in src.iterdir() if p.is_file() and p.suffix.lower() in (".tsv", ".md", ".txt", ".json")
    ]
    fixed = sum(len(b) for _, b, _, _ in items if b is not None) + sum(p.stat().st_size for p in extras)
    todo = [(rel, im) for rel, b, im, _ in items if b is None]

    def encode_all(q: int, subset: list[tuple[str, Any]]) -> list[bytes]:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return list(pool.map(lambda it: _encode(it[1], q), subset))

    ladder = [quality] if quality is not None else list(QUALITY_LADDER)
    if quality is None and todo:  # estimate from a spread-out sample, then verify on all
        sample = todo[:: max(1, len(todo) // SAMPLE)]
        for q in list(ladder):
            est = fixed + sum(map(len, encode_all(q, sample))) * len(todo) / len(sample)
            if est * 1.02 <= target_bytes or q == ladder[-1]:
                ladder = ladder[ladder.index(q) :]
                break
    chosen, encoded = None, []
    for q in ladder if todo else []:
        encoded = encode_all(q, todo)
        if fixed + sum(map(len, encoded)) <= target_bytes:
            chosen = q
            break
    if not todo and fixed <= target_bytes:
        chosen = quality  # nothing to re-encode: record the quality asked for (None: none was)
    total = fixed + sum(map(len, encoded))
    if chosen is None and total > target_bytes:
        raise PackError(
            f"{folder}: {_mib(total)} at quality {ladder[-1]}, over the {_mib(target_bytes)} allowed "
            f"(--budget-mib / travel); lower --max-side or --quality"
        )

    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    data = dict(zip((rel for rel, _ in todo), encoded, strict=True))
    for rel, raw, _, _ in items:
        out = tmp / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(raw if raw is not None else data[rel])
    for p in extras:
        shutil.copy2(p, tmp / p.name)
    summary = {
        "folder": folder,
        "source": str(src),
        "images": len(items),
        "resized": sum(1 for *_, r in items if r),
        "reencoded": len(todo),
        "copied": len(items) - len(todo),
        "max_side": max_side,
        "quality": chosen,
        "mode": "L" if channels == 1 else "RGB",
        "seconds": round(time.monotonic() - t0, 1),
    }
    (tmp / "PACK.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    summary["bytes"] = dir_bytes(tmp)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    return summary


def download_wheels(specs: list[str], dest: Path, log: Callable[..., None] = print) -> None:
    """``pip download`` wheels for the device (CPython 3.12, manylinux x86-64, no deps)."""
    dest.mkdir(parents=True, exist_ok=True)
    if not specs:
        return
    plats = [
        "manylinux_2_28_x86_64",
        "manylinux_2_27_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux1_x86_64",
    ]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version"]
    cmd += ["3.12", "--implementation", "cp", *[a for p in plats for a in ("--platform", p)], "-d", str(dest)]
    log(f"wheels: pip download {' '.join(specs)}")
    if subprocess.run([*cmd, *specs]).returncode:
        raise PackError(f"pip download failed for {' '.join(specs)}")


def pack_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="gpu_pack.py",
        description="Write .pack/<folder>/ (downscaled data) for the GPU machine; "
        "checkpoints: scripts/gpu_checkpoint.py.",
    )
    p.add_argument("folders", nargs="+", help="data folders: brain_mri, lung_ct, histo_lung")
    p.add_argument(
        "--data-dir", default=os.environ.get("ONCOPORTAL_DATA_DIR", str(REPO.parent / "shared" / "data"))
    )
    p.add_argument("--out", default=str(REPO / ".pack"), help="pack root (default: .pack, git-ignored)")
    p.add_argument(
        "--max-side", type=int, default=320, help="downscale images whose longest side exceeds this"
    )
    p.add_argument("--quality", default="auto", help="JPEG quality 1-95, or auto (best that fits; default)")
    p.add_argument("--budget-mib", type=float, default=60.0, help="fail if a folder is larger")
    p.add_argument("--travel-mib", type=float, default=64.0, help="device call limit (0: no travel check)")
    p.add_argument(
        "--checkpoint-mib", type=float, default=10.0, help="room kept for a carried shrunk checkpoint"
    )
    p.add_argument("--wheel", action="append", default=[], help="pip spec to carry as a wheel (repeatable)")
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="decode/encode threads")
    p.add_argument("--seeds", default="0", help="split seeds to verify, comma-separated")
    p.add_argument("--val-fraction", type=float, default=0.2, help="split fraction to verify")
    a = p.parse_args(argv)
    _repo_imports()
    from oncocore.training.data import GROUP_COLUMNS

    try:
        unknown = sorted(set(a.folders) - set(GROUP_COLUMNS))
        if unknown:
            raise PackError(f"unknown folder(s) {unknown}; choose from {sorted(GROUP_COLUMNS)}")
        quality = None if a.quality == "auto" else int(a.quality)
        if quality is not None and not 1 <= quality <= 95:
            raise PackError(f"--quality must be 1-95 or auto, got {quality}")
        root = Path(a.out)
        download_wheels(a.wheel, root / "wheels")
        wheels = dir_bytes(root / "wheels")
        repo = repo_travel_bytes() if a.travel_mib > 0 else 0
        budget = int(a.budget_mib * MIB)
        room = int((a.travel_mib - a.checkpoint_mib) * MIB) - repo - wheels if a.travel_mib > 0 else budget
        if a.travel_mib > 0:
            print(
                f"travel: repo {_mib(repo)} + wheels {_mib(wheels)} + checkpoint {a.checkpoint_mib:.1f} MiB"
            )
        for folder in a.folders:
            src, dst = Path(a.data_dir) / folder, root / folder
            target = min(budget, room)
            if target <= 0:
                raise PackError(
                    f"{folder}: no room left under --travel-mib {a.travel_mib:g} (repo {_mib(repo)})"
                )
            s = pack_folder(
                src, dst, folder, max_side=a.max_side, quality=quality, target_bytes=target, jobs=a.jobs
            )
            check = verify_split(src, dst, folder, [int(x) for x in a.seeds.split(",")], a.val_fraction)
            call = repo + wheels + s["bytes"] + int(a.checkpoint_mib * MIB)
            print(
                f"{folder}: {_mib(s['bytes'])} in {dst} ({s['images']} images: {s['resized']} downscaled to "
                f"<= {s['max_side']} px, {s['reencoded']} re-encoded as JPEG"
                + (f" quality {s['quality']}" if s["reencoded"] else "")
                + f", {s['copied']} copied unchanged); {check}"
                + (f"; a resuming call carries ~{_mib(call)} of {a.travel_mib:g}" if a.travel_mib > 0 else "")
            )
    except PackError as exc:
        print(f"gpu_pack: error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return pack_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
