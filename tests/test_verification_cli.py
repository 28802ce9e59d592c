"""python -m verification: exit status, summary lines, JSON reports, bad input."""

import json
import os
import subprocess
import sys

import pytest

import resnet
from verification.__main__ import main
from zoo_structural import ZOO


@pytest.fixture
def saved(tmp_path):
    def save(model, name="model.keras"):
        path = str(tmp_path / name)
        model.save(path)
        return path

    return save


def test_self_verification_prints_one_line_per_model(tmp_path, capsys):
    out = tmp_path / "all.json"
    assert main(["--references=resnet8", f"--json={out}"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("resnet")]
    assert [line.split()[:2] for line in lines] == [["resnet8", "PASS"]]
    assert json.loads(out.read_text())["models"][0]["passed"] is True


def test_passing_model_exits_0_and_writes_json(saved, tmp_path, capsys):
    path = saved(resnet.cifar_resnet(8, variant="v2"))
    out = tmp_path / "report.json"
    assert main([f"--model={path}", "--reference=resnet8", "--variant=v2", f"--json={out}"]) == 0
    text = capsys.readouterr().out
    assert "PASSED" in text and "conv4_block1" in text
    data = json.loads(out.read_text())
    assert data["passed"] is True and data["reference"] == "resnet8" and len(data["blocks"]) == 3
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # the atomic write left nothing behind


def test_failing_model_exits_1_and_names_the_block(saved, capsys):
    bug = next(b for b in ZOO if b.name == "relu_before_add")
    path = saved(bug.build())
    assert main([f"--model={path}", "--reference=resnet14", "--no_numerical"]) == 1
    assert "conv3_block2: ReLU before the addition" in capsys.readouterr().out


def test_without_reference_the_model_is_identified(saved, capsys):
    path = saved(resnet.cifar_resnet(8, shortcut="B"))
    assert main([f"--model={path}", "--shortcut=B", "--no_numerical"]) == 0
    assert "identified as resnet8, v1.5, shortcut=B" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model=missing.keras", "--reference=resnet20"], "must be an existing .keras file"),
        (["--model={path}", "--reference=resnet21"], "Unknown ResNet 'resnet21'"),
        (["--model={path}", "--reference=resnet8", "--variant=v9"], "Unknown variant 'v9'"),
        (["--references=resnet20,resnet7"], "Unknown ResNet 'resnet7'"),
    ],
)
def test_bad_input_exits_2_with_one_line(saved, capsys, argv, message):
    path = saved(resnet.cifar_resnet(8))
    assert main([a.format(path=path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_a_file_that_is_not_a_model_exits_2(tmp_path, capsys):
    path = tmp_path / "junk.keras"
    path.write_text("not a zip archive")
    assert main([f"--model={path}", "--reference=resnet20"]) == 2
    assert "cannot load" in capsys.readouterr().err


@pytest.mark.slow
def test_self_verification_prints_one_line_per_model_as_a_real_process(tmp_path):
    out = tmp_path / "all.json"
    proc = subprocess.run(
        [sys.executable, "-m", "verification", "--references=resnet8", f"--json={out}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("resnet")]
    assert [line.split()[:2] for line in lines] == [["resnet8", "PASS"]]
    data = json.loads(out.read_text())
    assert data["passed"] is True and [m["reference"] for m in data["models"]] == ["resnet8"]


@pytest.mark.slow
def test_self_verification_of_every_built_in_model():
    proc = subprocess.run([sys.executable, "-m", "verification"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sum(" PASS " in line for line in proc.stdout.splitlines()) == 10
