"""The root `drgym` Typer app, its command groups, and the one place expected errors are printed."""

from __future__ import annotations

import logging
from enum import Enum

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from drgym.errors import DrgymError


class _ExpectedErrors(TyperGroup):
    """Every command runs inside the root group's ``invoke``: a `DrgymError` raised anywhere below prints as
    ``ErrorName: message`` and exits 1, without a traceback; anything else is a bug and keeps its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DrgymError as e:
            Console(stderr=True).print(f"[bold red]{type(e).__name__}[/]: {escape(str(e))}", highlight=False,
                                       soft_wrap=True)
            raise typer.Exit(1) from None

    def list_commands(self, ctx):
        return sorted(super().list_commands(ctx))


class TaskKind(str, Enum):
    deep_search = "deep_search"
    deep_research = "deep_research"


class SearchMode(str, Enum):
    bm25 = "bm25"
    hybrid = "hybrid"


class JudgeKind(str, Enum):
    deterministic = "deterministic"
    llm = "llm"


class ScoringMode(str, Enum):
    binary = "binary"
    ternary = "ternary"
    mandatory = "mandatory"


class ImportFormat(str, Enum):
    researchrubrics = "researchrubrics"
    browsecomp_plus = "browsecomp-plus"


class PolicyKind(str, Enum):
    scripted = "scripted"
    solver = "solver"
    random = "random"
    openai = "openai"
    hf = "hf"


class ToolMode(str, Enum):
    text = "text"
    native = "native"


class Backend(str, Enum):
    processes = "processes"
    ray = "ray"


class ObservationRole(str, Enum):
    user = "user"
    tool = "tool"


class Split(str, Enum):
    train = "train"
    heldout = "heldout"
    all = "all"


app = typer.Typer(cls=_ExpectedErrors, help="drgym: deep-research RL environments on an offline procedural web.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
web_app = typer.Typer(help="Corpora: ingest pages, build indexes, search.", no_args_is_help=True)
world_app = typer.Typer(help="Procedural worlds: generate a research web with tasks.", no_args_is_help=True)
tasks_app = typer.Typer(help="Task sets: show, filter and import.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks: performance figures.", no_args_is_help=True)
train_app = typer.Typer(help="Training: OpenRLHF SFT and PPO launchers, and the CPU reference trainer.",
                        no_args_is_help=True)
synth_app = typer.Typer(help="Atomic-capability data synthesis: planning, seeking, reflection, report.",
                        invoke_without_command=True)
for _group, _name in ((web_app, "web"), (world_app, "world"), (tasks_app, "tasks"), (bench_app, "bench"),
                      (train_app, "train"), (synth_app, "synth")):
    app.add_typer(_group, name=_name)
console = Console()


def print_rows(rows: list[list[str]], *, title: str, no_wrap: bool = False) -> None:
    """A table whose first row is the header, full width in a terminal and 160 columns in a log or a pipe."""
    table = Table(title=title, title_justify="left")
    for header in rows[0]:
        table.add_column(header, no_wrap=no_wrap)
    for row in rows[1:]:
        table.add_row(*row)
    (console if console.is_terminal else Console(width=160)).print(table)


def main() -> None:
    """The console script: `drgym ...` and `python -m drgym ...`."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app(prog_name="drgym")
