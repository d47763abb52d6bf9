"""Draws a world's charts as PNG files (matplotlib, Agg backend); the bytes depend only on the chart."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from drgym.tasks.render import Chart
from drgym.web.corpus import image_file_name

__all__ = ["draw_charts"]


def draw_charts(charts: Iterable[Chart], folder: Path, *, show_progress: bool = True) -> int:
    """Writes ``folder/<image_file_name(url)>`` for each chart; returns how many were drawn."""
    charts = list(charts)
    if not charts:
        return 0
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    for chart in tqdm(charts, desc="draw charts", unit="chart", disable=not show_progress):
        figure = Figure(figsize=(4, 2.6), dpi=80)
        axes = figure.add_subplot()
        axes.plot(chart.years, chart.values, marker="o", color="#1f5fa8")
        axes.set_title(chart.title, fontsize=9)
        axes.set_ylabel(chart.label, fontsize=8)
        axes.set_xticks(list(chart.years))
        axes.tick_params(labelsize=7)
        figure.subplots_adjust(left=0.2, bottom=0.14, right=0.97, top=0.88)
        buffer = io.BytesIO()
        FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
        (folder / image_file_name(chart.url)).write_bytes(buffer.getvalue())
    return len(charts)
