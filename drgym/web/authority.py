"""Authority tiers of domains: a shipped table (web/data/authority.tsv) that users can extend."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from drgym.errors import ConfigError

__all__ = ["AuthorityTable", "DEFAULT_TIER"]

DEFAULT_TIER = 2
"""Tier of a domain the table does not know: neither trusted as primary nor marked low-trust."""


@dataclass(frozen=True)
class AuthorityTable:
    """Maps a host to its authority tier: exact host, then its parent domains, then the longest suffix rule.

    Example:
        >>> table = AuthorityTable.load()
        >>> table.tier("data.census.gov"), table.tier("www.reddit.com"), table.tier("unknown.example")
        (1, 3, 2)
    """

    hosts: dict[str, int]
    suffixes: dict[str, int]
    default_tier: int = DEFAULT_TIER

    @classmethod
    def load(cls, extra: str | Path | None = None, *, default_tier: int = DEFAULT_TIER) -> AuthorityTable:
        """The shipped table, with the rows of `extra` (same TSV format) added on top, overriding."""
        text = resources.files("drgym.web").joinpath("data/authority.tsv").read_text(encoding="utf-8")
        hosts: dict[str, int] = {}
        suffixes: dict[str, int] = {}
        _parse_rows(text, "authority.tsv", hosts, suffixes)
        if extra is not None:
            extra = Path(extra)
            if not extra.is_file():
                raise ConfigError(f"authority table {extra} does not exist")
            _parse_rows(extra.read_text(encoding="utf-8"), str(extra), hosts, suffixes)
        return cls(hosts=hosts, suffixes=suffixes, default_tier=default_tier)

    def tier(self, host: str) -> int:
        host = host.lower().strip(".")
        if host.startswith("www."):
            host = host[4:]
        labels = host.split(".")
        for start in range(len(labels)):
            candidate = ".".join(labels[start:])
            if candidate in self.hosts:
                return self.hosts[candidate]
            if start > 0 and "." + candidate in self.suffixes:
                return self.suffixes["." + candidate]
        return self.default_tier


def _parse_rows(text: str, source: str, hosts: dict[str, int], suffixes: dict[str, int]) -> None:
    for line_number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1].strip() not in ("1", "2", "3"):
            raise ConfigError(f"{source}:{line_number}: expected 'domain<TAB>tier[<TAB>category]' with tier "
                              f"1, 2 or 3, got {line!r}")
        name, tier = fields[0].strip().lower(), int(fields[1])
        (suffixes if name.startswith(".") else hosts)[name] = tier
