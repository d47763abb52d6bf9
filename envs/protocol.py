"""The action protocol: raw assistant text in ReAct/Hermes form, or an OpenAI assistant message dict.

Text form::

    <think>optional reasoning</think>
    <tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["..."]}}</tool_call>
    <tool_call>{"name": "todo", "arguments": {"action": "list"}}</tool_call>      (several run as a batch)

or a final ``<answer>…</answer>`` / ``<answer file="report.md"/>`` (a report drafted in the workspace).
Anything else is reported back to the agent as an error observation; nothing here raises on agent input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["ACTION_FORMAT", "MAX_TOOL_CALLS_PER_TURN", "ParsedAction", "ToolCall", "parse_action"]

MAX_TOOL_CALLS_PER_TURN = 16
ACTION_FORMAT = ('Expected: <tool_call>{"name": TOOL, "arguments": {...}}</tool_call> (one or more), or a final '
                 '<answer>...</answer> or <answer file="report.md"/>.')

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_ANSWER_FILE = re.compile(r"""<answer\s+file\s*=\s*["']([^"']*)["']\s*/?>(?:\s*</answer>)?""")
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    call_id: str


@dataclass(frozen=True)
class ParsedAction:
    think: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    answer: str | None = None
    answer_file: str | None = None
    errors: tuple[str, ...] = ()
    """What was wrong with the action; when not empty, nothing in it is executed."""


def parse_action(action: Any) -> ParsedAction:
    """Reads one assistant turn; never raises on malformed input."""
    if isinstance(action, dict):
        return _parse_message(action)
    if not isinstance(action, str):
        return ParsedAction(errors=(f"the action must be assistant text or an assistant message dict, got "
                                    f"{type(action).__name__}. {ACTION_FORMAT}",))
    return _parse_text(action)


def _parse_text(text: str) -> ParsedAction:
    think = "\n".join(m.strip() for m in _THINK.findall(text))
    body = _THINK.sub(" ", text)
    errors: list[str] = []
    calls: list[ToolCall] = []
    for number, raw in enumerate(_TOOL_CALL.findall(body), start=1):
        call, error = _call_from_json(raw, f"call_{number}", where=f"tool call {number}")
        if error:
            errors.append(error)
        elif call is not None:
            calls.append(call)
    outside = _TOOL_CALL.sub(" ", body)
    if "<tool_call>" in outside or "</tool_call>" in outside:
        errors.append("a <tool_call> tag is not closed (or a </tool_call> has no opening tag).")
    answer, answer_file = _answer(outside)
    return _finish(think, calls, answer, answer_file, errors)


def _parse_message(message: dict) -> ParsedAction:
    content = message.get("content") or ""
    if not isinstance(content, str):
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict)) \
            if isinstance(content, list) else str(content)
    has_tags = any(tag in content for tag in ("<tool_call>", "</tool_call>", "<answer"))
    parsed_text = _parse_text(content) if has_tags else ParsedAction()  # plain text beside tool_calls: commentary
    errors = list(parsed_text.errors)
    calls = list(parsed_text.tool_calls)
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        errors.append("'tool_calls' must be a list of {id, type: 'function', function: {name, arguments}}.")
        raw_calls = []
    for number, raw in enumerate(raw_calls, start=1):
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            errors.append(f"tool call {number}: expected {{'function': {{'name': ..., 'arguments': '{{...}}'}}}}.")
            continue
        arguments = function.get("arguments", "{}")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except json.JSONDecodeError as e:
                errors.append(f"tool call {number} ({function['name']}): arguments are not valid JSON: {e.msg} at "
                              f"column {e.colno}.")
                continue
        if not isinstance(arguments, dict):
            errors.append(f"tool call {number} ({function['name']}): arguments must be a JSON object.")
            continue
        calls.append(ToolCall(function["name"], arguments, str(raw.get("id") or f"call_{number}")))
    return _finish(parsed_text.think, calls, parsed_text.answer, parsed_text.answer_file, errors)


def _call_from_json(raw: str, call_id: str, *, where: str) -> tuple[ToolCall | None, str | None]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        return None, f"{where}: invalid JSON ({e.msg} at line {e.lineno} column {e.colno}). {ACTION_FORMAT}"
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None, f'{where}: expected a JSON object with a string "name". {ACTION_FORMAT}'
    arguments = data.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None, f'{where} ({data["name"]}): "arguments" must be a JSON object.'
    if not isinstance(arguments, dict):
        return None, f'{where} ({data["name"]}): "arguments" must be a JSON object.'
    extra = set(data) - {"name", "arguments", "id"}
    if extra:
        return None, f'{where} ({data["name"]}): unexpected keys {sorted(extra)}; put them inside "arguments".'
    return ToolCall(data["name"], arguments, str(data.get("id") or call_id)), None


def _answer(text: str) -> tuple[str | None, str | None]:
    file_match = _ANSWER_FILE.search(text)
    if file_match:
        return None, file_match.group(1).strip()
    match = _ANSWER.search(text)
    if match:
        return match.group(1).strip(), None
    return None, None


def _finish(think: str, calls: list[ToolCall], answer: str | None, answer_file: str | None,
            errors: list[str]) -> ParsedAction:
    if (answer is not None or answer_file is not None) and (calls or errors):
        errors.append("give either tool calls or a final answer in one turn, not both; nothing was run.")
    if len(calls) > MAX_TOOL_CALLS_PER_TURN:
        errors.append(f"{len(calls)} tool calls in one turn; at most {MAX_TOOL_CALLS_PER_TURN} run as a batch.")
    if not calls and answer is None and answer_file is None and not errors:
        errors.append(f"no <tool_call> or <answer> found. {ACTION_FORMAT}")
    if errors:
        return ParsedAction(think=think, errors=tuple(errors))
    return ParsedAction(think=think, tool_calls=tuple(calls), answer=answer, answer_file=answer_file)
