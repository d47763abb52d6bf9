"""The action protocol: raw assistant text in ReAct/Hermes form, or an OpenAI assistant message dict.

Text form::

    <think>optional reasoning</think>
    <tool_call>{"name": "batch_web_surfer", "arguments": {"queries": ["..."]}}</tool_call>
    <tool_call>{"name": "todo", "arguments": {"action": "list"}}</tool_call>      (several run as a batch)

or a final ``<answer>…</answer>`` / ``<answer file="report.md"/>`` (a report drafted in the workspace). The
last ``<tool_call>`` may be left unclosed (vLLM drops ``</tool_call>`` when it is a stop string). An assistant
message dict carries its calls in ``tool_calls``; one with neither tool calls nor tags is the final answer (the
plain reply of an OpenAI/vLLM native-mode model). Anything else is reported back to the agent as an error
observation; nothing here raises on agent input.

Parsing is one left-to-right pass over the text (each closing tag is searched for once past its opening tag,
and a tag known to be absent is never searched for again), so time is linear in the action's length whatever
it holds: unclosed tags, runaway repetition, deep nesting. Sizes are checked before any parsing.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from drgym.core.clipping import preview

__all__ = ["ACTION_FORMAT", "format_answer", "format_native_tool_calls", "format_tool_call", "MAX_ACTION_CHARS", "MAX_CALL_ID_CHARS", "MAX_JSON_DEPTH", "MAX_TOOL_CALLS_PER_TURN",
           "MAX_TOOL_NAME_CHARS", "ParsedAction", "TOOL_CALL_START", "ToolCall", "action_size_problem", "parse_action",
           "parse_hermes_tool_calls"]

MAX_ACTION_CHARS = 1_000_000
"""Longest action (text, or a message dict's JSON): the action space's `max_length`. Checked before parsing."""
MAX_TOOL_CALLS_PER_TURN = 16
MAX_JSON_DEPTH = 32
"""Deepest nesting of a tool call's JSON (objects and arrays); deeper input is refused, never recursed into."""
MAX_TOOL_NAME_CHARS = 64
"""Longest tool name (OpenAI's limit for function names)."""
MAX_CALL_ID_CHARS = 64
"""Longest tool-call id."""
MAX_ERRORS_SHOWN = 8
"""Problems of one action listed in the observation; the rest are counted."""
_MAX_INT_BITS = 14_000
"""About 4,200 digits: Python refuses to turn longer integers into text (sys.get_int_max_str_digits)."""

ACTION_FORMAT = ('Expected: <tool_call>{"name": TOOL, "arguments": {...}}</tool_call> (one or more), or a final '
                 '<answer>...</answer> or <answer file="report.md"/>.')

# Bounded quantifiers keep every attempt short, so trying this at each "<answer" costs linear time overall.
_ANSWER_FILE = re.compile(r"""<answer\s{1,16}file\s{0,16}=\s{0,16}(["'])([^"'\n]{0,4096})\1\s{0,16}/?>"""
                          r"""(?:\s{0,16}</answer>)?""")


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
    n_calls: int = 0
    """Tool calls the action wrote, well-formed or not: what `Budget.max_tool_calls` charges."""


def format_tool_call(name: str, arguments: dict[str, Any]) -> str:
    """One tool call in the text form `parse_action` reads (Hermes style, as Qwen's templates render it).

    >>> format_tool_call("todo", {"action": "list"})
    '<tool_call>{"name": "todo", "arguments": {"action": "list"}}</tool_call>'
    """
    # "</" written as "<\/" (the same JSON string): a value holding "</tool_call>" cannot close the block early
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False).replace("</", "<\\/")
    return f"<tool_call>{body}</tool_call>"


