"""Training: SFT data from trajectories, the RL prompt dataset and episode adapter, OpenRLHF launchers
(SFT, then PPO with GAE γ = λ = 1 on Ray + vLLM), a CPU reference trainer (`drgym.train.reference`), and adapters for
peer trainers: SkyRL (`drgym.train.skyrl`), verifiers (`drgym.train.verifiers_env`), veRL
(`drgym.train.verl_agent_loop`), with their datasets (`export_peer_dataset`)."""

from drgym.train.chat import ChatFormat
from drgym.train.episodes import EpisodeLabel, EpisodeSession, export_prompts
from drgym.train.peer_data import export_peer_dataset
from drgym.train.sft_data import SFTFilters, SFTSummary, build_sft_dataset, parse_mixture

__all__ = ["ChatFormat", "EpisodeLabel", "EpisodeSession", "SFTFilters", "SFTSummary", "build_sft_dataset",
           "export_peer_dataset", "export_prompts", "parse_mixture"]
