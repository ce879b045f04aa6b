"""registry.py: every module of algorithms/, derivations/ and sources/ gathered, named as its module."""

from __future__ import annotations

import importlib

import pytest

from flows.mapping import algorithms
from flows.mapping.registry import ALGORITHMS, DERIVATIONS, RECORD_FILTERS, RECORD_SOURCES, gather
from flows.mapping.vocabulary import Operation


def test_each_module_gives_one_record_named_as_it():
    assert {"assign", "assign_ct", "dtc", "seq", "epoch", "template"} <= set(ALGORITHMS)
    sdtm = {"age", "arm_by_dose", "dlt_flag", "last_before_exposure", "last_contact", "rule_text"}
    adam = {"analysis_day", "analysis_visit", "baseline_flag", "baseline_value", "change", "cutoff_date"}
    adam |= {"dlt_evaluable", "extreme_flag", "imputed_date", "merged", "ordinal", "percent_change", "sas_date"}
    assert sdtm | adam | {"treatment_emergent"} == set(DERIVATIONS)
    assert set(RECORD_FILTERS) == {"criterion_not_met"} and set(RECORD_SOURCES) == {
        "planned_visits",
        "subject_elements",
        "trial_summary",
    }
    assert list(ALGORITHMS) == sorted(ALGORITHMS)


def test_a_module_without_its_record_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "stray_algorithms"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "stray.py").write_text("ALGORITHM = None\n", encoding="utf-8")  # no record
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match=r"stray_algorithms\.stray must define ALGORITHM, a Operation named 'stray'"):
        gather(importlib.import_module("stray_algorithms"), "ALGORITHM", Operation)
    assert gather(algorithms, "ALGORITHM", Operation) == ALGORITHMS
