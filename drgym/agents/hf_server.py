"""An OpenAI-compatible chat-completions server for a local Hugging Face model, as a CPU stand-in for vLLM:
``drgym serve-hf --model-path PATH``.

What a request may use, and how it behaves (vLLM's behaviour where OpenAI and vLLM differ):

- ``messages`` go to the model's own chat template as they are: ``role: tool`` with its ``tool_call_id``,
  assistant ``tool_calls`` (string ``arguments`` parsed to objects, as vLLM does), extra fields such as
  ``reasoning_content``; a ``None`` content becomes ``""``, text parts are joined, ``developer`` is ``system``.
- ``tools`` are rendered by the chat template (``apply_chat_template(..., tools=...)``); a template that ignores
  them is logged once. ``tool_choice``: ``"auto"`` (the default) returns Hermes ``<tool_call>{...}</tool_call>``
  blocks as structured ``tool_calls`` with ids, and ``finish_reason`` "tool_calls" (a trailing unclosed block
  counts, as in vLLM's hermes parser; a block that is not JSON leaves the whole reply as content); ``"none"``
  renders the tools but parses nothing (vLLM's default). ``"required"`` and a named function need constrained
  decoding and are refused with a 400. ``parallel_tool_calls: false`` keeps the first call.
- ``stream: true`` answers Server-Sent Events (``chat.completion.chunk`` lines, then ``data: [DONE]``), token by
  token; text that may begin a stop string or a ``<tool_call>`` is held back until it is decided.
  ``stream_options.include_usage`` adds the usage chunk.
- ``n``, ``max_tokens`` / ``max_completion_tokens`` (``finish_reason`` "length" when reached), ``stop`` (cut
  from the reply), ``temperature`` (default 1.0, or the model's generation config; 0 is greedy), ``top_p``,
  ``seed``, ``logprobs`` and ``top_logprobs`` (raw model log-probabilities, before temperature, as vLLM), and
  vLLM's ``top_k``, ``ignore_eos`` and ``chat_template_kwargs``. Penalties, ``logit_bias`` and
  ``response_format`` other than text are refused with a 400; fields it does not know are logged and ignored.
- A bad request gets an OpenAI-shaped error (``{"error": {"message", "type", "param", "code"}}``) and a 400
  (404 for an unknown model or route); an unexpected failure is logged and answered with a 500, never a
  traceback.

Concurrency: each connection has its own thread; up to ``max_concurrent_requests`` requests decode at once,
interleaved token by token (a lock is held for one forward pass, not for a whole reply), and further requests
wait for a free slot. Requests are not batched together; for throughput, use vLLM.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drgym.agents.hf_policy import HFGenerator
from drgym.core.protocol import TOOL_CALL_START, parse_hermes_tool_calls
from drgym.errors import ConfigError

__all__ = ["ChatCompletionRequest", "HFChatServer", "InvalidRequest", "parse_hermes_tool_calls"]

logger = logging.getLogger(__name__)



class InvalidRequest(ConfigError):
    """A chat-completion request the server cannot serve; answered with an OpenAI-shaped error."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400,
                 error_type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.param, self.status, self.error_type = param, status, error_type

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.error_type, "param": self.param, "code": None}}


# -- the request ------------------------------------------------------------------------------------------------

class _FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class _Tool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: _FunctionSpec


class _CalledFunction(BaseModel):
    name: str
    arguments: str | dict[str, Any] = "{}"


class _ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    type: Literal["function"] = "function"
    function: _CalledFunction


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None


class _NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: dict[str, Any]


