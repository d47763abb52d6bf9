"""The episode's chat history as the environment hands it out: one list, appended to, never copied per step."""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["MessageHistory"]


class MessageHistory(list):
    """A list of chat messages that only the environment appends to.

    ``info["messages"]`` is this list itself, not a copy: a step costs the same at step 1 and step 10,000, and
    every `info` of an episode shows the history as it is now. Changing it in place raises (a policy that edits
    the list it was given would otherwise rewrite the episode); ``list(history)`` is a copy to change freely.
    It is a real `list`, so `json.dumps`, chat templates and ``history + [message]`` work, and it pickles as a
    plain list (vector envs send infos between processes).

    Example:
        >>> history = MessageHistory([{"role": "user", "content": "Who founded Kelvara?"}])
        >>> history.append({"role": "assistant", "content": "..."})
        Traceback (most recent call last):
        ...
        TypeError: info["messages"] is the environment's history and read-only: copy it with list(messages) to change it
        >>> [m["role"] for m in history + [{"role": "assistant", "content": "..."}]]
        ['user', 'assistant']
    """

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("info[\"messages\"] is the environment's history and read-only: copy it with list(messages) "
                        "to change it")

    append = extend = insert = pop = remove = clear = sort = reverse = _read_only
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only

    def __reduce__(self) -> tuple[type, tuple[list[Any]]]:
        return list, (list(self),)

    def __copy__(self) -> list[Any]:
        return list(self)

    def record(self, message: dict[str, Any]) -> None:
        """Appends a message: the environment's own way in."""
        list.append(self, message)
