"""Bad flags fail fast: train.py and evaluate.py reject them before TensorFlow loads.

The scripts run in a Python where `tensorflow` and `keras` cannot be imported, so a
one-line error with exit status 2 proves that nothing loaded them first.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from resnet import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Makes tensorflow and keras (and everything that imports them) raise ImportError,
# then runs the script named by argv[1] as __main__ with the rest as its arguments.
_WITHOUT_TENSORFLOW = textwrap.dedent("""
    import runpy, sys

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras"):
                raise ImportError(f"{name} is blocked: this run must not import it")

    sys.meta_path.insert(0, Blocker())
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    """)


def run_without_tensorflow(script, *args):
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_TENSORFLOW, os.path.join(ROOT, script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def assert_one_line_error(result, script, flag):
    assert result.returncode == cli.EXIT_USAGE, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: error: "), result.stderr
    assert flag in lines[0]


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--epochs=-1"], "--epochs"),
        (["--batch_size=0"], "--batch_size"),
        (["--model=resnet21"], "--model"),
        (["--preset=fast"], "preset 'fast'"),  # apply_preset words it "Unknown preset"
        (["--stem=tiny"], "--stem"),
        (["--momentum=1.5"], "--momentum"),
        (["--lr_schedule=linear"], "--lr_schedule"),
        (["--lr_boundaries=32k"], "--lr_boundaries"),
        (["--mixed_precision=float8"], "--mixed_precision"),
        (["--min_accuracy=2"], "--min_accuracy"),
        (["--baseline=/no/such/results.json"], "--baseline"),
        (["--data_dir=/no/such/dir"], "--data_dir"),
        (["--epochs=2", "--steps=10"], "--epochs or --steps"),
        (["--cpu_replicas=2"], "--cpu_replicas"),
        (["positional"], "Unexpected arguments"),
        # Choices defined beside modules that import TensorFlow: resnet.specs holds the
        # variants and shortcuts resnet.blocks checks, resnet.data.info the dataset names.
        (["--variant=v3"], "--variant"),
        (["--shortcut=D"], "--shortcut"),
        (["--dataset=imagenet"], "--dataset"),
    ],
)
def test_train_rejects_bad_flags_without_tensorflow(args, flag):
    assert_one_line_error(run_without_tensorflow("train.py", *args), "train.py", flag)


@pytest.mark.parametrize(
    "args, flag",
    [
        (["positional"], "Unexpected arguments"),
        (["--model_path=/no/such/model.keras"], "--model_path"),
        (["--model_path="], "--model_path"),
        (["--model_path={model}", "--dataset=imagenet"], "--dataset"),
        (["--model_path={model}", "--split=dev"], "--split"),
        (["--model_path={model}", "--batch_size=0"], "--batch_size"),
        (["--model_path={model}", "--data_dir=/no/such/dir"], "--data_dir"),
        (["--model_path={model}", "--split=validation"], "--validation_size"),
        (["--model_path={model}", "--min_accuracy=2"], "--min_accuracy"),
    ],
)
def test_evaluate_rejects_bad_flags_without_tensorflow(tmp_path, args, flag):
    model = tmp_path / "model.keras"
    model.write_bytes(b"")  # find_model accepts any .keras file; nothing loads it here
    args = [arg.format(model=model) for arg in args]
    assert_one_line_error(run_without_tensorflow("evaluate.py", *args), "evaluate.py", flag)


def test_import_resnet_loads_no_tensorflow():
    code = textwrap.dedent("""
        import sys
        import resnet, resnet.cli, resnet.results, resnet.schedules, resnet.specs, resnet.training_config
        import resnet.data, resnet.evaluation
        from resnet.data import DATASETS, SPLITS, DatasetInfo
        assert resnet.get_spec("resnet50").blocks_per_stage == (3, 4, 6, 3)
        assert "layers" not in vars(resnet)  # no Keras imported, so no custom layers registered
        heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras"))
        assert not heavy, heavy[:5]
        """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_public_names_resolve_on_first_access():
    import resnet
    from resnet import model, resnet50

    assert resnet50 is model.resnet50 is resnet.resnet50
    assert set(resnet.__all__) <= set(dir(resnet))
    for name in resnet.__all__:
        assert getattr(resnet, name) is not None, name
    assert resnet.blocks.VARIANTS is resnet.specs.VARIANTS  # submodules by name, as the eager package had them
    assert resnet.resnet50().count_params() == 25_610_152
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        resnet.no_such_name


def test_data_names_resolve_on_first_access():
    from resnet import data
    from resnet.data import DATASETS, info, pipeline

    assert DATASETS is info.DATASETS and data.make_dataset is pipeline.make_dataset
    assert data.__all__ == [
        "DATASETS",
        "PADDING",
        "SPLITS",
        "CifarNotFoundError",
        "DatasetInfo",
        "augment_batch",
        "dataset_info",
        "load_examples",
        "make_dataset",
        "normalize",
    ]
    assert set(data.__all__) <= set(dir(data))
    for name in data.__all__:
        assert getattr(data, name) is not None, name
    assert data.cifar10.ARCHIVE == "cifar-10-binary.tar.gz"  # submodules by name
    with pytest.raises(AttributeError, match="'resnet.data' has no attribute 'no_such_name'"):
        data.no_such_name
