"""Render the report's content as Markdown: the same sections, sentences, tables and numbers.

Figures are linked as ``figures/<key>.png`` (:meth:`Report.save` writes them there). Every string
is escaped for Markdown, and ``<`` becomes ``&lt;`` (an entity's ``&`` becomes ``&amp;``), so a
run id such as ``<script>`` shows as text in any renderer that passes HTML through.
"""

from __future__ import annotations

import re

from bayes_scaling.report.blocks import Alert, Content, Num, Paragraph, Section, Table

#: Folder of the figure files, relative to the Markdown file.
FIGURE_DIR = "figures"
_SPECIAL = re.compile(r"([\\`*_\[\]|#])")
_ENTITY = re.compile(r"&(?=#?\w+;)")


def esc(text) -> str:
    """Escape a value for Markdown text or a table cell (one line).

    >>> esc("<script>a|b</script>")
    '&lt;script>a\\\\|b&lt;/script>'
    """
    text = _ENTITY.sub("&amp;", str(text)).replace("<", "&lt;")
    return _SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def paragraph(parts: Paragraph) -> str:
    """A paragraph's (or a table cell's) text; numbers in bold."""
    return "".join(f"**{esc(p.text)}**" if isinstance(p, Num) else esc(p) for p in parts)


def table(tab: Table) -> str:
    """A pipe table with its caption in italics above it."""
    lines = [
        f"*{esc(tab.caption)}*",
        "",
        "| " + " | ".join(esc(c) for c in tab.columns) + " |",
        "|" + "|".join("---" for _ in tab.columns) + "|",
    ]
    lines += ["| " + " | ".join(paragraph((c,)) for c in row) + " |" for row in tab.rows]
    return "\n".join(lines)


def section(sec: Section, content: Content, figures) -> str:
    """One section: heading, paragraphs, bullets, tables and figure links."""
    out = [f"## {esc(sec.title)}"]
    out += [paragraph(p) for p in sec.text]
    if sec.bullets:
        out.append("\n".join(f"- {paragraph(b)}" for b in sec.bullets))
    out += [table(t) for t in sec.tables]
    out += [
        f"![{esc(content.figure_captions.get(k, k))}]({FIGURE_DIR}/{k}.png)"
        for k in sec.figures
        if k in figures
    ]
    return "\n\n".join(out)


def alert_block(alert: Alert | None) -> str:
    """The convergence warning as a block quote, or nothing."""
    if alert is None:
        return ""
    lines = [f"> **WARNING: {esc(alert.headline)}**", ">", f"> {esc(alert.reason)}"]
    lines += [f"> - {esc(a)}" for a in alert.advice]
    return "\n".join(lines)


def render_markdown(content: Content, figures=(), *, headline: str | None = None) -> str:
    """The whole report as Markdown; ``figures`` are the figure keys to link; ``headline`` in
    bold under the title.

    Examples
    --------
    >>> from bayes_scaling.report.blocks import Content, Section
    >>> print(render_markdown(Content("T", (Section("question", "Q", (("why?",),)),))))
    # T
    <BLANKLINE>
    ## Q
    <BLANKLINE>
    why?
    <BLANKLINE>
    """
    parts = [f"# {esc(content.title)}"]
    if headline is not None:
        parts.append(f"**{esc(headline)}**")
    if content.subtitle:
        parts.append(f"*{esc(content.subtitle)}*")
    if content.alert is not None:
        parts.append(alert_block(content.alert))
    parts += [section(s, content, figures) for s in content.sections]
    return "\n\n".join(parts) + "\n"
