"""The report's content as plain data: numbers with ids, paragraphs, tables and sections.

A section is a CausalPy-style ``(table, text)`` pair with a stable ``id``. Text is a tuple of
paragraphs; a paragraph is a tuple of parts, each a plain string or a :class:`Num`. A :class:`Num`
is a formatted key number with a stable element id: the HTML renderer wraps it in
``<span class="num" id="..." data-value="...">``, the Markdown renderer writes its text. Nothing
here knows about HTML or Markdown, and every string is treated as untrusted by the renderers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Num:
    """A key number: element ``id``, its formatted ``text`` and the raw ``value``."""

    id: str
    text: str
    value: float = float("nan")


Part = str | Num
Paragraph = tuple[Part, ...]


@dataclass(frozen=True)
class Table:
    """A small table: a caption, column names and rows of cells (strings or :class:`Num`)."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Part, ...], ...]
    id: str = ""


@dataclass(frozen=True)
class Section:
    """One section of the page: title, paragraphs, tables, bullet points and figure names.

    ``figures`` are keys of the report's figure dict (e.g. ``"fan_chart"``).
    """

    id: str
    title: str
    text: tuple[Paragraph, ...] = ()
    tables: tuple[Table, ...] = ()
    bullets: tuple[Paragraph, ...] = ()
    figures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alert:
    """The convergence warning block: a headline, the reason and the advice."""

    headline: str
    reason: str
    advice: tuple[str, ...] = ()


@dataclass(frozen=True)
class Content:
    """Everything the page says, in reading order; ``numbers`` indexes every :class:`Num` by id."""

    title: str
    sections: tuple[Section, ...]
    subtitle: str = ""
    alert: Alert | None = None
    figure_captions: dict[str, str] = field(default_factory=dict)

    @property
    def numbers(self) -> dict[str, Num]:
        """Every key number of the page, by element id."""
        found = {}
        for section in self.sections:
            parts = [p for para in (*section.text, *section.bullets) for p in para]
            parts += [c for t in section.tables for row in t.rows for c in row]
            found.update({p.id: p for p in parts if isinstance(p, Num) and p.id})
        return found


def sentence(*parts: Part) -> Paragraph:
    """A paragraph from parts, dropping empty strings."""
    return tuple(p for p in parts if not (isinstance(p, str) and p == ""))
