"""`drgym serve-hf` against the official `openai` SDK: a server on 127.0.0.1 serving the tiny random model."""

from __future__ import annotations

import json
import logging
import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from drgym.agents.hf_server import HFChatServer, parse_hermes_tool_calls
from drgym.agents.tiny_model import build_tiny_model

openai = pytest.importorskip("openai", reason="the official openai SDK is not installed (pip install openai)")

HERMES_TEMPLATE = (  # the tool rules of Hermes-style templates (Qwen's among them), written for these tests
    "{%- if tools %}<|system|>\n# Tools\n<tools>{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}\n</tools>\n"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'tool' %}<|tool|>\n<tool_response id=\"{{ message['tool_call_id'] }}\">\n"
    "{{ message['content'] }}\n</tool_response>\n"
    "{%- else %}<|{{ message['role'] }}|>\n{{ message['content'] }}"
    "{%- for call in message.get('tool_calls', []) %}<tool_call>\n"
    "{\"name\": \"{{ call['function']['name'] }}\", \"arguments\": {{ call['function']['arguments'] | tojson }}}"
    "\n</tool_call>{%- endfor %}\n{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}<|assistant|>\n{% endif %}")
SEARCH_TOOL = {"type": "function", "function": {"name": "search", "description": "Search the web.",
                                                "parameters": {"type": "object",
                                                               "properties": {"q": {"type": "string"}}}}}
USER = [{"role": "user", "content": "What is the population of the city?"}]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from transformers import AutoTokenizer

    path = build_tiny_model(tmp_path_factory.mktemp("model") / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = HERMES_TEMPLATE
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def server(model_path):
    with HFChatServer(str(model_path), model_name="tiny", max_new_tokens=16) as server:
        yield server


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)


class ScriptedModel:
    """Stands in for the model's forward pass: whatever the prompt, it writes `text`, then the end-of-text token
    (so the tool-call parsing is driven end to end without a trained model)."""

    def __init__(self, server: HFChatServer, text: str) -> None:
        self.config = server.model.config
        self.script = server.tokenizer.encode(text, add_special_tokens=False) + [server.tokenizer.eos_token_id]
        self.vocab_size = len(server.tokenizer)
        self.step = 0

    def __call__(self, input_ids, **_):
        import torch

        if input_ids.shape[1] > 1:  # a prompt: a new request
            self.step = 0
        token = self.script[min(self.step, len(self.script) - 1)]
        self.step += 1
        logits = torch.zeros(input_ids.shape[0], 1, self.vocab_size)
        logits[:, :, token] = 50.0  # certain at any temperature
        return SimpleNamespace(logits=logits)


@pytest.fixture()
def scripted(server, monkeypatch):
    def script(text: str) -> None:
        monkeypatch.setattr(server, "model", ScriptedModel(server, text))

    return script


def _streamed(stream):
    """Content, tool calls and finish reason per choice, accumulated from chunks as SDK users do."""
    choices: dict[int, dict] = {}
    for chunk in stream:
        for choice in chunk.choices:
            state = choices.setdefault(choice.index, {"content": "", "tool_calls": {}, "finish_reason": None,
                                                      "logprobs": []})
            state["content"] += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                slot = state["tool_calls"].setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                slot["name"] += call.function.name or ""
                slot["arguments"] += call.function.arguments or ""
            if choice.logprobs and choice.logprobs.content:
                state["logprobs"] += choice.logprobs.content
            state["finish_reason"] = choice.finish_reason or state["finish_reason"]
    return choices


def test_max_tokens_reached_is_finish_reason_length_with_a_logprob_per_token(client):
    reply = client.chat.completions.create(model="tiny", messages=USER, max_tokens=6, temperature=0, logprobs=True,
                                           top_logprobs=3, extra_body={"ignore_eos": True})
    choice = reply.choices[0]
    assert choice.finish_reason == "length" and reply.usage.completion_tokens == 6
    assert len(choice.logprobs.content) == 6
    for entry in choice.logprobs.content:
        tops = [top.logprob for top in entry.top_logprobs]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True)
        assert entry.logprob == tops[0] <= 0  # greedy decoding takes the most likely token
        assert entry.bytes == list(entry.token.encode())


def test_greedy_decoding_matches_transformers_generate(server, client):
    import torch

    reply = client.chat.completions.create(model="tiny", messages=USER, max_tokens=12, temperature=0)
    inputs = server.tokenizer(server.prompt({"messages": USER}), add_special_tokens=False, return_tensors="pt")
    with torch.inference_mode():
        output = server.model.generate(**inputs, max_new_tokens=12, do_sample=False,
                                       pad_token_id=server.tokenizer.eos_token_id)
    expected = server.tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert reply.choices[0].message.content == expected


