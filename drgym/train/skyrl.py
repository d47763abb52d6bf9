"""drgym for SkyRL: a SkyRL-gym text environment over drgym episodes, and the dataset SkyRL's trainer reads.

SkyRL's generator (``skyrl_train.generators.skyrl_gym_generator``) builds one environment per trajectory with
``skyrl_gym.make(env_class, env_config=..., extras=row_extras)``, where the extras are the dataset row's columns
other than ``prompt`` and ``env_class`` (plus ``max_turns`` from the generator config); it calls ``init(prompt)``,
then ``step(model_text)`` until ``done``, appending each step's ``observations`` (chat messages) to the
conversation and placing each step's ``reward`` on that turn's last token.

`DrgymSkyRLEnv` reads the drgym episode from ``extras["extra_info"]["label"]`` (an `EpisodeLabel`, written by
`drgym.train.peer_data.skyrl_rows`), hands the model's raw text to the drgym env, which parses drgym's text tool-call protocol,
and answers with the observation as one user message (``<tool_response>`` blocks, what Qwen/Hermes templates read as
a tool turn). The reward is 0.0 on every turn but the last and the env judge's score at the end, as in drgym and in
the OpenRLHF adapter. Environments are pooled per process, so a world loads once, not once per trajectory.

Usage, in the SkyRL entry point (inside the Ray task that runs training)::

    from drgym.train.skyrl import register_skyrl_env
    register_skyrl_env()            # env_class "drgym"

and the data: ``drgym export skyrl --suite procedural:easy --out train.parquet``.
"""

from __future__ import annotations

from typing import Any

from drgym.errors import ConfigError
from drgym.train.episodes import EpisodeLabel, EpisodeSession, fixed_logs
from drgym.train.peer_data import SKYRL_ENV_CLASS

try:
    from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput
except ImportError as e:  # pragma: no cover - exercised only without skyrl-gym
    raise ImportError("drgym's SkyRL environment needs skyrl-gym: pip install 'drgym[skyrl]' "
                      "(or pip install skyrl-gym)") from e

__all__ = ["DrgymSkyRLEnv", "register_skyrl_env"]


def _label_from_extras(extras: dict[str, Any]) -> EpisodeLabel:
    extra_info = extras.get("extra_info")
    if not isinstance(extra_info, dict) or not extra_info.get("label"):
        raise ConfigError("the SkyRL row has no drgym episode label (extra_info.label): export the dataset with "
                          "`drgym export skyrl` (or drgym.train.peer_data.export_peer_dataset)")
    return EpisodeLabel.from_json(extra_info["label"])


class DrgymSkyRLEnv(BaseTextEnv):
    """One drgym episode as a SkyRL-gym text environment (text in, chat messages out).

    Args:
        env_config: SkyRL's per-env config (``skyrl_gym_cfg.<env_class>``); drgym's settings travel in the label.
        extras: the dataset row (``extra_info.label`` names the episode) and ``max_turns`` from SkyRL's generator.
            An episode still running at ``max_turns`` ends there with reward 0.0 (``metadata["cut_by_max_turns"]``);
            keep drgym's budget (``--max-turns`` of the export) within it so drgym's own budget ends episodes.
    """

    def __init__(self, env_config: Any = None, extras: dict[str, Any] | None = None) -> None:
        super().__init__()
        extras = dict(extras or {})
        self.label = _label_from_extras(extras)
        max_turns = extras.get("max_turns")
        if max_turns is not None and (not isinstance(max_turns, int) or max_turns < 1):
            raise ConfigError(f"max_turns must be a positive whole number, got {max_turns!r}")
        self.max_turns = max_turns or 0  # 0: only drgym's budget ends the episode
        self.session = EpisodeSession(self.label, formats_feedback=False)
        self.reward = 0.0
        self.is_cut_by_max_turns = False

    def init(self, prompt: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        messages = self.session.start()
        question = messages[-1]["content"]
        if not any(question in str(message.get("content") or "") for message in prompt):
            self.session.close()
            raise ConfigError(f"the prompt does not carry task {self.label.task_id!r}'s question: the dataset and its "
                              "labels are out of step (re-export with drgym export skyrl)")
        return prompt, {"task_id": self.label.task_id}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        self.turns += 1
        result = self.session.step(action)
        self.reward = result.reward
        done = result.done
        metadata: dict[str, Any] = {"task_id": self.label.task_id, **result.logs}
        if not done and self.max_turns and self.turns >= self.max_turns:
            self.session.close()
            done, self.is_cut_by_max_turns = True, True
            metadata["cut_by_max_turns"] = True
        if result.done:
            metadata["verdicts"] = self.session.info.get("verdicts") or []
        observations = [] if done else [{"role": "user", "content": result.observation}]
        return BaseTextEnvStepOutput(observations=observations, reward=result.reward, done=done, metadata=metadata,
                                     postprocessed_action=None)

    def get_metrics(self) -> dict[str, Any]:
        """The episode's logs with the same keys for every episode (SkyRL averages them per env class)."""
        return {**fixed_logs(self.session.logs()), "reward": self.reward,
                "cut_by_max_turns": float(self.is_cut_by_max_turns)}

    def close(self) -> None:
        self.session.close()


def register_skyrl_env(env_class: str = SKYRL_ENV_CLASS) -> str:
    """Registers `DrgymSkyRLEnv` with skyrl_gym under `env_class` (idempotent); returns the id.

    Call it where SkyRL builds its environments: in the training entry point that runs inside Ray.
    """
    from skyrl_gym.envs.registration import register, registry

    entry_point = f"{DrgymSkyRLEnv.__module__}:{DrgymSkyRLEnv.__qualname__}"
    existing = registry.get(env_class)
    if existing is not None:
        if existing.entry_point != entry_point:
            raise ConfigError(f"skyrl_gym already has an env {env_class!r} ({existing.entry_point}); pick another "
                              "env_class for drgym (and export the dataset with the same --env-class)")
        return env_class
    register(id=env_class, entry_point=entry_point)
    return env_class
