"""YAML files checked against pydantic models, with errors that name the file, the line and the field."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from drgym.errors import ConfigError

__all__ = ["field_error", "line_of", "read_yaml"]


def read_yaml(path: str | Path, what: str) -> tuple[Any, str]:
    """(parsed YAML, text) of a file; a missing file or malformed YAML is a ConfigError naming `what` and the path."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text), text
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def line_of(text: str, loc: Sequence[Any]) -> int | None:
    """The 1-based line of the YAML key at `loc`, nested keys searched in order (list indices skipped); the
    deepest key found when a later one is absent (a missing field is reported at its parent)."""
    lines = text.splitlines()
    start, found = 0, None
    for key in [str(k) for k in loc if not isinstance(k, int)]:
        for number in range(start, len(lines)):
            if lines[number].lstrip().startswith(f"{key}:"):
                found = start = number + 1
                break
        else:
            return found
    return found


def field_error(path: str | Path, text: str, error: ValidationError, *, within: Sequence[str] = (),
                context: str = "", top_level: str = "(top level)") -> ConfigError:
    """A ConfigError for the first problem pydantic found: ``file:line: [context: ]field 'a.b': message``.

    Args:
        within: keys the validated mapping sits under in the file (for the line).
        top_level: the field's name when the error is about the whole mapping (its line, if it is a key).
    """
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or top_level
    line = line_of(text, [*within, *(first["loc"] or [top_level])])
    return ConfigError(f"{path}{f':{line}' if line else ''}: {f'{context}: ' if context else ''}field {field!r}: "
                       f"{first['msg']}")