def format_native_tool_calls(tool_calls: Any) -> str:
    """An OpenAI assistant message's ``tool_calls`` in the text form, one `format_tool_call` each (how a text-mode
    chat template shows them). Arguments sent as a JSON string are decoded; a string that is not JSON stays a
    string, so nothing the model wrote is lost.
    """
    if isinstance(tool_calls, str):  # a record that stored them serialised
        try:
            tool_calls = json.loads(tool_calls)
        except json.JSONDecodeError:
            return ""
    text = ""
    for call in tool_calls if isinstance(tool_calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError:
                pass
        text += format_tool_call(str(function.get("name", "")), arguments)
    return text


def format_answer(answer: str | None = None, *, file: str | None = None) -> str:
    """A final answer in the text form `parse_action` reads: inline, or a report file in the workspace.

    >>> format_answer(file="report.md")
    '<answer file="report.md"/>'
    """
    if (answer is None) == (file is None):
        raise ValueError("give the answer text or the report file, not both")
    return f'<answer file="{file}"/>' if file is not None else f"<answer>{answer}</answer>"


def parse_action(action: Any) -> ParsedAction:
    """Reads one assistant turn; never raises on malformed input."""
    problem = action_size_problem(action)
    if problem is not None:
        return ParsedAction(errors=(problem,))
    if isinstance(action, dict):
        return _parse_message(action)
    return _parse_text(action)


def action_size_problem(action: Any) -> str | None:
    """Why `action` is refused before parsing (not text or a message dict, too long, too deep), or None.

    A message dict is walked iteratively with a running size, so a cyclic, huge or deeply nested object is
    refused after at most `MAX_ACTION_CHARS` steps, without recursion.
    """
    if isinstance(action, str):
        if len(action) > MAX_ACTION_CHARS:
            return (f"the action is {len(action):,} characters long; the limit is {MAX_ACTION_CHARS:,}. Nothing "
                    "was run: write shorter turns.")
        return None
    if not isinstance(action, dict):
        return (f"the action must be assistant text or an assistant message dict, got {type(action).__name__}. "
                f"{ACTION_FORMAT}")
    return json_data_problem(action, max_chars=MAX_ACTION_CHARS, max_depth=MAX_JSON_DEPTH + 4, what="the message")


def json_data_problem(value: Any, *, max_chars: int, max_depth: int, what: str) -> str | None:
    """Why `value` is not JSON data within `max_chars` (about its JSON length) and `max_depth`, or None."""
    size = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            size += len(item) + 2
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            size += 5
        elif isinstance(item, int):
            if item.bit_length() > _MAX_INT_BITS:
                return f"{what} holds an integer of about {int(item.bit_length() * 0.30103):,} digits; numbers " \
                       "must be shorter than 4,000 digits."
            size += 1 + item.bit_length() // 3
        elif isinstance(item, (dict, list, tuple)):
            if depth > max_depth:
                return f"{what} is nested more than {max_depth} levels deep; flatten the arguments."
            size += 2 + len(item)
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        return f"{what} has a key {preview(key)} that is not a string."
                    size += len(key) + 3
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        else:
            return f"{what} holds a {type(item).__name__}; an assistant message holds only JSON data."
        if size > max_chars:
            return f"{what} is longer than {max_chars:,} characters as JSON; write shorter turns."
    return None


def _parse_text(text: str) -> ParsedAction:
    scan = _Scan(text)
    errors = list(scan.errors)
    calls: list[ToolCall] = []
    for number, raw in enumerate(scan.raw_calls, start=1):
        call, error = _call_from_json(raw, f"call_{number}", where=f"tool call {number}")
        if error:
            errors.append(error)
        elif call is not None:
            calls.append(call)
    n_calls = len(scan.raw_calls) + scan.unclosed_calls
    return _finish("\n".join(scan.think), calls, scan.answer, scan.answer_file, errors, n_calls)


class _Scan:
    """One pass over the text: think blocks, raw tool-call bodies, the first answer, tag errors."""

    def __init__(self, text: str) -> None:
        self.think: list[str] = []
        self.raw_calls: list[str] = []
        self.unclosed_calls = 0
        self.answer: str | None = None
        self.answer_file: str | None = None
        self.errors: list[str] = []
        self._text = text
        self._absent: set[str] = set()
        stray_closing = unclosed_answer = False
        position = 0
        while (at := text.find("<", position)) >= 0:
            if text.startswith("<think>", at):
                end = self._closing("</think>", at + 7)
                if end < 0:  # an unclosed <think> is plain text, as a model's cut-off reasoning often is
                    position = at + 7
                    continue
                self.think.append(text[at + 7:end].strip())
                position = end + 8
            elif text.startswith("<tool_call>", at):
                end = self._closing("</tool_call>", at + 11)
                if end < 0:
                    rest = text[at + 11:]
                    if "<tool_call>" not in rest and rest.strip().startswith("{"):
                        # the last call left open, as vLLM leaves it when "</tool_call>" is a stop string
                        self.raw_calls.append(rest)
                        break
                    self.unclosed_calls += 1
                    position = at + 11
                    continue
                self.raw_calls.append(text[at + 11:end])
                position = end + 12
            elif text.startswith("</tool_call>", at):
                stray_closing = True
                position = at + 12
            elif text.startswith("<answer>", at):
                end = self._closing("</answer>", at + 8)
                if end < 0:
                    unclosed_answer = True
                    position = at + 8
                    continue
                if self.answer is None:
                    self.answer = text[at + 8:end].strip()
                position = end + 9  # the answer's text is the answer, not more protocol
            elif text.startswith("<answer", at) and (match := _ANSWER_FILE.match(text, at)):
                if self.answer_file is None:
                    self.answer_file = match.group(2).strip()
                position = match.end()
            else:
                position = at + 1
        if self.unclosed_calls:
            self.errors.append(f"{self.unclosed_calls} <tool_call> tag(s) not closed with </tool_call>.")
        if stray_closing:
            self.errors.append("a </tool_call> has no opening <tool_call> tag.")
        if unclosed_answer and self.answer is None and self.answer_file is None:
            self.errors.append("an <answer> tag is not closed with </answer>.")

    def _closing(self, tag: str, start: int) -> int:
        """Where `tag` next occurs from `start`, or -1. A tag found absent is never searched for again."""
        if tag in self._absent:
            return -1
        found = self._text.find(tag, start)
        if found < 0:
            self._absent.add(tag)
        return found


def _parse_message(message: dict) -> ParsedAction:
    content = message.get("content") or ""
    errors: list[str] = []
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        content = " ".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    elif not isinstance(content, str):
        errors.append(f"'content' must be text or a list of text parts, got {type(content).__name__}.")
        content = ""
    has_tags = any(tag in content for tag in ("<tool_call>", "</tool_call>", "<answer"))
    parsed_text = _parse_text(content) if has_tags else ParsedAction()  # plain text beside tool_calls: commentary
    errors += parsed_text.errors
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
            arguments, error = _load_json(arguments or "{}")
            if error is not None:
                errors.append(f"tool call {number} ({preview(function['name'])}): arguments are not valid JSON: "
                              f"{error}.")
                continue
        call, error = _checked_call(function["name"], arguments, raw.get("id"), f"call_{number}",
                                    where=f"tool call {number}")
        if error:
            errors.append(error)
        else:
            calls.append(call)
    n_calls = parsed_text.n_calls + len(raw_calls)
    answer = parsed_text.answer
    if not has_tags and not raw_calls and content.strip() and not errors:
        answer = content.strip()  # a plain reply without tool calls is the final answer (OpenAI/vLLM native mode)
    return _finish(parsed_text.think, calls, answer, parsed_text.answer_file, errors, n_calls)


def _load_json(raw: str) -> tuple[Any, str | None]:
    """Parsed JSON, or the reason it is not: invalid, nested past the recursion limit, or a too-long number."""
    try:
        return json.loads(raw), None
    except json.JSONDecodeError as e:
        return None, f"{e.msg} at line {e.lineno} column {e.colno}"
    except RecursionError:
        return None, f"nested too deeply (at most {MAX_JSON_DEPTH} levels)"
    except ValueError as e:  # an integer literal past Python's digit limit
        return None, preview(str(e), 120)


def _call_from_json(raw: str, call_id: str, *, where: str) -> tuple[ToolCall | None, str | None]:
    data, error = _load_json(raw)
    if error is not None:
        return None, f"{where}: invalid JSON ({error}). {ACTION_FORMAT}"
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None, f'{where}: expected a JSON object with a string "name". {ACTION_FORMAT}'
    arguments = data.get("arguments", {})
    if isinstance(arguments, str):
        arguments, error = _load_json(arguments)
        if error is not None:
            return None, f'{where} ({preview(data["name"])}): "arguments" must be a JSON object ({error}).'
    extra = set(data) - {"name", "arguments", "id"}
    if extra:
        shown = sorted(preview(key, 40) for key in extra)[:5]
        return None, f'{where} ({preview(data["name"])}): unexpected keys {", ".join(shown)}; put them inside ' \
                     '"arguments".'
    return _checked_call(data["name"], arguments, data.get("id"), call_id, where=where)


def _checked_call(name: str, arguments: Any, call_id: Any, default_id: str, *,
                  where: str) -> tuple[ToolCall | None, str | None]:
    if not name or len(name) > MAX_TOOL_NAME_CHARS:
        return None, f"{where}: a tool name has 1 to {MAX_TOOL_NAME_CHARS} characters, got {preview(name)}."
    if not isinstance(arguments, dict):
        return None, f'{where} ({name!r}): "arguments" must be a JSON object, got {type(arguments).__name__}.'
    problem = json_data_problem(arguments, max_chars=MAX_ACTION_CHARS, max_depth=MAX_JSON_DEPTH,
                                what=f"{where} ({name!r}): arguments")
    if problem is not None:
        return None, problem
    if call_id is None or call_id == "":
        call_id = default_id
    elif not isinstance(call_id, str) or len(call_id) > MAX_CALL_ID_CHARS:
        return None, f"{where} ({name!r}): 'id' must be a string of at most {MAX_CALL_ID_CHARS} characters, got " \
                     f"{preview(call_id)}."
    return ToolCall(name, arguments, call_id), None


def _finish(think: str, calls: list[ToolCall], answer: str | None, answer_file: str | None,
            errors: list[str], n_calls: int) -> ParsedAction:
    if (answer is not None or answer_file is not None) and (calls or errors):
        errors.append("give either tool calls or a final answer in one turn, not both; nothing was run.")
    if len(calls) > MAX_TOOL_CALLS_PER_TURN:
        errors.append(f"{len(calls)} tool calls in one turn; at most {MAX_TOOL_CALLS_PER_TURN} run as a batch.")
    if not calls and answer is None and answer_file is None and not errors:
        errors.append(f"no <tool_call> or <answer> found. {ACTION_FORMAT}")
    if len(errors) > MAX_ERRORS_SHOWN:
        errors = [*errors[:MAX_ERRORS_SHOWN - 1], f"… and {len(errors) - MAX_ERRORS_SHOWN + 1:,} more problems."]
    if errors:
        return ParsedAction(think=think, errors=tuple(errors), n_calls=n_calls)
    return ParsedAction(think=think, tool_calls=tuple(calls), answer=answer, answer_file=answer_file, n_calls=n_calls)


# -- what an OpenAI-compatible server makes of a model's reply (vLLM's hermes tool parser) -------------------------

TOOL_CALL_START = "<tool_call>"
_TOOL_CALL_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)


def parse_hermes_tool_calls(text: str) -> tuple[str | None, list[dict[str, Any]]]:
    """Splits a reply into its content and Hermes ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` calls.

    The rules of vLLM's hermes tool parser: the content is the text before the first ``<tool_call>`` (None when
    empty); a trailing block without ``</tool_call>`` counts; if any block is not such a JSON object, there are no
    calls and the whole text is the content.

    Returns:
        (content, calls) with calls in the OpenAI form ``{"id", "type": "function", "function": {"name",
        "arguments": JSON text}}``.

    Example:
        >>> parse_hermes_tool_calls('ok <tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>')[1][0]["function"]
        {'name': 'f', 'arguments': '{"x": 1}'}
    """
    start = text.find(TOOL_CALL_START)
    if start < 0:
        return text, []
    calls = []
    for match in _TOOL_CALL_BLOCK.finditer(text):
        try:
            call = json.loads(match.group(1) if match.group(1) is not None else match.group(2))
        except json.JSONDecodeError:
            return text, []
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return text, []
        calls.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                      "function": {"name": call["name"],
                                   "arguments": json.dumps(call.get("arguments", {}), ensure_ascii=False)}})
    return text[:start] or None, calls
