"""Training: SFT data from trajectories, the RL prompt dataset and episode adapter, OpenRLHF launchers
(SFT, then PPO with GAE γ = λ = 1 on Ray + vLLM), and a CPU reference trainer (`drgym.train.reference`)."""

from drgym.train.chat import ChatFormat
from drgym.train.episodes import EpisodeLabel, EpisodeSession, export_prompts
from drgym.train.sft_data import SFTFilters, SFTSummary, build_sft_dataset, parse_mixture

__all__ = ["ChatFormat", "EpisodeLabel", "EpisodeSession", "SFTFilters", "SFTSummary", "build_sft_dataset",
           "export_prompts", "parse_mixture"]
