"""Dry run from a shell: ``python -m oncocore.imaging PATH...`` prints one line per file.

Nothing is written or stored. Uses a throwaway pseudonym key (pseudonyms printed
here do not match production ones). Exit status 1 if any file was rejected.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import DeidOptions, Limits, Rejected, SourceRejected, expand_path, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oncocore.imaging", description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path, help="files, folders or zips")
    args = parser.parse_args(argv)
    limits, options, rejected = Limits(), DeidOptions(), 0
    for path in args.paths:
        for item in expand_path(path, limits):
            if isinstance(item, SourceRejected):
                print(f"REJECTED  {item.name}: {item.reason}")
                rejected += 1
                continue
            try:
                p = prepare(item, limits=limits, deid=options, pseudonym_key=b"dry-run-only")
            except Rejected as exc:
                print(f"REJECTED  {item.name}: {exc.reason}")
                rejected += 1
                continue
            what = f"{p.modality or p.kind} {p.cols}x{p.rows}x{p.frames} {p.photometric}"
            notes = f"  [{'; '.join(p.warnings)}]" if p.warnings else ""
            print(f"OK        {item.name}: {what} window={p.window}{notes}")
    return 1 if rejected else 0


if __name__ == "__main__":
    sys.exit(main())
