"""Task routing in the core: the default rules over header values, rule order, bad rules, declared keywords."""

from __future__ import annotations

import pytest

from oncocore.routing import (
    DEFAULT_RULES,
    Route,
    RoutingRule,
    keyword_rule,
    normalise,
    route,
    rule_problems,
)
from oncocore.tasks import UNASSIGNED, TaskSpec

RULES = [rule for _, rule in DEFAULT_RULES]


def _route(**header: str) -> Route:
    return route(RULES, header)


def test_values_are_read_without_accents_case_or_punctuation():
    assert normalise("Neuro^Crane Axial_T1") == "neuro crane axial t1"
    assert normalise("  Schädel  (nativ) ") == "schadel nativ"
    assert normalise("CRÂNE / cerveau") == "crane cerveau"
    assert normalise("Straße") == "strasse"
    assert normalise("") == ""


@pytest.mark.parametrize(
    "header, expected",
    [
        # The headers, and the spellings a hospital's descriptions come in.
        ({"Modality": "CT", "StudyDescription": "Chest CT routine"}, "lung_ct"),
        ({"Modality": "CT", "BodyPartExamined": "THORAX"}, "lung_ct"),
        ({"Modality": "CT", "StudyDescription": "CT Lunge nativ"}, "lung_ct"),
        ({"Modality": "CT", "StudyDescription": "TDM poumon"}, "lung_ct"),
        ({"Modality": "CT", "SeriesDescription": "Tórax 1.25 mm"}, "lung_ct"),
        ({"Modality": "CT", "ProtocolName": "HRCT Pulmonary"}, "lung_ct"),
        ({"Modality": "MR", "StudyDescription": "Neuro^Crane Axial_T1"}, "brain_mri"),
        ({"Modality": "MR", "StudyDescription": "MRT Schädel"}, "brain_mri"),
        ({"Modality": "MR", "StudyDescription": "Schaedel mit KM"}, "brain_mri"),
        ({"Modality": "MR", "StudyDescription": "RM cerebro"}, "brain_mri"),
        ({"Modality": "MR", "SeriesDescription": "brain t2 flair"}, "brain_mri"),
        ({"Modality": "MR", "StudyDescription": "Head routine"}, "brain_mri"),
        ({"Modality": "MR", "BodyPartExamined": "HEAD"}, "brain_mri"),
        ({"Modality": "MR", "ProtocolName": "IRM encéphale"}, "brain_mri"),
        ({"Modality": "SM"}, "histology"),
        ({"Modality": "OT", "StudyDescription": "Slide microscopy H&E"}, "histology"),
        # Never a guess: a study no rule names stays Unassigned.
        ({"Modality": "CT", "StudyDescription": "CT HEAD"}, UNASSIGNED),
        ({"Modality": "CT", "BodyPartExamined": "HEAD"}, UNASSIGNED),
        ({"Modality": "MR", "StudyDescription": "MR pancreas head"}, UNASSIGNED),
        ({"Modality": "MR", "StudyDescription": "Head and neck"}, UNASSIGNED),
        ({"Modality": "MR", "StudyDescription": "SHOULDER"}, UNASSIGNED),
        ({"Modality": "MR"}, UNASSIGNED),
        ({"Modality": "CR", "BodyPartExamined": "CHEST", "StudyDescription": "THORAX"}, UNASSIGNED),
        ({"Modality": "US", "BodyPartExamined": "BREAST"}, UNASSIGNED),
        ({"Modality": "OT", "StudyDescription": "brain"}, UNASSIGNED),
        (
            {"Modality": "CT", "StudyDescription": "Chest", "SeriesDescription": "Topogram 0.6 T20f"},
            UNASSIGNED,
        ),
        ({"Modality": "MR", "StudyDescription": "Brain", "SeriesDescription": "FAST LOCALIZER"}, UNASSIGNED),
        (
            {"Modality": "MR", "StudyDescription": "Brain-MRA", "SeriesDescription": "ANGIO Projected"},
            UNASSIGNED,
        ),
        ({}, UNASSIGNED),
    ],
)
def test_the_default_rules_route_these_headers(header, expected):
    assert _route(**header).task == expected


