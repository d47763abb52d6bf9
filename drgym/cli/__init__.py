"""The `drgym` command line (also `python -m drgym`): one small module per command group, each command parsing
its options, calling a library function and printing; `app` holds the one error handler."""

from drgym.cli import (  # noqa: F401  (importing a command module registers its commands)
    data,
    demo,
    evaluate,
    export,
    judge,
    rollout,
    serve,
    synth,
    tasks,
    train,
    web,
    world,
)
from drgym.cli.app import app, main

__all__ = ["app", "main"]
