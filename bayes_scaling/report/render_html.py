"""Render the report's content as one self-contained HTML page.

The page is a template string with inline CSS; images are ``data:`` URIs; there are no scripts,
no external style sheets and no network links. Every string of the content goes through
:func:`html.escape` (run ids, group names, column names, titles, law and prior text all come from
the user), and attribute values are escaped with quotes. A key number is a
``<span class="num" id="...">``; an id is given once, later mentions carry ``data-ref``.
"""

from __future__ import annotations

import html
import math

from bayes_scaling.report.blocks import Alert, Content, Num, Paragraph, Section, Table
from bayes_scaling.report.figures import data_uri

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<main>
<header>
<h1 id="report-title">{title}</h1>
<p class="subtitle">{subtitle}</p>
</header>
{alert}
<nav id="contents" aria-label="Contents"><ol>{nav}</ol></nav>
{sections}
</main>
</body>
</html>
"""

CSS = """
body { margin: 0; background: #f6f7f9; color: #1d2330;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 64px; background: #fff;
  box-shadow: 0 0 0 1px #e3e6eb; }
header h1 { margin: 0 0 4px; font-size: 1.7rem; line-height: 1.25; overflow-wrap: anywhere; }
.subtitle { margin: 0 0 16px; color: #5a6372; font-size: 0.92rem; overflow-wrap: anywhere; }
nav ol { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0 0 8px; padding: 10px 14px;
  list-style: none; background: #f0f3f7; border-radius: 6px; font-size: 0.9rem; }
nav a { color: #2450a6; text-decoration: none; }
section { padding: 8px 0 12px; border-top: 1px solid #e3e6eb; }
section h2 { margin: 14px 0 8px; font-size: 1.3rem; }
section p, li { margin: 8px 0; overflow-wrap: break-word; }
#question p { font-size: 1.15rem; font-weight: 500; }
#answer p:first-of-type { font-size: 1.1rem; }
.num { font-weight: 650; font-variant-numeric: tabular-nums; white-space: nowrap; }
.table-wrap { overflow-x: auto; margin: 10px 0 14px; }
table { border-collapse: collapse; font-size: 0.92rem; min-width: 50%; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 4px 0; color: #3a4250; }
th, td { border: 1px solid #d9dde3; padding: 4px 10px; text-align: left; vertical-align: top; }
td { overflow-wrap: break-word; max-width: 420px; }
th { background: #f0f3f7; font-weight: 600; white-space: nowrap; }
td.fail { color: #b00020; font-weight: 700; }
figure { margin: 14px 0 18px; }
figure img { display: block; width: 100%; height: auto; border: 1px solid #e3e6eb; }
figcaption { font-size: 0.88rem; color: #5a6372; margin-top: 4px; }
ul { padding-left: 22px; }
li { margin: 4px 0; }
#convergence-warning { margin: 12px 0 18px; padding: 12px 18px; border: 3px solid #c00;
  border-radius: 6px; background: #fff0f0; color: #5c0000; }
#convergence-warning h2 { margin: 0 0 6px; font-size: 1.25rem; color: #b00000; }
#convergence-warning p { margin: 6px 0; }
"""


def esc(text) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(text), quote=True)


def _num(num: Num, seen: set[str]) -> str:
    value = "" if isinstance(num.value, float) and math.isnan(num.value) else num.value
    data = f' data-value="{esc(value)}"'
    if num.id and num.id not in seen:
        seen.add(num.id)
        return f'<span class="num" id="{esc(num.id)}"{data}>{esc(num.text)}</span>'
    return f'<span class="num" data-ref="{esc(num.id)}"{data}>{esc(num.text)}</span>'


def paragraph(parts: Paragraph, seen: set[str]) -> str:
    """The inner HTML of one paragraph: text escaped, numbers as spans."""
    return "".join(_num(p, seen) if isinstance(p, Num) else esc(p) for p in parts)


def table(tab: Table, seen: set[str]) -> str:
    """A table with a caption; a cell reading ``FAIL`` is marked."""
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in tab.columns)
    body = []
    for row in tab.rows:
        cells = []
        for cell in row:
            cls = ' class="fail"' if cell == "FAIL" else ""
            inner = _num(cell, seen) if isinstance(cell, Num) else esc(cell)
            cells.append(f"<td{cls}>{inner}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    ident = f' id="{esc(tab.id)}"' if tab.id else ""
    return (
        f'<div class="table-wrap"><table{ident}><caption>{esc(tab.caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def figure(key: str, caption: str, png: bytes) -> str:
    """One embedded figure, its image a data URI."""
    ident = esc(key.replace("_", "-"))
    return (
        f'<figure id="figure-{ident}"><img id="img-{ident}" src="{data_uri(png)}" '
        f'alt="{esc(caption)}"><figcaption>{esc(caption)}</figcaption></figure>'
    )


def section(sec: Section, content: Content, figures: dict[str, bytes], seen: set[str]) -> str:
    """One ``<section>``: heading, paragraphs, bullets, tables, then figures."""
    out = [f'<section id="{esc(sec.id)}"><h2>{esc(sec.title)}</h2>']
    out += [f"<p>{paragraph(p, seen)}</p>" for p in sec.text]
    if sec.bullets:
        out.append(
            "<ul>" + "".join(f"<li>{paragraph(b, seen)}</li>" for b in sec.bullets) + "</ul>"
        )
    out += [table(t, seen) for t in sec.tables]
    out += [
        figure(k, content.figure_captions.get(k, k), figures[k])
        for k in sec.figures
        if k in figures
    ]
    out.append("</section>")
    return "\n".join(out)


def alert_block(alert: Alert | None) -> str:
    """The red-bordered convergence warning, or nothing."""
    if alert is None:
        return ""
    advice = "".join(f"<li>{esc(a)}</li>" for a in alert.advice)
    advice = f"<p>What to try:</p><ul>{advice}</ul>" if advice else ""
    return (
        f'<div id="convergence-warning" class="warning" role="alert">'
        f"<h2>{esc(alert.headline)}</h2><p>{esc(alert.reason)}</p>{advice}</div>"
    )


def render_html(
    content: Content, figures: dict[str, bytes], *, headline: str | None = None, css: str = ""
) -> str:
    """The whole page as one HTML string (UTF-8, self-contained); ``headline`` in bold under
    the title (before any alert), ``css`` appended to the page's style.

    Examples
    --------
    >>> from bayes_scaling.report.blocks import Content, Section
    >>> page = render_html(Content("<b>t</b>", (Section("question", "Q", (("why?",),)),)), {})
    >>> "&lt;b&gt;t&lt;/b&gt;" in page and "<b>t</b>" not in page
    True
    """
    seen: set[str] = set()
    nav = "".join(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a></li>' for s in content.sections)
    body = "\n".join(section(s, content, figures, seen) for s in content.sections)
    lead = "" if headline is None else f'<p id="headline"><strong>{esc(headline)}</strong></p>\n'
    return PAGE.format(
        title=esc(content.title),
        subtitle=esc(content.subtitle),
        css=CSS.strip() + css,
        alert=lead + alert_block(content.alert),
        nav=nav,
        sections=body,
    )
