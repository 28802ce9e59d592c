"""The GPU benchmark script runs its real code paths on the CPU (--cpu_dry_run)."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_gpu_script_dry_run_prints_every_figure():
    env = {**os.environ, "PYTHON": sys.executable}
    completed = subprocess.run(
        ["bash", "bench/gpu.sh", "--cpu_dry_run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    rates = re.findall(r"^ResNet-50 v1\.5 .* (float32|mixed_bfloat16) +XLA (on|off) *: +([\d.]+) img/s$", completed.stdout, re.M)
    assert {(policy, xla) for policy, xla, _ in rates} == {(p, x) for p in ("float32", "mixed_bfloat16") for x in ("on", "off")}
    assert all(float(rate) > 0 for _, _, rate in rates)
    assert re.search(r"^ResNet-18 CIFAR stem.*full pipeline: +[\d.]+ img/s$", completed.stdout, re.M)
    assert re.search(r"^input pipeline alone: +[\d.]+ img/s -> the pipeline (keeps up|is the bottleneck)$", completed.stdout, re.M)
