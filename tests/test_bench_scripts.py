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


def run_script(*args: str) -> str:
    """Runs a bench script at tiny sizes and returns its standard output."""
    completed = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@pytest.mark.slow
def test_model_throughput_compares_both_models_in_every_measure():
    out = run_script("bench/model_throughput.py", "--image_size=32", "--batch_size=2", "--rounds=1", "--steps=1")
    rows = re.findall(r"^(train step|predict|compiled call) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+)% +([\d.]+)%$", out, re.M)
    assert [row[0] for row in rows] == ["train step", "predict", "compiled call"]
    for _, ours, theirs, ratio, _, _ in rows:
        assert float(ratio) == pytest.approx(float(ours) / float(theirs), rel=0.01, abs=0.002)
    assert len(re.findall(r"^peak RSS, training step, (ours|keras_applications) *: +\d+ MiB", out, re.M)) == 2


@pytest.mark.slow
def test_step_profile_parts_add_up_to_the_op_time():
    out = run_script("bench/step_profile.py", "--model=resnet18", "--image_size=32", "--batch_size=2", "--steps=1")
    parts = dict(re.findall(r"^\| ([^|]+?) \| ([\d.]+) \| [\d.]+% \|", out, re.M))
    total = float(parts.pop("all ops"))
    assert len(parts) == 9
    assert sum(map(float, parts.values())) == pytest.approx(total, abs=0.005)
    for conv_part in ("convolutions, forward", "convolutions, input gradients", "convolutions, filter gradients"):
        assert float(parts[conv_part]) > 0, conv_part
    assert float(parts["BatchNorm gradients"]) > 0 and float(parts["optimizer update"]) > 0
    assert re.search(r"^convolutions alone: +\d+ GFLOP/s = [\d.]+% of the large conv$", out, re.M)


@pytest.mark.slow
def test_scaling_sweeps_print_a_row_per_configuration():
    out = run_script(
        "bench/scaling.py", "--batch_image_size=32", "--batch_sizes=1,2", "--depth_image_size=32", "--depths=18,34", "--depth_batch=1", "--steps=1"
    )
    rows = re.findall(r"^ +(\d+) +(\d+) +(\d+) +[\d.]+ +[\d.]+ +\d+$", out, re.M)
    assert rows == [("50", "1", "32"), ("50", "2", "32"), ("18", "1", "32"), ("34", "1", "32")]


@pytest.mark.slow
def test_cifar_training_reports_every_setting_and_stops_what_overruns():
    out = run_script("bench/cifar_training.py", "--models=resnet20", "--examples=8", "--batch_size=4", "--rounds=1", "--timeout=300")
    rows = re.findall(r"^\| resnet20 \| ([^|]+) \| (\w+) \| (on|off) \| ([^|]+) \|", out, re.M)
    settings = {(pipeline.strip(), policy, xla) for pipeline, policy, xla, _ in rows}
    assert settings == {
        ("resnet.data", "float32", "off"),
        ("per-example map", "float32", "off"),
        ("resnet.data", "float32", "on"),
        ("resnet.data", "mixed_bfloat16", "off"),
        ("resnet.data", "mixed_float16", "off"),
    }
    # A 1-second limit stops even the tiny float32 run and says so instead of failing.
    out = run_script("bench/cifar_training.py", "--models=resnet20", "--examples=8", "--batch_size=4", "--rounds=1", "--timeout=1")
    assert re.search(r"^\| resnet20 \| resnet.data \| float32 \| off \| < [\d.e+-]+ \| no result in 1 s \|$", out, re.M)
