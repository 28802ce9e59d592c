"""The result objects every check in `verification` returns."""

from __future__ import annotations

import dataclasses
import json

from resnet.results import json_safe


@dataclasses.dataclass
class CheckResult:
    """The outcome of one check.

    Attributes:
      name: Short identifier of the check, e.g. "initial_loss".
      passed: Whether the model passed it.
      message: One line for a person: what was found, and on failure what is wrong.
      details: Machine-readable figures behind the message (JSON-safe after
        `to_dict`).
    """

    name: str
    passed: bool
    message: str
    details: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        """The result as JSON-safe data."""
        return json_safe(dataclasses.asdict(self))

    def __str__(self) -> str:
        return f"[{'PASS' if self.passed else 'FAIL'}] {self.name}: {self.message}"


@dataclasses.dataclass
class CheckReport:
    """A list of check results; passes when every check passes.

    Attributes:
      title: What was checked, e.g. "check_training(resnet20)".
      checks: The individual results, in the order they ran.
    """

    title: str
    checks: list[CheckResult] = dataclasses.field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.passed]

    def get(self, name: str) -> CheckResult:
        """The result of the check called `name`.

        Raises:
          KeyError: If no check has that name.
        """
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"No check named {name!r}; checks: {', '.join(c.name for c in self.checks)}.")

    def to_dict(self) -> dict:
        """The report as JSON-safe data."""
        return {"title": self.title, "passed": self.passed, "checks": [c.to_dict() for c in self.checks]}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else f"FAILED ({len(self.failures)} of {len(self.checks)} checks)"
        return "\n".join([f"{self.title}: {verdict}", *(f"  {check}" for check in self.checks)])
