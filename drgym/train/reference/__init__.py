"""The CPU reference trainer: SFT and token-level PPO (GAE, clipped losses, KL to the reference) in plain torch,
small enough to read top to bottom and to run on a laptop with a small model."""

from drgym.train.reference.ppo import PPOConfig, clipped_policy_loss, clipped_value_loss, gae, train_ppo
from drgym.train.reference.sft import SFTConfig, train_sft

__all__ = ["PPOConfig", "SFTConfig", "clipped_policy_loss", "clipped_value_loss", "gae", "train_ppo", "train_sft"]
