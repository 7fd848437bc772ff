"""A table's cells, built once, rendered as Markdown (the generated documents) or as aligned text (the terminal)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """A header and rows of formatted cells."""

    header: list[str]
    rows: list[list[str]]

    def markdown(self) -> list[str]:
        """The lines of a Markdown table."""
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        return lines + ["| " + " | ".join(row) + " |" for row in self.rows]

    def text(self) -> str:
        """Aligned columns for a terminal: the first left-aligned, the others right-aligned."""
        widths = [max(len(row[i]) for row in [self.header, *self.rows]) for i in range(len(self.header))]

        def line(cells: list[str]) -> str:
            return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(cells, widths, strict=True))).rstrip()

        return "\n".join(line(row) for row in [self.header, *self.rows])
