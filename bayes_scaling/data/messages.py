"""How the runs-table checks show a value or an error inside a one-line problem message."""

from __future__ import annotations


def short(value, width: int = 40) -> str:
    """``repr(value)``, cut to ``width`` characters with a trailing ``...``."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def one_line(text: str) -> str:
    """``text`` with its whitespace collapsed to single spaces, at most 300 characters."""
    return " ".join(str(text).split())[:300]
