"""The shared result objects."""

import json

import numpy as np
import pytest

from verification import CheckReport, CheckResult


def test_report_passes_only_when_every_check_passes():
    ok = CheckResult("a", True, "fine", {"value": np.float32(1.5), "shape": (1, 2)})
    bad = CheckResult("b", False, "broken", {"nan": float("nan"), "arr": np.arange(3)})
    assert CheckReport("r", [ok]).passed
    report = CheckReport("r", [ok, bad])
    assert not report.passed and report.failures == [bad]
    data = json.loads(report.to_json())
    assert data["checks"][0]["details"] == {"value": 1.5, "shape": [1, 2]}
    assert data["checks"][1]["details"] == {"nan": "nan", "arr": [0, 1, 2]}
    assert "FAILED (1 of 2 checks)" in str(report) and "[FAIL] b: broken" in str(report)
    assert report.get("a") is ok
    with pytest.raises(KeyError, match="No check named 'c'"):
        report.get("c")
