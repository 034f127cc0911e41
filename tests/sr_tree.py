"""Reading a built SR back for tests: its content tree flattened, and dcmtk's dsr2xml as an outside check."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.dataset import Dataset


@dataclass
class Node:
    rel: str
    type: str
    name: str  # the concept name's meaning
    value: Any
    children: list[Node] = field(default_factory=list)

    def find(self, name: str) -> list[Node]:
        return [c for c in self.children if c.name == name]

    def one(self, name: str) -> Node:
        (found,) = self.find(name)
        return found

    def probabilities(self) -> dict[str, float]:
        """The NUM Probability children of a finding, by the class in their concept modifier."""
        return {p.one("Finding").value[0]: float(p.value) for p in self.find("Probability")}


def _value(item: Dataset) -> Any:
    kind = item.ValueType
    if kind == "CODE":
        code = item.ConceptCodeSequence[0]
        return (
            code.get("CodeValue") or code.get("LongCodeValue"),
            code.CodingSchemeDesignator,
            code.CodeMeaning,
        )
    if kind == "NUM":
        return item.MeasuredValueSequence[0].NumericValue
    if kind in ("IMAGE", "COMPOSITE"):
        ref = item.ReferencedSOPSequence[0]
        return (ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID, ref.get("ReferencedFrameNumber"))
    if kind == "TEXT":
        return item.TextValue
    if kind == "PNAME":
        return str(item.PersonName)
    if kind == "DATETIME":
        return item.DateTime
    if kind == "UIDREF":
        return item.UID
    return None


def tree(ds: Dataset) -> Node:
    """The document's content tree (root first)."""

    def walk(item: Dataset) -> Node:
        node = Node(
            rel=item.get("RelationshipType", ""),
            type=item.ValueType,
            name=item.ConceptNameCodeSequence[0].CodeMeaning,
            value=_value(item) if item.ValueType != "CONTAINER" else None,
        )
        node.children = [walk(child) for child in item.get("ContentSequence", [])]
        return node

    return walk(ds)


def part10(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def reread(ds: Dataset) -> Dataset:
    return pydicom.dcmread(io.BytesIO(part10(ds)))


def dsr2xml_ok(path: str) -> subprocess.CompletedProcess[str]:
    """Run dcmtk's dsr2xml on a file (the caller checks dcmtk is there)."""
    return subprocess.run(
        ["dsr2xml", path], capture_output=True, text=True, env={**os.environ, "TCP_NODELAY": "1"}, timeout=60
    )


def have_dcmtk() -> bool:
    return shutil.which("dsr2xml") is not None and shutil.which("dcmdump") is not None
