"""Checks that a Keras model is the ResNet it claims to be.

Every check returns a `CheckResult`; groups of checks return a `CheckReport` (or a
subclass with more to show). `verification` imports `resnet` as the reference;
`resnet` never imports `verification`.
"""

from verification.dynamic import (
    check_batch_independence,
    check_determinism,
    check_forward,
    check_gradients,
    check_initial_loss,
    check_overfit,
    check_training,
    stage_gradient_norms,
)
from verification.gradcheck import GradcheckResult, gradcheck
from verification.data_checks import (
    check_augmentation,
    check_dataset,
    check_input_pipeline,
    check_labels_against_source,
    check_no_overlap,
    check_statistics,
    write_augmentation_preview,
)
from verification.results import CheckReport, CheckResult, json_safe
from verification.identify import Identification, identify
from verification.report import Report
from verification.verify import verify_model

__all__ = ["CheckReport", "CheckResult", "GradcheckResult", "gradcheck", "check_batch_independence", "check_determinism", "check_forward", "check_gradients", "check_initial_loss", "check_overfit", "check_training", "stage_gradient_norms", "json_safe", "Identification", "Report", "identify", "verify_model"]
__all__ += [
    "check_augmentation",
    "check_dataset",
    "check_input_pipeline",
    "check_labels_against_source",
    "check_no_overlap",
    "check_statistics",
    "write_augmentation_preview",
]
