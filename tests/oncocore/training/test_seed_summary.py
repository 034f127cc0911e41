"""seed_summary: mean ± spread of a recipe over seeds, from each run's report.json."""

from __future__ import annotations

import json

import pytest

from oncocore.training.seed_summary import main, summarise_seeds


def _run(tmp_path, name, acc, recall_b, ece, crossed=0.04):
    report = {
        "temperature": 1.2,
        "uncalibrated": {"ece": ece + 0.02},
        "calibrated": {
            "n": 100, "accuracy": acc, "macro_f1": acc - 0.01, "balanced_accuracy": acc - 0.02, "ece": ece,
            "per_class": {"a": {"recall": 0.9}, "b": {"recall": recall_b}},
        },
        "ece_cross_fitted": crossed,
    }  # fmt: skip
    (tmp_path / name / "report").mkdir(parents=True)
    (tmp_path / name / "report" / "report.json").write_text(json.dumps(report))
    return tmp_path / name


def test_mean_sd_and_range_over_the_runs(tmp_path, capsys):
    runs = [
        _run(tmp_path, f"s{i}", acc, rb, 0.03)
        for i, (acc, rb) in enumerate([(0.8, 0.5), (0.9, 0.7), (1.0, 0.9)])
    ]
    s = summarise_seeds(runs)
    assert s["accuracy"] == pytest.approx({"mean": 0.9, "sd": 0.1, "min": 0.8, "max": 1.0})
    assert s["recall"]["b"]["mean"] == pytest.approx(0.7) and s["recall"]["a"]["sd"] == 0
    assert s["ece_cross_fitted"]["mean"] == pytest.approx(0.04)
    main([str(r) for r in runs])
    table = capsys.readouterr().out
    assert "| accuracy | 0.900 ± 0.100 (0.800 to 1.000) |" in table and "| recall b |" in table


def test_unfinished_runs_and_mixed_classes_are_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "nothing")])
    assert exc.value.code == 2 and "no report" in capsys.readouterr().err
    a = _run(tmp_path, "a", 0.9, 0.5, 0.03)
    b = _run(tmp_path, "b", 0.9, 0.5, 0.03)
    data = json.loads((b / "report" / "report.json").read_text())
    data["calibrated"]["per_class"] = {"x": {"recall": 1.0}}
    (b / "report" / "report.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="different classes"):
        summarise_seeds([a, b])
    one = summarise_seeds([a])
    assert one["accuracy"]["sd"] == 0 and "ece_cross_fitted" in one
