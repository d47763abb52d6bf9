"""`drgym synth`: atomic-capability data synthesis (planning, seeking, reflection, report) and mixing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from drgym.cli.app import console, print_rows, synth_app


@synth_app.callback()
def synth_run(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="output folder: <capability>.jsonl per capability")] = None,
    capability: Annotated[list[str] | None, typer.Option(help="planning, seeking, reflection, report or all")] = None,
    suite: Annotated[str, typer.Option(help="suite, world folder or task file (its train split is used)")] = "procedural:easy",
    web: Annotated[Path | None, typer.Option(help="the procedural world folder to play the tasks in (default: the "
                                                  "suite's, or the one the task file names)")] = None,
    n: Annotated[int, typer.Option(help="rows per capability")] = 20,
    noise: Annotated[float, typer.Option(help="reflection: share of tool calls that fail (0.05-0.10)")] = 0.08,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Synthesise OpenRLHF-ready rows, tagged by capability, each replayable in the environment
    (`drgym synth --capability all --out data/`; `drgym synth mix ...` mixes them)."""
    from drgym.errors import ConfigError
    from drgym.train.synth import CAPABILITIES, synthesize

    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise ConfigError("drgym synth needs --out (a folder); see drgym synth --help")
    chosen = list(CAPABILITIES) if not capability or "all" in capability else capability
    stats = synthesize(chosen, suite, out, n=n, seed=seed, noise=noise, web=web)
    print_rows(stats.table(), title=f"synthesised from {suite} (train split)" + (f" in {web}" if web else ""))
    console.print(f"wrote {', '.join(str(out / f'{c}.jsonl') for c in chosen)}", highlight=False, soft_wrap=True)


@synth_app.command("mix")
def synth_mix(
    files: Annotated[list[Path], typer.Argument(help="synthesised JSONL files")],
    out: Annotated[Path, typer.Option(help="the mixed SFT JSONL")],
    ratio: Annotated[str, typer.Option(help="shares by capability or kind, e.g. seeking=0.3,research=0.7")],
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Mix synthesised rows to the given shares (Deep Research the majority, as in the seed)."""
    from drgym.errors import ConfigError
    from drgym.train.synth import mix_rows

    shares: dict[str, float] = {}
    for part in ratio.split(","):
        key, sep, value = part.partition("=")
        try:
            shares[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--ratio: expected key=weight, got {part!r}") from None
        if not sep:
            raise ConfigError(f"--ratio: expected key=weight, got {part!r}")
    counts = mix_rows(files, shares, out, seed=seed)
    console.print(", ".join(f"{k}: {v} rows" for k, v in counts.items()) + f" -> {out}", highlight=False)
