"""A tiny causal language model with random weights and a tokenizer trained locally: for tests and for
checking the plumbing of model-driven policies offline, with nothing downloaded."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CHAT_TEMPLATE", "build_tiny_model"]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] or '' }}"
    "{% if message.get('tool_calls') %}{% for call in message['tool_calls'] %}<tool_call>"
    "{{ call['function'] | tojson }}</tool_call>{% endfor %}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
_CORPUS = [
    '<tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["population of the city"]}}</tool_call>',
    "<answer>the answer</answer> <think>search the register entry first</think>",
    "What is the population of the birthplace of the mayor of the city? Give the most recent figure.",
    "Budget left: tool calls 60, turns 30. error: no <tool_call> or <answer> found.",
]


def build_tiny_model(path: str | Path, *, seed: int = 0, vocab_size: int = 512) -> Path:
    """Writes a 2-layer Llama with random weights and a byte-level BPE tokenizer trained on a few lines.

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
    raw.train_from_iterator(_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                        bos_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16384,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