class ChatCompletionRequest(BaseModel):
    """The fields of an OpenAI chat-completion request this server reads (see the module docstring)."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[_Message] = Field(min_length=1)
    tools: list[_Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | _NamedToolChoice | None = None
    parallel_tool_calls: bool = True
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(1, ge=1, le=128)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    ignore_eos: bool = False
    chat_template_kwargs: dict[str, Any] | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[str, float] | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Plan:
    """A validated request, ready to decode."""

    request: ChatCompletionRequest
    prompt_ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    top_k: int
    stops: tuple[str, ...]
    parses_tools: bool


@dataclass
class _Choice:
    """One of the n completions as it is decoded."""

    index: int
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    sent_chars: int = 0
    sent_logprobs: int = 0


def _template_messages(messages: list[_Message]) -> list[dict[str, Any]]:
    """Messages as chat templates expect them (what vLLM hands its templates)."""
    converted = []
    for i, message in enumerate(messages):
        item = message.model_dump(exclude_none=True)
        if message.role == "developer":
            item["role"] = "system"
        content = message.content
        if isinstance(content, list):
            if any(part.get("type") != "text" for part in content):
                raise InvalidRequest("only text content parts are supported", param=f"messages[{i}].content")
            content = "\n".join(str(part.get("text", "")) for part in content)
        item["content"] = content or ""
        if message.role == "tool" and not message.tool_call_id:
            raise InvalidRequest("a message with role 'tool' needs the tool_call_id of the call it answers",
                                 param=f"messages[{i}].tool_call_id")
        if message.tool_calls:
            item["tool_calls"] = []
            for j, call in enumerate(message.tool_calls):
                arguments = call.function.arguments
                if isinstance(arguments, str):
                    try:
                        arguments = json.loads(arguments) if arguments.strip() else {}
                    except json.JSONDecodeError as e:
                        raise InvalidRequest(f"arguments are not JSON ({e})",
                                             param=f"messages[{i}].tool_calls[{j}].function.arguments") from None
                item["tool_calls"].append({**call.model_dump(exclude_none=True),
                                           "function": {"name": call.function.name, "arguments": arguments}})
        converted.append(item)
    return converted


def _held_back(text: str, markers: tuple[str, ...]) -> int:
    """How many trailing characters of `text` could still grow into one of `markers` (or finish a character)."""
    longest = 1 if text.endswith("\ufffd") else 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if text.endswith(marker[:size]):
                longest = size
                break
    return longest


class HFChatServer:
    """Serves ``/v1/chat/completions``, ``/v1/models`` and ``/health`` on ``host:port`` (port 0 = any free port).

    Args:
        model_path: a local model folder with a chat template.
        host: the address to listen on.
        port: 0 picks a free port; `url` says which.
        model_name: the name clients send as ``model`` (default: the path).
        device: torch device.
        max_new_tokens: ``max_tokens`` of a request that sets none (cut to the model's context).
        max_concurrent_requests: requests decoding at once; more wait for a free slot.
    """

    def __init__(self, model_path: str, *, host: str = "127.0.0.1", port: int = 0, model_name: str | None = None,
                 device: str = "cpu", max_new_tokens: int = 256, max_concurrent_requests: int = 4) -> None:
        if max_concurrent_requests < 1:
            raise ConfigError(f"max_concurrent_requests must be at least 1, got {max_concurrent_requests}")
        loaded = HFGenerator(model_path, device=device, max_new_tokens=max_new_tokens)
        self.model, self.tokenizer, self.device = loaded.model, loaded.tokenizer, device
        self.model_name = model_name or str(model_path)
        self.max_new_tokens = max_new_tokens
        self.context_tokens: int | None = getattr(self.model.config, "max_position_embeddings", None)
        generation = self.model.generation_config
        eos = generation.eos_token_id if generation.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_token_ids = frozenset([eos] if isinstance(eos, int) else eos or [])
        explicit = generation.to_diff_dict()
        self.default_sampling = {"temperature": float(explicit.get("temperature", 1.0)),
                                 "top_p": float(explicit.get("top_p", 1.0)), "top_k": int(explicit.get("top_k", 0))}
        # transformers 5.24 renamed forward's `past_key_values` to `cache`
        self._cache_argument = "cache" if "cache" in inspect.signature(self.model.forward).parameters \
            else "past_key_values"
        self._model_lock = threading.Lock()  # held for one forward pass
        self._tokenizer_lock = threading.Lock()  # fast tokenizers are not safe to share between threads
        self._slots = threading.BoundedSemaphore(max_concurrent_requests)
        self._count_lock = threading.Lock()
        self.requests_running = 0
        self._warned_tools_ignored = False
        self.httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_port}/v1"
        self._thread: threading.Thread | None = None

    # -- the API ---------------------------------------------------------------------------------------------

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """The ``chat.completion`` answer to a request body (its ``stream`` field is not read).

        Raises:
            InvalidRequest: the request is malformed or asks for something this server does not do.
        """
        plan = self._plan(body)
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        with self._slot():
            *_, choices = self._decode(plan)
        results = []
        for choice in choices:
            message: dict[str, Any] = {"role": "assistant", "content": choice.text}
            finish_reason = choice.finish_reason
            if plan.parses_tools:
                content, calls = self._tool_calls(choice.text, plan)
                if calls:
                    message.update(content=content, tool_calls=calls)
                    finish_reason = "tool_calls"
            results.append({"index": choice.index, "message": message, "finish_reason": finish_reason,
                            "logprobs": {"content": choice.logprobs} if plan.request.logprobs else None})
        return {"id": completion_id, "object": "chat.completion", "created": created, "model": self.model_name,
                "choices": results, "usage": self._usage(plan, choices), "system_fingerprint": None}

    def prompt(self, body: dict[str, Any]) -> str:
        """The text the model is given for a request: its messages and tools through the chat template.

        Raises:
            InvalidRequest: the request is malformed or asks for something this server does not do.
        """
        prompt_ids = self._plan(body).prompt_ids
        with self._tokenizer_lock:
            return self.tokenizer.decode(prompt_ids)

    def stream(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The ``chat.completion.chunk`` objects of a streamed answer (the request is checked before the first).

        Raises:
            InvalidRequest: the request is malformed or asks for something this server does not do.
        """
        plan = self._plan(body)
        return self._stream(plan)

    def _stream(self, plan: _Plan) -> Iterator[dict[str, Any]]:
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": self.model_name, "choices": choices, **extra}

        def piece(choice: _Choice, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            logprobs = None
            if plan.request.logprobs and choice.sent_logprobs < len(choice.logprobs):
                logprobs = {"content": choice.logprobs[choice.sent_logprobs:]}
                choice.sent_logprobs = len(choice.logprobs)
            return {"index": choice.index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}

        markers = plan.stops + ((TOOL_CALL_START,) if plan.parses_tools else ())
        with self._slot():
            yield chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                          "finish_reason": None} for i in range(plan.request.n)])
            announced: set[int] = set()
            for choices in self._decode(plan):
                pieces = []
                for choice in choices:
                    if choice.index in announced:
                        continue
                    text, calls = choice.text, []
                    if choice.finish_reason is None:
                        end = len(text) - _held_back(text, markers)
                        if plan.parses_tools and TOOL_CALL_START in text:
                            end = min(end, text.find(TOOL_CALL_START))
                    elif plan.parses_tools:
                        content, calls = self._tool_calls(text, plan)
                        end = len(content or "") if calls else len(text)
                    else:
                        end = len(text)
                    if end > choice.sent_chars or len(choice.logprobs) > choice.sent_logprobs:
                        pieces.append(piece(choice, {"content": text[choice.sent_chars:max(end, choice.sent_chars)]}))
                        choice.sent_chars = max(end, choice.sent_chars)
                    if choice.finish_reason is not None:
                        pieces.extend(piece(choice, {"tool_calls": [{"index": k, **call}]})
                                      for k, call in enumerate(calls))
                        pieces.append(piece(choice, {}, "tool_calls" if calls else choice.finish_reason))
                        announced.add(choice.index)
                if pieces:
                    yield chunk(pieces)
            if (plan.request.stream_options or {}).get("include_usage"):
                yield chunk([], usage=self._usage(plan, choices))

    def start(self) -> HFChatServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="drgym-hf-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> HFChatServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- checking a request --------------------------------------------------------------------------------------

    def _plan(self, body: Any) -> _Plan:
        if not isinstance(body, dict):
            raise InvalidRequest("the request body must be a JSON object")
        try:
            request = ChatCompletionRequest.model_validate(body)
        except ValidationError as e:
            error = e.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise InvalidRequest(f"{where}: {error['msg']}", param=where) from None
        if request.model not in (None, self.model_name):
            raise InvalidRequest(f"The model `{request.model}` does not exist; this server has `{self.model_name}`.",
                                 param="model", status=404, error_type="not_found_error")
        unknown = sorted(request.model_extra or {})
        if unknown:
            logger.warning("ignoring request fields this server does not know: %s", ", ".join(unknown))
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(request, name):
                raise InvalidRequest(f"{name} is not supported by drgym serve-hf (got {getattr(request, name)}); "
                                     "leave it at 0 or serve the model with vLLM", param=name)
        if request.logit_bias:
            raise InvalidRequest("logit_bias is not supported by drgym serve-hf", param="logit_bias")
        if request.response_format and request.response_format.get("type", "text") != "text":
            raise InvalidRequest("response_format other than text needs constrained decoding, which drgym serve-hf "
                                 "does not do; serve the model with vLLM", param="response_format")
        if request.top_logprobs and not request.logprobs:
            raise InvalidRequest("top_logprobs needs logprobs: true", param="top_logprobs")
        if request.tool_choice not in (None, "auto", "none"):
            shown = request.tool_choice if isinstance(request.tool_choice, str) else "a named function"
            raise InvalidRequest(f"tool_choice {shown!r} needs constrained decoding, which drgym serve-hf does not "
                                 "do; use 'auto' or 'none', or serve the model with vLLM", param="tool_choice")
        stops = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
        if any(not stop for stop in stops):
            raise InvalidRequest("stop strings must not be empty", param="stop")
        tools = [tool.model_dump(exclude_none=True) for tool in request.tools or []]
        prompt_ids = self._render(_template_messages(request.messages), tools, request.chat_template_kwargs or {})
        max_tokens = request.max_completion_tokens or request.max_tokens
        room = None if self.context_tokens is None else self.context_tokens - len(prompt_ids)
        if room is not None and (room < 1 or (max_tokens is not None and max_tokens > room)):
            raise InvalidRequest(f"This model's maximum context length is {self.context_tokens} tokens. However, you "
                                 f"requested {len(prompt_ids) + (max_tokens or 1)} tokens ({len(prompt_ids)} in the "
                                 f"messages, {max_tokens or 1} in the completion). Please reduce the length of the "
                                 "messages or completion.", param="messages")
        if max_tokens is None:
            max_tokens = self.max_new_tokens if room is None else min(self.max_new_tokens, room)
        sampling = self.default_sampling
        return _Plan(request=request, prompt_ids=prompt_ids, max_tokens=max_tokens,
                     temperature=sampling["temperature"] if request.temperature is None else request.temperature,
                     top_p=sampling["top_p"] if request.top_p is None else request.top_p,
                     top_k=sampling["top_k"] if request.top_k is None else request.top_k,
                     stops=stops, parses_tools=bool(tools) and request.tool_choice != "none")

    def _render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                template_kwargs: dict[str, Any]) -> list[int]:
        from jinja2.exceptions import TemplateError

        try:
            with self._tokenizer_lock:
                prompt = self.tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=False,
                                                            add_generation_prompt=True, **template_kwargs)
                if tools and not self._warned_tools_ignored and prompt == self.tokenizer.apply_chat_template(
                        messages, tokenize=False, add_generation_prompt=True, **template_kwargs):
                    self._warned_tools_ignored = True
                    logger.warning("the chat template of %s does not render `tools`: the model does not see them",
                                   self.model_name)
                return self.tokenizer.encode(prompt, add_special_tokens=False)
        except TemplateError as e:
            raise InvalidRequest(f"the chat template of {self.model_name} cannot render these messages: {e}",
                                 param="messages") from None

    # -- decoding --------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the `max_concurrent_requests` decoding slots (waits for a free one)."""
        with self._slots:
            with self._count_lock:
                self.requests_running += 1
            try:
                yield
            finally:
                with self._count_lock:
                    self.requests_running -= 1

    def _decode(self, plan: _Plan) -> Iterator[list[_Choice]]:
        """Decodes the n choices one token at a time; yields them after each token (the last yield has all
        finished)."""
        choices = [_Choice(index) for index in range(plan.request.n)]
        steps = self._steps(plan)
        try:
            for tokens, logprob_rows in steps:
                for choice, token_id, row in zip(choices, tokens, logprob_rows):
                    if choice.finish_reason is not None:
                        continue
                    choice.token_ids.append(token_id)
                    if plan.request.logprobs:
                        choice.logprobs.append(self._logprob_entry(token_id, row, plan.request.top_logprobs or 0))
                    with self._tokenizer_lock:
                        choice.text = self.tokenizer.decode(choice.token_ids, skip_special_tokens=True)
                    cuts = [i for i in (choice.text.find(stop) for stop in plan.stops) if i >= 0]
                    if cuts:
                        choice.text, choice.finish_reason = choice.text[:min(cuts)], "stop"
                    elif token_id in self.eos_token_ids and not plan.request.ignore_eos:
                        choice.finish_reason = "stop"
                    elif len(choice.token_ids) >= plan.max_tokens:
                        choice.finish_reason = "length"
                yield choices
                if all(choice.finish_reason is not None for choice in choices):
                    return
        finally:
            steps.close()

    def _steps(self, plan: _Plan) -> Iterator[tuple[list[int], Any]]:
        """Per step: the next token of each of the n rows and the rows' raw log-probabilities over the vocabulary."""
        import torch
        from transformers import DynamicCache

        input_ids = torch.tensor([plan.prompt_ids] * plan.request.n, device=self.device)
        rng = torch.Generator(device=self.device)
        if plan.request.seed is None:
            rng.seed()
        else:
            rng.manual_seed(plan.request.seed)
        cache = {self._cache_argument: DynamicCache(config=self.model.config)}  # filled in place, step by step
        while True:
            with self._model_lock, torch.inference_mode():
                output = self.model(input_ids=input_ids, use_cache=True, **cache)
            logits = output.logits[:, -1, :].float()
            tokens = _sample(logits, temperature=plan.temperature, top_p=plan.top_p, top_k=plan.top_k, rng=rng)
            yield tokens.tolist(), torch.log_softmax(logits, dim=-1)
            input_ids = tokens[:, None]

    def _logprob_entry(self, token_id: int, row: Any, top_n: int) -> dict[str, Any]:
        def entry(token: int, logprob: float) -> dict[str, Any]:
            with self._tokenizer_lock:
                text = self.tokenizer.decode([token])
            return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

        result = {**entry(token_id, float(row[token_id])), "top_logprobs": []}
        if top_n:
            values, ids = row.topk(top_n)
            result["top_logprobs"] = [entry(int(i), float(v)) for v, i in zip(values.tolist(), ids.tolist())]
        return result

    def _tool_calls(self, text: str, plan: _Plan) -> tuple[str | None, list[dict[str, Any]]]:
        content, calls = parse_hermes_tool_calls(text)
        return content, calls if plan.request.parallel_tool_calls else calls[:1]

    def _usage(self, plan: _Plan, choices: list[_Choice]) -> dict[str, int]:
        completion_tokens = sum(len(choice.token_ids) for choice in choices)
        return {"prompt_tokens": len(plan.prompt_ids), "completion_tokens": completion_tokens,
                "total_tokens": len(plan.prompt_ids) + completion_tokens}


