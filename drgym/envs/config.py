"""What a research environment is built from: one checked configuration (the keyword arguments of
``gymnasium.make("drgym/…", ...)``), so the environment's constructor only assembles parts."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drgym.envs.budget import Budget, PriceTable
from drgym.envs.noise import NoiseConfig
from drgym.envs.tools.base import DEFAULT_WORKSPACE_QUOTA_MB
from drgym.envs.tools.image import VisionBackend
from drgym.errors import ConfigError

__all__ = ["EnvConfig"]

RENDER_MODES = ("ansi",)


@dataclass(frozen=True)
class EnvConfig:
    """A research environment's configuration; plain values (dicts, floats, lists) are turned into their types
    and every field is checked when it is built, naming the field and the fix."""

    tasks: Any = None
    """A TaskSet, a task file or folder, or a suite name (default: the embedded ``procedural:easy`` world)."""
    web: Any = None
    """A corpus or world folder, a `SearchIndex` or any `drgym.web.protocol.Web`, or "live"; default: the suite's
    world, else the folder the tasks' ``corpus`` field names, else the task file's folder."""
    budget: Budget = field(default_factory=Budget)
    """Limits per episode (a `Budget` or its fields as a dict)."""
    tools: tuple[str, ...] | None = None
    """Tool names from the registry (`drgym.envs.tools.registry`); None: the default set."""
    judge: Any = "deterministic"
    """"deterministic", "llm" (with `judge_config`) or any object with the `drgym.rewards.protocol.Judge` method."""
    judge_config: Any = None
    """The LLM judge's endpoint: an `LLMJudgeConfig` or its fields as a dict."""
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    """Injected tool failures: a rate, a `NoiseConfig` or its fields as a dict."""
    workspace_root: Path | None = None
    """Each episode gets a fresh folder in it (default: a temporary folder the env removes)."""
    tokenizer: Any = None
    """Counts tokens for the token budget (default: a documented estimate)."""
    prices: PriceTable = field(default_factory=PriceTable)
    """Prices for the cost budget (a `PriceTable` or its fields as a dict)."""
    vision: VisionBackend | None = None
    """analyze_image's endpoint (a `VisionBackend` or its fields as a dict); None: captions and alt text."""
    system_prompt: str | None = None
    """A template with ``{tools}`` and ``{finish}``; default by the web's kind (`SYSTEM_PROMPTS`)."""
    live: Any = None
    """With ``web="live"``: a `drgym.web.live.LiveConfig` or its fields (back-end, record/replay)."""
    unsearchable: tuple[str, ...] = ()
    """Url fragments of pages search never returns (e.g. "/archive/": link-walk tasks)."""
    workspace_quota_mb: int = DEFAULT_WORKSPACE_QUOTA_MB
    """Disk an episode's files may use."""
    render_mode: str | None = None
    """None or "ansi"."""

    def __post_init__(self) -> None:
        def set_(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        if isinstance(self.budget, dict):
            set_("budget", Budget(**self.budget))
        elif self.budget is None:
            set_("budget", Budget())
        if isinstance(self.noise, dict):  # JSON env_kwargs carry the kinds as a list
            set_("noise", NoiseConfig(**{**self.noise, "kinds": tuple(self.noise.get("kinds", NoiseConfig.kinds))}))
        elif isinstance(self.noise, (int, float)) and not isinstance(self.noise, bool):
            set_("noise", NoiseConfig(rate=float(self.noise)))
        if isinstance(self.prices, dict):
            set_("prices", PriceTable(**self.prices))
        elif self.prices is None:
            set_("prices", PriceTable())
        if isinstance(self.vision, dict):
            set_("vision", VisionBackend(**self.vision))
        if isinstance(self.tools, str):
            raise ConfigError(f"tools must be a list of tool names, got the string {self.tools!r}")
        if self.tools is not None:
            set_("tools", tuple(self.tools))
        set_("unsearchable", tuple(self.unsearchable))
        if self.workspace_root is not None:
            set_("workspace_root", Path(self.workspace_root))
        for name, expected in (("budget", Budget), ("noise", NoiseConfig), ("prices", PriceTable)):
            if not isinstance(getattr(self, name), expected):
                raise ConfigError(f"{name} must be a {expected.__name__} or a dict of its fields, got "
                                  f"{type(getattr(self, name)).__name__}")
        if isinstance(self.workspace_quota_mb, bool) or not isinstance(self.workspace_quota_mb, int) \
                or self.workspace_quota_mb < 1:
            raise ConfigError(f"workspace_quota_mb must be a positive whole number of megabytes, got "
                              f"{self.workspace_quota_mb!r}")
        if self.render_mode is not None and self.render_mode not in RENDER_MODES:
            raise ConfigError(f"render_mode must be one of {list(RENDER_MODES)} or None, got {self.render_mode!r}")
        if self.live is not None and not (isinstance(self.web, str) and self.web == "live"):
            raise ConfigError("live= is for web='live'")

    @classmethod
    def from_options(cls, **options: Any) -> EnvConfig:
        """The configuration from `gymnasium.make` keyword arguments; an unknown one is named with the closest."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in options:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"unknown environment option {key!r}.{hint} Options: {', '.join(names)}")
        return cls(**options)