def test_stream_sends_server_sent_events_that_add_up_to_the_reply(server, client):
    request = {"model": "tiny", "messages": USER, "max_tokens": 10, "temperature": 0, "logprobs": True}
    reply = client.chat.completions.create(**request)
    stream = client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    streamed = _streamed(chunks)[0]
    assert streamed["content"] == reply.choices[0].message.content
    assert streamed["finish_reason"] == reply.choices[0].finish_reason
    assert [e.token for e in streamed["logprobs"]] == [e.token for e in reply.choices[0].logprobs.content]
    assert all(chunk.object == "chat.completion.chunk" and chunk.id == chunks[0].id for chunk in chunks)
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == reply.usage.completion_tokens

    with httpx.stream("POST", f"{server.url}/chat/completions", json={**request, "stream": True}) as response:
        assert response.headers["content-type"] == "text/event-stream"
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"


def test_n_choices_are_sampled_independently_and_streamed_by_index(client):
    request = {"model": "tiny", "messages": USER, "max_tokens": 8, "temperature": 1.0, "seed": 3, "n": 3,
               "extra_body": {"ignore_eos": True}}
    reply = client.chat.completions.create(**request)
    assert [c.index for c in reply.choices] == [0, 1, 2] and reply.usage.completion_tokens == 24
    assert len({c.message.content for c in reply.choices}) > 1
    streamed = _streamed(client.chat.completions.create(**request, stream=True))
    assert [streamed[i]["content"] for i in range(3)] == [c.message.content for c in reply.choices]
    assert {s["finish_reason"] for s in streamed.values()} == {"length"}


def test_a_stop_string_ends_the_reply_and_is_cut_from_it(client):
    request = {"model": "tiny", "messages": USER, "max_tokens": 24, "temperature": 1.0, "seed": 5,
               "extra_body": {"ignore_eos": True}}
    text = client.chat.completions.create(**request).choices[0].message.content
    at = next(k for k in range(3, len(text) - 2) if "\ufffd" not in text[k:k + 2] and text.find(text[k:k + 2]) == k)
    stop = text[at:at + 2]
    reply = client.chat.completions.create(**request, stop=[stop, "never in the text"])
    assert reply.choices[0].message.content == text[:at] and reply.choices[0].finish_reason == "stop"
    streamed = _streamed(client.chat.completions.create(**request, stop=stop, stream=True))[0]
    assert streamed["content"] == text[:at] and streamed["finish_reason"] == "stop"


def test_tools_and_tool_results_reach_the_prompt_through_the_chat_template(server, client):
    history = USER + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_7", "type": "function", "function": {"name": "search", "arguments": '{"q": "city"}'}}]},
        {"role": "tool", "tool_call_id": "call_7", "content": "42,000 people"}]
    prompt = server.prompt({"messages": history, "tools": [SEARCH_TOOL]})
    assert '"name": "search"' in prompt and '"description": "Search the web."' in prompt
    assert '{"name": "search", "arguments": {"q": "city"}}' in prompt
    assert '<tool_response id="call_7">\n42,000 people' in prompt
    assert server.prompt({"messages": history, "tools": [SEARCH_TOOL], "tool_choice": "none"}) == prompt

    def prompt_tokens(**tools):
        return client.chat.completions.create(model="tiny", messages=history, max_tokens=1, **tools).usage.prompt_tokens

    assert prompt_tokens(tools=[SEARCH_TOOL]) > prompt_tokens()


def test_a_template_without_tools_support_is_logged(tmp_path, caplog):
    path = build_tiny_model(tmp_path / "plain")  # its template ignores `tools`
    with HFChatServer(str(path), model_name="plain") as server, caplog.at_level(logging.WARNING):
        server.prompt({"messages": USER, "tools": [SEARCH_TOOL]})
    assert "does not render `tools`" in caplog.text


def test_hermes_tool_calls_come_back_structured_streamed_or_not(client, scripted):
    scripted('Let me look. <tool_call>\n{"name": "search", "arguments": {"q": "population"}}\n</tool_call>')
    reply = client.chat.completions.create(model="tiny", messages=USER, tools=[SEARCH_TOOL], max_tokens=64)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me look. "
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "search"
    assert json.loads(call.function.arguments) == {"q": "population"}

    streamed = _streamed(client.chat.completions.create(model="tiny", messages=USER, tools=[SEARCH_TOOL],
                                                        max_tokens=64, stream=True))[0]
    assert streamed["content"] == "Let me look. " and streamed["finish_reason"] == "tool_calls"
    [call] = streamed["tool_calls"].values()
    assert call["name"] == "search" and json.loads(call["arguments"]) == {"q": "population"}
    assert call["id"].startswith("call_")


