"""Bounding what the agent reads: short previews of values it sent, and text cut to a limit with a note.

Policy input can be arbitrarily large; an error message quotes at most a preview of it, so a 1 MB query or a
300 KB tool name never comes back verbatim and every observation stays inside the observation space.
"""

from __future__ import annotations

__all__ = ["PREVIEW_CHARS", "clip", "preview"]

PREVIEW_CHARS = 80
"""How much of a rejected value an error message quotes."""


def preview(value: object, limit: int = PREVIEW_CHARS) -> str:
    """`repr` of a string or number, cut to about `limit` characters with the full length noted.

    Numbers are previewed from their digits without ``str()`` on the whole value: a 5,000-digit integer would
    raise ValueError (Python's int-to-str digit limit) and a huge one would take quadratic time.
    """
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() <= 3 * limit:  # at most ~0.9 * limit digits: safe and short
            return repr(value)
        return f"<an integer of about {int(value.bit_length() * 0.30103):,} digits>"
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f"… ({len(value):,} characters)"


def clip(text: str, limit: int, *, what: str = "text") -> str:
    """`text` itself when it fits in `limit` characters, else its head and a note of what was cut.

    The result is never longer than `limit` (as long as `limit` leaves room for the note, ~70 characters).
    """
    if len(text) <= limit:
        return text
    note = f"\n[{what} cut to {limit:,} characters; it had {len(text):,}]"
    return text[:max(0, limit - len(note))] + note
