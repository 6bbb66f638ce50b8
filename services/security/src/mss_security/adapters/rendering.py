"""A report as PDF: Jinja2 (autoescaped) HTML, matplotlib SVG charts, WeasyPrint.

Rendering is CPU-bound for seconds and holds the GIL most of that time, so the API runs it
in a child process (`render_in_process`): the event loop and its other requests never wait
for it. Report text is user input, so the HTML is autoescaped and WeasyPrint may fetch no
URL at all: the charts are inline SVG and the fonts are the system's (fonts-dejavu-core,
installed by scripts/lib/common.sh).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from mss_security.domain.alerts import Severity
from mss_security.domain.reports import Report

TEMPLATES = Path(__file__).parent / "templates"
SEVERITY_COLOURS = {"low": "#1e8449", "medium": "#b9770e", "high": "#c0392b", "critical": "#8b0000"}


@dataclass(frozen=True, slots=True)
class RenderInput:
    """Everything a PDF shows, picklable for the rendering process."""

    report: Report
    org_name: str
    daily_alerts: tuple[tuple[date, int], ...]
    draft: bool


@dataclass(frozen=True, slots=True)
class RenderedPdf:
    content: bytes
    sha256: str


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _svg(figure: Any) -> str:
    """The figure as an inline <svg> element (no XML prolog); its text stays text, set in
    DejaVu Sans by WeasyPrint (a third faster to lay out than text drawn as paths)."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buffer = io.StringIO()
    FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None})  # type: ignore[no-untyped-call]
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "mss-report"
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=72)


def severity_chart(by_severity: dict[str, int]) -> str:
    names = [s.value for s in Severity]
    figure = _figure(6.5, 2.4)
    axes = figure.add_subplot()
    counts = [by_severity.get(name, 0) for name in names]
    axes.bar(names, counts, color=[SEVERITY_COLOURS[n] for n in names])
    axes.set_ylabel("alerts")
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _svg(figure)


def trend_chart(daily: tuple[tuple[date, int], ...]) -> str:
    figure = _figure(6.5, 2.4)
    axes = figure.add_subplot()
    if daily:
        axes.plot([d for d, _ in daily], [n for _, n in daily], color="#12355b", marker=".")
        figure.autofmt_xdate()
    axes.set_ylabel("alerts")
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _svg(figure)


def html_of(data: RenderInput) -> str:
    """The report's HTML, every value autoescaped (the charts are our own SVG)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    report = data.report
    metrics = report.metrics
    return env.get_template("report.html.j2").render(
        report=report,
        org_name=data.org_name,
        draft=data.draft,
        type_label=report.type.value.capitalize(),
        period_label=report.period.label(),
        summary_paragraphs=[p.strip() for p in report.summary.split("\n\n") if p.strip()],
        m=metrics,
        severities=[s.value for s in Severity],
        mtta=_duration(metrics.get("mttaSeconds")),
        mttr=_duration(metrics.get("mttrSeconds")),
        hours=f"{float(metrics['interventions']['hours']):g}",
        severity_chart=severity_chart(metrics["alerts"]["bySeverity"]),
        trend_chart=trend_chart(data.daily_alerts),
    )


def _refusing_fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    class RefuseEveryUrl(URLFetcher):  # type: ignore[misc]  # untyped base
        """Report text is user input: no image, stylesheet or font URL is ever fetched
        (file://, http(s)://, data: alike); the document needs none."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"resource fetching is disabled in reports: {url[:80]}")

    return RefuseEveryUrl()


def render_pdf(data: RenderInput) -> RenderedPdf:
    """The PDF and its SHA-256 (blocking: run it through `render_in_process`)."""
    from weasyprint import HTML

    content = HTML(string=html_of(data), url_fetcher=_refusing_fetcher()).write_pdf()
    assert isinstance(content, bytes)
    return RenderedPdf(content=content, sha256=hashlib.sha256(content).hexdigest())


def preload() -> None:
    """Import the rendering libraries and lay out a first page (seconds: imports, the font
    configuration, Pango's and matplotlib's first use), so a publish does not pay for it."""
    from weasyprint import HTML

    severity_chart({"critical": 1})
    HTML(string="<p>warm-up</p>", url_fetcher=_refusing_fetcher()).write_pdf()


class Renderer:
    """One rendering process per API process, started at the first render."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    def warm(self) -> None:
        """Start the process and its imports now (a draft is made long before /publish)."""
        if self._pool is None:
            self._started().submit(preload)

    async def render(self, data: RenderInput) -> RenderedPdf:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._started(), render_pdf, data)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


RENDERER = Renderer()