def test_an_unclosed_trailing_tool_call_counts_as_vllm_hermes_parser_does(client, scripted):
    scripted('<tool_call>\n{"name": "search", "arguments": {"q": "x"}}')
    reply = client.chat.completions.create(model="tiny", messages=USER, tools=[SEARCH_TOOL], max_tokens=64)
    assert reply.choices[0].message.content is None and reply.choices[0].message.tool_calls[0].function.name == "search"


def test_tool_choice_none_and_malformed_calls_leave_the_text_as_content(client, scripted):
    text = '<tool_call>{"name": "search", "arguments": {"q": "x"}}</tool_call>'
    scripted(text)
    for stream in (False, True):
        request = {"model": "tiny", "messages": USER, "tools": [SEARCH_TOOL], "tool_choice": "none", "max_tokens": 64}
        if stream:
            streamed = _streamed(client.chat.completions.create(**request, stream=True))[0]
            assert streamed["content"] == text and not streamed["tool_calls"] and streamed["finish_reason"] == "stop"
        else:
            reply = client.chat.completions.create(**request)
            assert reply.choices[0].message.content == text and not reply.choices[0].message.tool_calls
    scripted("<tool_call>{not json</tool_call>")
    streamed = _streamed(client.chat.completions.create(model="tiny", messages=USER, tools=[SEARCH_TOOL],
                                                        max_tokens=64, stream=True))[0]
    assert streamed["content"] == "<tool_call>{not json</tool_call>" and streamed["finish_reason"] == "stop"


def test_parse_hermes_tool_calls_follows_the_hermes_rules():
    content, calls = parse_hermes_tool_calls('a<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>'
                                             '<tool_call>{"name": "g", "arguments": {}}</tool_call>')
    assert content == "a" and [c["function"]["name"] for c in calls] == ["f", "g"]
    assert len({c["id"] for c in calls}) == 2
    assert parse_hermes_tool_calls("plain") == ("plain", [])
    assert parse_hermes_tool_calls('<tool_call>["f"]</tool_call>') == ('<tool_call>["f"]</tool_call>', [])


@pytest.mark.parametrize(("request_fields", "param", "message"), [
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role", "Input should be"),
    ({"tool_choice": "required", "tools": [SEARCH_TOOL]}, "tool_choice", "needs constrained decoding"),
    ({"top_logprobs": 2}, "top_logprobs", "top_logprobs needs logprobs: true"),
    ({"n": 0}, "n", "greater than or equal to 1"),
    ({"presence_penalty": 0.5}, "presence_penalty", "not supported"),
    ({"messages": USER + [{"role": "tool", "content": "x"}]}, "messages[1].tool_call_id", "needs the tool_call_id"),
    ({"messages": USER, "max_tokens": 10 ** 6}, "messages", "maximum context length is 16384 tokens"),
])
def test_a_bad_request_is_an_openai_error_with_status_400(client, request_fields, param, message):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(**{"model": "tiny", "messages": USER, **request_fields})
    assert raised.value.status_code == 400 and raised.value.param == param
    assert message in raised.value.body["message"] and raised.value.body["type"] == "invalid_request_error"


def test_malformed_bodies_unknown_models_and_routes_get_json_errors(server, client):
    response = httpx.post(f"{server.url}/chat/completions", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "not JSON" in response.json()["error"]["message"]
    response = httpx.post(f"{server.url}/chat/completions", json=["a list"])
    assert response.status_code == 400 and "JSON object" in response.json()["error"]["message"]
    with pytest.raises(openai.NotFoundError, match="The model `other` does not exist"):
        client.chat.completions.create(model="other", messages=USER)
    assert httpx.get(f"{server.url}/nothing").json()["error"]["type"] == "not_found_error"
    assert [m.id for m in client.models.list()] == ["tiny"]


def test_requests_decode_side_by_side_not_one_after_another(server, client):
    replies = []

    def ask() -> None:
        replies.append(client.chat.completions.create(model="tiny", messages=USER, max_tokens=4, stream=False))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    with server._model_lock:  # no request can take a decoding step until all three are in
        for thread in threads:
            thread.start()
        while server.requests_running < 3:
            time.sleep(0.01)
    for thread in threads:
        thread.join()
    assert len(replies) == 3 and all(r.choices[0].finish_reason in ("stop", "length") for r in replies)


def test_a_client_that_hangs_up_mid_stream_frees_its_slot(server):
    request = {"model": "tiny", "messages": USER, "max_tokens": 5000, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", f"{server.url}/chat/completions", json=request) as response:
        first = next(response.iter_lines())
        assert first.startswith("data: ") and server.requests_running == 1
    while server.requests_running:  # the server notices at its next write
        time.sleep(0.05)
    reply = httpx.post(f"{server.url}/chat/completions", json={"model": "tiny", "messages": USER, "max_tokens": 2})
    assert reply.status_code == 200
