"""Task routing: which task a DICOM study is for, read from its header by ordered rules (docs/routing.md).

A rule is data: the modalities it applies to (empty: any), one header field
(``Modality``, ``BodyPartExamined``, ``StudyDescription``, ``SeriesDescription``
or ``ProtocolName``), a regular expression and the task it routes to. The
first rule, in order, whose modality set holds the study's modality and whose
pattern is found in the field routes the study. A rule may route to
:data:`~oncocore.tasks.UNASSIGNED` on purpose (a scout or a localizer is for
no model); no matching rule also gives Unassigned: never a guess.

Patterns and values are compared after :func:`normalise` (accents removed,
case folded, every run of other characters than letters and digits one
space), so ``Neuro^Crane Axial_T1`` reads ``neuro crane axial t1`` and
``Schädel`` reads ``schadel``. The Django side keeps the rules in a table
Curators edit (``cases.models.RoutingRule``) and hands them here as a list;
this module knows no Django.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from oncocore.tasks import UNASSIGNED, TaskSpec

__all__ = [
    "DECLARED_TASK_ORDER",
    "DEFAULT_RULES",
    "FIELDS",
    "Route",
    "RoutingRule",
    "keyword_rule",
    "normalise",
    "route",
    "rule_problems",
]

# The header fields a rule may read, by DICOM keyword, with what people read.
FIELDS: dict[str, str] = {
    "Modality": "Modality",
    "BodyPartExamined": "Body Part Examined",
    "StudyDescription": "Study Description",
    "SeriesDescription": "Series Description",
    "ProtocolName": "Protocol Name",
}
# Where the rule made from a declared task's keywords goes: after the default
# rules that name a body part or description, before the modality-wide ones.
DECLARED_TASK_ORDER = 500
# Values longer than this are cut (headers are read one line, 200 characters).
_MAX_VALUE = 200
_SEPARATORS = re.compile(r"[\W_]+")
_MODALITY = re.compile(r"[A-Z0-9]{1,16}")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise(value: str) -> str:
    """A header value as rules read it: no accents, case folded, words separated by one space."""
    folded = _strip_accents(value[:_MAX_VALUE]).casefold()
    return " ".join(_SEPARATORS.split(folded)).strip()


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    # Accents go as in the values; ß is the one letter casefold turns into two.
    return re.compile(_strip_accents(pattern).replace("ß", "ss"), re.IGNORECASE)


@dataclass(frozen=True)
class RoutingRule:
    """One rule: for these modalities, when ``pattern`` is found in ``field``, the study is for ``task``.

    Attributes:
        field: The header field read, a key of :data:`FIELDS`.
        pattern: A Python regular expression, searched in the normalised value.
        task: The task key routed to, or ``"unassigned"`` for "no model reads these".
        modalities: Upper-case DICOM modalities the rule applies to; empty: any.
        name: What the rule is for, shown when it decides.
        ref: The rule's id where it is stored (0 for a default not stored).
    """

    field: str
    pattern: str
    task: str
    modalities: frozenset[str] = frozenset()
    name: str = ""
    ref: int = 0

    def applies(self, header: Mapping[str, str]) -> bool:
        """Whether this rule matches the header (a rule never matches an empty field)."""
        modality = (header.get("Modality") or "").strip().upper()
        if self.modalities and modality not in self.modalities:
            return False
        value = normalise(header.get(self.field) or "")
        return bool(value) and _compiled(self.pattern).search(value) is not None

    def describe(self) -> str:
        """The rule in one line, e.g. ``MR: Study Description ~ /brain/ -> brain_mri``."""
        scope = ", ".join(sorted(self.modalities)) or "any modality"
        return f"{scope}: {FIELDS.get(self.field, self.field)} ~ /{self.pattern}/ -> {self.task}"


@dataclass(frozen=True)
class Route:
    """The routing decision for one header: the task, and the rule that decided (None: no rule matched)."""

    task: str
    rule: RoutingRule | None

    @property
    def header_silent(self) -> bool:
        """No rule matched: the header says nothing about the task (the image may; a rule's Unassigned is a decision)."""
        return self.rule is None

    @property
    def reason(self) -> str:
        """Why, in a line a reader understands (no header values: descriptions may identify a patient)."""
        if self.rule is None:
            return "No routing rule matched the header (modality, body part, descriptions, protocol)."
        name = self.rule.name or self.rule.describe()
        where = FIELDS.get(self.rule.field, self.rule.field)
        if self.task == UNASSIGNED:
            return f"Rule “{name}” matched the {where}: no task reads such images."
        return f"Rule “{name}” matched the {where}."


def route(rules: Iterable[RoutingRule], header: Mapping[str, str]) -> Route:
    """The first rule, in the order given, that matches ``header``; Unassigned when none does.

    ``header`` maps :data:`FIELDS` keywords to their values (missing: empty).
    """
    for rule in rules:
        if rule.applies(header):
            return Route(task=rule.task, rule=rule)
    return Route(task=UNASSIGNED, rule=None)


def rule_problems(*, field: str, pattern: str, modalities: Iterable[str]) -> dict[str, str]:
    """Why a rule cannot be stored, by attribute (empty: it can). The task is the caller's to check."""
    problems: dict[str, str] = {}
    if field not in FIELDS:
        problems["field"] = f"Unknown field {field!r}; one of {', '.join(FIELDS)}."
    if not pattern.strip():
        problems["pattern"] = "A pattern is needed (a regular expression; see docs/routing.md)."
    else:
        try:
            compiled = _compiled(pattern)
        except re.error as exc:
            where = f" at position {exc.pos}" if exc.pos is not None else ""
            problems["pattern"] = f"Not a valid regular expression: {exc.msg}{where}."
        else:
            if compiled.search("") is not None:
                problems["pattern"] = "This pattern matches an empty value, so it would match every study."
    bad = [m for m in modalities if not _MODALITY.fullmatch(m)]
    if bad:
        problems["modalities"] = f"Modalities are upper-case DICOM codes such as CT, MR, SM; not {bad}."
    return problems


def keyword_rule(spec: TaskSpec) -> RoutingRule | None:
    """The rule a declared task's BodyPartExamined keywords make (None when it declares none)."""
    words = [normalise(w) for w in spec.keywords if normalise(w)]
    if not words:
        return None
    return RoutingRule(
        field="BodyPartExamined",
        pattern=r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b",
        task=spec.key,
        modalities=frozenset({spec.modality}) if spec.modality else frozenset(),
        name=f"{spec.label}: body part (declared by its model card)",
    )


def _rule(
    order: int, modalities: str, field: str, pattern: str, task: str, name: str
) -> tuple[int, RoutingRule]:
    return order, RoutingRule(field, pattern, task, frozenset(modalities.split()), name)


# Words, after normalise(), in English, German, French, Spanish, Italian, Portuguese and Dutch.
# "head" alone is read only from BodyPartExamined or at the start of a description
# ("CT HEAD", "Head routine"): in running text it is also the femoral or pancreatic head.
_BRAIN = (
    r"\b(?:brain|cran\w*|intracran\w*|cerebr\w*|encefal\w*|encephal\w*|schae?del|"
    r"(?:ge)?hirn\w*|kopf|cerveau|cervello|hersenen|sella|hypophys\w*|pituitar\w*)\b"
)
_HEAD_FIRST = r"^(?:(?:mr|mri|mrt|irm|rm) )?(?:head|kopf|tete|cabeza|testa)\b"
_CHEST = (
    r"\b(?:chest|thorax|thorac\w*|torace|torax|lung\w*|pulmo\w*|poumons?|polmon\w*|"
    r"pecho|brustkorb|hrct)\b"
)
_SLIDE = (
    r"\b(?:slide microscopy|whole slide|wsi|histo\w*|patholog\w*|h e|hematoxylin|haematoxylin|"
    r"hamatoxylin|eosin)\b"
)
_NOT_FOR_A_MODEL = (
    r"\b(?:scout|locali[sz]er|locator|topogram|surview|scanogram|pilot|survey|"
    r"angio\w*|mra|mip|projected)\b"
)

# The rules a new installation starts with (seeded by the cases migration; Curators edit
# them in the admin). (order, rule); docs/routing.md explains each.
DEFAULT_RULES: tuple[tuple[int, RoutingRule], ...] = (
    _rule(10, "", "SeriesDescription", _NOT_FOR_A_MODEL, UNASSIGNED,
          "Scouts, localizers and angiograms (series): no model reads them"),
    _rule(20, "", "ProtocolName", _NOT_FOR_A_MODEL, UNASSIGNED,
          "Scouts, localizers and angiograms (protocol): no model reads them"),
    _rule(30, "MR", "StudyDescription", r"\bhead (?:and |und |et |y |e |u )?neck\b|\bhals\b",
          UNASSIGNED, "Head and neck MR is not a brain study"),
    _rule(40, "CT", "BodyPartExamined", r"\b(?:head|brain|skull)\b", UNASSIGNED,
          "CT of the head: no task reads it (brain tumour typing is MRI)"),
    _rule(41, "CT", "StudyDescription", r"^(?:ct )?(?:head|kopf|tete|cabeza|testa)\b|" + _BRAIN, UNASSIGNED,
          "CT of the head: no task reads it (brain tumour typing is MRI)"),
    _rule(100, "MR", "BodyPartExamined", r"\b(?:head|brain|skull|cerebr\w*)\b", "brain_mri",
          "Brain MRI: body part"),
    _rule(110, "MR", "StudyDescription", _BRAIN, "brain_mri", "Brain MRI: study description"),
    _rule(111, "MR", "StudyDescription", _HEAD_FIRST, "brain_mri", "Brain MRI: study description starts with head"),
    _rule(120, "MR", "SeriesDescription", _BRAIN, "brain_mri", "Brain MRI: series description"),
    _rule(130, "MR", "ProtocolName", _BRAIN, "brain_mri", "Brain MRI: protocol"),
    _rule(200, "CT", "BodyPartExamined", r"\b(?:chest|lung|thorax)\b", "lung_ct", "Lung CT: body part"),
    _rule(210, "CT", "StudyDescription", _CHEST, "lung_ct", "Lung CT: study description"),
    _rule(220, "CT", "SeriesDescription", _CHEST, "lung_ct", "Lung CT: series description"),
    _rule(230, "CT", "ProtocolName", _CHEST, "lung_ct", "Lung CT: protocol"),
    _rule(300, "OT XC GM", "StudyDescription", _SLIDE, "histology", "Histology: slide microscopy (study)"),
    _rule(310, "OT XC GM", "SeriesDescription", _SLIDE, "histology", "Histology: slide microscopy (series)"),
    _rule(900, "SM", "Modality", r"^sm$", "histology", "Histology: every slide microscopy (SM) image"),
)  # fmt: skip