def _sample(logits: Any, *, temperature: float, top_p: float, top_k: int, rng: Any) -> Any:
    """Greedy at temperature 0; otherwise temperature, then top-k, then nucleus (top-p) sampling."""
    import torch

    if temperature == 0:
        return logits.argmax(dim=-1)
    scores = logits / temperature
    if 0 < top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = scores.sort(dim=-1, descending=True)
        probabilities = torch.softmax(ordered, dim=-1)
        outside = probabilities.cumsum(dim=-1) - probabilities > top_p  # the most likely token always stays
        ordered = ordered.masked_fill(outside, float("-inf"))
        scores = torch.full_like(scores, float("-inf")).scatter(-1, order, ordered)
    return torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=rng)[:, 0]


def _handler_class(server: HFChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            path = self.path.split("?")[0].rstrip("/")
            if path.endswith("/models"):
                self._send_json(200, {"object": "list", "data": [
                    {"id": server.model_name, "object": "model", "created": 0, "owned_by": "drgym"}]})
            elif path == "/health":
                self._send_json(200, {})
            else:
                self._send_json(404, InvalidRequest(f"no route GET {self.path}", status=404,
                                                    error_type="not_found_error").payload())

        def do_POST(self):  # noqa: N802
            if not self.path.split("?")[0].rstrip("/").endswith("/chat/completions"):
                self._send_json(404, InvalidRequest(f"no route POST {self.path}", status=404,
                                                    error_type="not_found_error").payload())
                return
            try:
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                except (ValueError, UnicodeDecodeError) as e:
                    raise InvalidRequest(f"the request body is not JSON: {e}") from None
                if isinstance(body, dict) and body.get("stream"):
                    self._send_events(server.stream(body))
                else:
                    self._send_json(200, server.complete(body))
            except InvalidRequest as e:
                self._send_json(e.status, e.payload())
            except (BrokenPipeError, ConnectionResetError):
                logger.info("the client of a chat completion hung up")
            except Exception as e:  # noqa: BLE001 - a server answers every request; the traceback goes to the log
                logger.exception("chat completion failed")
                self._send_json(500, {"error": {"message": f"internal error: {type(e).__name__}: {e}",
                                                "type": "server_error", "param": None, "code": None}})

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_events(self, chunks: Iterator[dict[str, Any]]) -> None:
            try:
                first = next(chunks)  # a request refused before the first chunk still gets an error answer
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for item in itertools.chain([first], chunks):
                        self._send_event(item)
                except (BrokenPipeError, ConnectionResetError):
                    raise
                except Exception as e:  # noqa: BLE001 - the status is sent: the error goes in the stream, as vLLM's
                    logger.exception("streamed chat completion failed")
                    self._send_event({"error": {"message": f"internal error: {type(e).__name__}: {e}",
                                                "type": "server_error", "param": None, "code": None}})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            finally:
                chunks.close()

        def _send_event(self, item: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(item, ensure_ascii=False)}\n\n".encode())
            self.wfile.flush()

        def log_message(self, *args):
            pass

    return Handler
