"""Gates, baselines, results.json and JUnit XML: the verdicts CI reads."""

import json
import math
import os
import xml.etree.ElementTree as ET

import pytest

from resnet import results


def test_accuracy_gate_passes_at_and_above_the_threshold():
    assert results.accuracy_gate(0.95, 0.95).passed
    assert results.accuracy_gate(0.99, 0.95).passed
    below = results.accuracy_gate(0.9412, 0.95)
    assert not below.passed
    assert below.message == "accuracy gate FAILED: test accuracy 0.9412 < --min_accuracy 0.9500"
    assert not results.accuracy_gate(math.nan, 0.0).passed


def test_baseline_gate_fails_on_a_drop_larger_than_allowed():
    baseline = {"test_accuracy": 0.92}
    assert results.baseline_gate(0.915, baseline, 0.01).passed
    assert results.baseline_gate(0.95, baseline, 0.0).passed
    dropped = results.baseline_gate(0.90, baseline, 0.01, source="last.json")
    assert not dropped.passed
    assert "0.9000 vs 0.9200 in last.json (drop +0.0200, --max_drop 0.0100)" in dropped.message


def test_results_json_roundtrip_and_atomic(tmp_path):
    path = tmp_path / "run" / "results.json"
    results.write_json(path, {"test_accuracy": 0.5, "loss": float("nan"), "shape": (1, 2)})
    assert results.read_results(path)["shape"] == [1, 2]
    assert json.loads(path.read_text())["loss"] == "nan"
    assert os.listdir(path.parent) == ["results.json"]  # no temporary left behind


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    results.write_json(path, {"test_accuracy": 0.5})
    with pytest.raises(TypeError):
        results.atomic_write_bytes(path, "not bytes")
    assert json.loads(path.read_text()) == {"test_accuracy": 0.5}
    assert os.listdir(tmp_path) == ["results.json"]


@pytest.mark.parametrize(
    "content, message",
    [(None, "does not exist"), ("{not json", "Cannot read"), ('{"accuracy": 1}', "no numeric 'test_accuracy'")],
)
def test_read_results_rejects_bad_baselines(tmp_path, content, message):
    path = tmp_path / "baseline.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        results.read_results(path)


def test_junit_xml_has_one_case_per_gate_and_failures_marked(tmp_path):
    gates = [results.accuracy_gate(0.97, 0.95), results.baseline_gate(0.97, {"test_accuracy": 0.99}, 0.01)]
    path = tmp_path / "junit.xml"
    results.write_junit_xml(path, gates, suite="train.resnet20.digits", time_s=12.5, properties={"model": "resnet20"})
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite.get("name") == "train.resnet20.digits"
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"min_accuracy", "baseline"}
    assert cases["min_accuracy"].find("failure") is None
    failure = cases["baseline"].find("failure")
    assert "baseline gate FAILED" in failure.get("message")
    assert suite.find("properties/property").get("value") == "resnet20"
