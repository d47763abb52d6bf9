"""What every performance benchmark prints: its (measure, figure, note) rows as one table, and the machine's load
beside them (figures on a shared machine mean little without it)."""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table

__all__ = ["load_average", "print_figures"]


def load_average() -> str:
    """The 1 / 5 / 15-minute load averages, as a table cell."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def print_figures(rows: list[tuple[str, str, str]], *, title: str, width: int | None = None) -> list[tuple[str, str, str]]:
    """Prints the rows as a (measure, figure, note) table and returns them (what `drgym bench perf` collects)."""
    table = Table("measure", "figure", "note", title=title, title_justify="left")
    for row in rows:
        table.add_row(*row)
    Console(width=width).print(table)
    return rows
