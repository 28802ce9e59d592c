"""The result of `verify_model`: the checks plus a per-block table a person can read."""

from __future__ import annotations

import dataclasses

from verification.results import CheckReport, json_safe

COLUMNS = ("shape", "stride", "params", "shortcut", "layout", "padding")


@dataclasses.dataclass
class BlockRow:
    """One row of the per-block table.

    Attributes:
      block: Paper name, e.g. "conv3_block1" (position-based for found blocks).
      in_shape: Input shape found (None for a missing block).
      out_shape: Output shape found.
      stride: Stride found, with where it sits, e.g. "2 @ conv2 (3x3)".
      expected_stride: The same, expected.
      params: Parameters found (all weights of the block, BN statistics included).
      expected_params: Parameters the spec gives.
      shortcut: Shortcut kind found.
      expected_shortcut: Shortcut kind expected.
      differs: Columns that differ (`COLUMNS`).
    """

    block: str
    in_shape: tuple | None
    out_shape: tuple | None
    stride: str
    expected_stride: str
    params: int | None
    expected_params: int | None
    shortcut: str
    expected_shortcut: str
    differs: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Report(CheckReport):
    """What `verify_model` found: checks, the reference it compared with, and per-block rows.

    Attributes:
      reference: The reference's name, e.g. "resnet50".
      options: The architecture options compared against.
      rows: The per-block table.
      notes: Facts worth saying that are not failures (e.g. a BN epsilon convention).
    """

    reference: str = ""
    options: dict = dataclasses.field(default_factory=dict)
    rows: list[BlockRow] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        """The report as JSON-safe data: verdict, checks, reference, options, rows."""
        data = super().to_dict()
        data.update(
            reference=self.reference,
            options=self.options,
            blocks=[dataclasses.asdict(r) for r in self.rows],
            notes=self.notes,
        )
        return json_safe(data)

    def table(self) -> str:
        """The per-block table; '*' marks a cell that differs from the reference."""
        header = ("block", "input -> output", "stride (expected)", "params found / expected", "shortcut (expected)")
        lines = []
        for row in self.rows:
            mark = lambda column: " *" if column in row.differs else ""  # noqa: E731
            shapes = f"{_shape(row.in_shape)} -> {_shape(row.out_shape)}{mark('shape')}"
            stride = (
                row.stride + ("" if row.stride == row.expected_stride else f" ({row.expected_stride})") + mark("stride")
            )
            params = f"{_count(row.params)} / {_count(row.expected_params)}{mark('params')}"
            shortcut = (
                row.shortcut
                + ("" if row.shortcut == row.expected_shortcut else f" ({row.expected_shortcut})")
                + mark("shortcut")
            )
            extra = [c for c in ("layout", "padding") if c in row.differs]
            lines.append((row.block + (" *" if extra else ""), shapes, stride, params, shortcut))
        widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
        fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, lines)])

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else f"FAILED ({len(self.failures)} of {len(self.checks)} checks)"
        parts = [f"{self.title}: {verdict}"]
        if self.rows:
            parts += [
                "",
                self.table(),
                "('*': differs from the reference; a '*' after the block name: layer order or padding, see checks)",
            ]
        parts += ["", "checks:", *(f"  {check}" for check in self.checks)]
        parts += [f"note: {note}" for note in self.notes]
        return "\n".join(parts)


def _shape(shape) -> str:
    return "-" if shape is None else "x".join(str(s) for s in shape)


def _count(value) -> str:
    return "-" if value is None else f"{value:,}"