def test_the_route_says_which_rule_decided_or_that_none_did():
    routed = _route(Modality="CT", StudyDescription="Chest CT routine")
    assert routed.rule is not None and routed.rule.name == "Lung CT: study description"
    assert routed.reason == "Rule “Lung CT: study description” matched the Study Description."
    scout = _route(Modality="CT", SeriesDescription="Scout")
    assert scout.task == UNASSIGNED and "no task reads such images" in scout.reason
    nothing = _route(Modality="MR")
    assert nothing.rule is None and nothing.reason.startswith("No routing rule matched")
    assert nothing.header_silent and not scout.header_silent and not routed.header_silent
    # The reason never repeats a header value (descriptions may name a patient).
    assert "routine" not in routed.reason.lower()


def test_the_first_matching_rule_in_order_decides_and_modalities_limit_a_rule():
    to_lung = RoutingRule("StudyDescription", r"\bfoo\b", "lung_ct", frozenset({"CT"}), "a")
    to_brain = RoutingRule("StudyDescription", r"\bfoo\b", "brain_mri", frozenset(), "b")
    assert route([to_lung, to_brain], {"Modality": "CT", "StudyDescription": "FOO"}).task == "lung_ct"
    assert route([to_brain, to_lung], {"Modality": "CT", "StudyDescription": "FOO"}).task == "brain_mri"
    assert route([to_lung], {"Modality": "MR", "StudyDescription": "FOO"}).task == UNASSIGNED
    # An empty field matches no rule, whatever the pattern.
    assert not RoutingRule("ProtocolName", r"\w*", "lung_ct").applies({"Modality": "CT"})


def test_patterns_ignore_accents_and_case_as_the_values_do():
    rule = RoutingRule("StudyDescription", r"\bSCHÄDEL|straße\b", "brain_mri")
    assert rule.applies({"StudyDescription": "schadel"}) and rule.applies({"StudyDescription": "STRASSE"})


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        (
            {"pattern": "(brain"},
            "pattern",
            "Not a valid regular expression: missing ), unterminated subpattern",
        ),
        ({"pattern": "[a-"}, "pattern", "Not a valid regular expression"),
        ({"pattern": "  "}, "pattern", "A pattern is needed"),
        ({"pattern": ".*"}, "pattern", "matches an empty value"),
        ({"field": "PatientName"}, "field", "Unknown field 'PatientName'"),
        ({"modalities": ["ct"]}, "modalities", "upper-case DICOM codes"),
    ],
)
def test_a_bad_rule_is_refused_with_the_reason(kwargs, field, message):
    values = {"field": "StudyDescription", "pattern": "brain", "modalities": ["MR"], **kwargs}
    problems = rule_problems(**values)
    assert list(problems) == [field] and message in problems[field]


def test_every_default_rule_is_valid():
    for _, rule in DEFAULT_RULES:
        assert rule_problems(field=rule.field, pattern=rule.pattern, modalities=rule.modalities) == {}


def test_a_declared_tasks_keywords_make_one_body_part_rule():
    spec = TaskSpec(
        key="knee_mri", label="Knee MRI", classes=("a", "b"), modality="MR", keywords=("KNEE", "GENU")
    )
    rule = keyword_rule(spec)
    assert rule is not None and rule.modalities == {"MR"} and rule.field == "BodyPartExamined"
    assert rule.applies({"Modality": "MR", "BodyPartExamined": "KNEE"})
    assert not rule.applies({"Modality": "CT", "BodyPartExamined": "KNEE"})
    assert not rule.applies({"Modality": "MR", "BodyPartExamined": "KNEECAP"})
    assert keyword_rule(TaskSpec(key="colon", label="Colon", classes=("a", "b"), modality="SM")) is None
