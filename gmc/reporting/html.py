"""Render the report pages (``index.html``, ``ablations.html``) from the jinja2 templates in ``templates/``
(autoescaped, self-contained; shared CSS, banner and table macro in ``_macros.j2``)."""

from __future__ import annotations

import math
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from gmc.reporting.display import DECIMALS, UNDEFINED_MARK, Cell
from gmc.reporting.flags import LEGEND

TEMPLATES = Path(__file__).parent / "templates"
_MARK = '<sup class="undefined" title="{} split(s) with undefined correlation excluded">{}</sup>'


def format_number(value: float | None, signed: bool = False) -> str:
    """3 decimals, a true minus sign, an em dash for a missing value, no ``-0.000``."""
    if value is None or math.isnan(value):
        return "\u2014"
    value = round(float(value), DECIMALS)
    if value == 0:
        value = 0.0
    text = f"{abs(value):.{DECIMALS}f}"
    if value < 0:
        return "\u2212" + text
    return ("+" + text) if signed and value > 0 else text


def _flags(cell: Cell) -> Markup:
    """The cell's protocol flags as a superscript whose tooltip spells them out (legend in the caption)."""
    if not cell.flags:
        return Markup("")
    title = "; ".join(LEGEND[f] for f in cell.flags)
    return Markup(' <sup class="flags" title="{}">{}</sup>').format(title, ",".join(cell.flags))


def render_cell(cell: Cell) -> Markup:
    """The inner HTML of one cell (escaped text, or a number with its spread and split count; a number that
    excludes undefined splits gets ``UNDEFINED_MARK`` and n = defined/all; protocol flags last)."""
    if cell.interval is not None and cell.value is None:
        low, high = (format_number(v, signed=True) for v in cell.interval)
        return Markup("[{},\u2009{}]").format(low, high) + _flags(cell)
    if cell.value is not None or cell.text is None:
        out = escape(format_number(cell.value, cell.signed))
        if cell.bold:
            out = Markup("<strong>{}</strong>").format(out)
        if cell.n_undefined:
            out += Markup(_MARK).format(cell.n_undefined, UNDEFINED_MARK)
        if cell.spread is not None and not math.isnan(cell.spread):
            out += Markup(' <span class="sd">\u00b1\u202f{}</span>').format(format_number(cell.spread))
        if cell.n_undefined:
            n = cell.n or 0
            out += Markup(' <span class="n">n={}/{}</span>').format(n, n + cell.n_undefined)
        elif cell.n is not None:
            out += Markup(' <span class="n">n={}</span>').format(cell.n)
        return out + _flags(cell)
    out = escape(cell.text)
    if cell.href:
        out = Markup('<a href="{}">{}</a>').format(cell.href, out)
    if cell.bold:
        out = Markup("<strong>{}</strong>").format(out)
    if cell.dagger:
        out += Markup('<sup class="dagger" title="synthetic demo data">\u2020</sup>')
    return out + _flags(cell)


def data_attrs(attrs) -> Markup:
    return Markup("").join(Markup(' data-{}="{}"').format(k, v) for k, v in attrs)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = render_cell
    env.filters["data_attrs"] = data_attrs
    return env


def render_html(context: dict, template: str = "report.html.j2") -> str:
    return environment().get_template(template).render(**context)
