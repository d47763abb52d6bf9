"""A tiny causal language model with random weights and a tokenizer trained locally: for tests and for
checking the plumbing of model-driven policies offline, with nothing downloaded."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "build_tiny_model"]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] or '' }}"
    "{% if message.get('tool_calls') %}{% for call in message['tool_calls'] %}<tool_call>"
    "{{ call['function'] | tojson }}</tool_call>{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}<|endoftext|>{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
_CORPUS = [
    '<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["population of the city"]}}</tool_call>',
    "<answer>the answer</answer> <think>search the register entry first</think>",
    "What is the population of the birthplace of the mayor of the city? Give the most recent figure.",
    "Budget left: tool calls 60, turns 30. error: no <tool_call> or <answer> found.",
]


def build_tiny_model(path: str | Path, *, seed: int = 0, vocab_size: int = 512, corpus: Iterable[str] | None = None,
                     hidden_size: int = 32, layers: int = 2, heads: int = 4, max_positions: int = 16384) -> Path:
    """Writes a small Llama with random weights and a byte-level BPE tokenizer trained locally.

    Args:
        corpus: texts to train the tokenizer on (default: a few lines of drgym protocol text). Byte-level BPE
            encodes any text whatever it was trained on.
        hidden_size, layers, heads: the model's shape (the MLP is 4 × hidden, key-value heads are heads / 2).

    Returns the folder, loadable with `transformers.AutoModelForCausalLM.from_pretrained`.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    specials = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(list(corpus) + _CORPUS if corpus is not None else _CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                        bos_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=4 * hidden_size,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=max(1, heads // 2), max_position_embeddings=max_positions,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
