"""A drill's verdict as text, JSON, or one self-contained HTML page with an SVG timeline.

The HTML has no external assets (inline SVG and CSS, a few lines of inline script that only
mark the page as rendered): it opens offline in any browser.
"""

from __future__ import annotations

import html
import json
from typing import Any

from poolwarden.drill.health import CLIMB, DISAGREES, LIMIT
from poolwarden.drill.model import BASELINE, FAULT, PHASES, RECOVERY, Outcome
from poolwarden.drill.runner import RunData
from poolwarden.drill.verdict import Verdict

__all__ = ["render_html", "render_json", "render_text", "to_dict"]

_COLORS = {Outcome.BASELINE_ANSWER: "#4c78a8", Outcome.OK: "#54a24b", Outcome.LIE: "#e45756",
           Outcome.HONEST: "#f58518", Outcome.ERROR: "#9d9d9d"}
_LABELS = {Outcome.BASELINE_ANSWER: "baseline answer", Outcome.OK: "same answer as baseline",
           Outcome.LIE: "LIE: a different answer", Outcome.HONEST: "honest failure (5xx, 429, transient)",
           Outcome.ERROR: "other error"}
_TITLES = {DISAGREES: "baseline disagrees", LIMIT: "server at its connection limit", CLIMB: "connections climb"}


def _ms(value: float | None) -> str:
    return "—" if value is None else (f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s")


def to_dict(data: RunData, verdict: Verdict) -> dict[str, Any]:
    return {
        "passed": verdict.passed,
        "baseline_succeeded": verdict.baseline_succeeded,
        "inconclusive": verdict.inconclusive,
        "baseline_failures": verdict.baseline_failures,
        "lies": verdict.lies,
        "lie_examples": verdict.lie_examples,
        "findings": [f.as_dict() for f in verdict.findings],
        "recovered": verdict.recovered,
        "recovery_seconds": verdict.recovery_s,
        "fault_latency_ms": {"p50": verdict.fault_p50_ms, "p99": verdict.fault_p99_ms},
        "counts": verdict.counts,
        "connections": {"before": verdict.connections_before, "after": verdict.connections_after,
                        "returned": verdict.connections_returned},
        "targets": data.targets,
        "faults": data.faults,
        "plan": {"baseline": data.plan.baseline, "fault": data.plan.fault, "recovery": data.plan.recovery,
                 "concurrency": data.plan.concurrency, "interval": data.plan.interval},
        "interrupted": data.interrupted,
        "fault_errors": data.fault_errors,
        "requests": [r.as_dict() for r in data.requests],
        "server": {"max_connections": data.max_connections, "reserved_connections": data.reserved_connections},
        "samples": [{"t": round(s.t, 3), "by_application": s.by_application,
                     "idle_in_transaction": s.idle_in_transaction, "app_backends": s.app_backends,
                     "client_backends": s.client_backends, "refused": s.refused} for s in data.samples],
    }


def render_json(data: RunData, verdict: Verdict) -> str:
    return json.dumps(to_dict(data, verdict), indent=2)


def render_text(data: RunData, verdict: Verdict) -> str:
    lines = []
    head = "PASSED" if verdict.passed else "INCONCLUSIVE" if verdict.inconclusive else "FAILED"
    reasons = []
    if not verdict.baseline_succeeded:
        reasons.append(f"baseline never succeeded ({verdict.baseline_summary})")
    elif verdict.lies:
        reasons.append(f"{verdict.lies} lie(s)")
    if verdict.baseline_succeeded and not verdict.recovered:
        reasons.append("no recovery")
    reasons += dict.fromkeys(_TITLES[f.kind] for f in verdict.findings)  # in order, each once
    lines.append(f"drill {head}{': ' + ', '.join(reasons) if reasons else ''} — "
                 f"fault {', '.join(data.faults)}, targets: {'; '.join(data.targets)}")
    lines += [f"  {finding.message}" for finding in verdict.findings]
    for ex in verdict.lie_examples:
        status = "" if ex["status"] is None else f"{ex['status']} "
        lines.append(f"  lie at {ex['t']:.2f} s ({ex['phase']}): {ex['target']} answered {status}"
                     f"{ex['body'][:120]!r}, never seen in the baseline")
    lines.append(f"  during the fault: p50 {_ms(verdict.fault_p50_ms)}, p99 {_ms(verdict.fault_p99_ms)}")
    rec = "did not recover" if verdict.recovery_s is None else f"{verdict.recovery_s:.2f} s after the fault ended"
    lines.append(f"  recovery: {rec}")
    before, after = sum(verdict.connections_before.values()), sum(verdict.connections_after.values())
    lines.append(f"  app connections: {before} before, {after} after "
                 f"({'returned' if verdict.connections_returned else 'NOT returned'})")
    lines.append("  requests by phase:")
    for phase in PHASES:
        c = verdict.counts[phase]
        parts = [f"{n} {_LABELS[o].split(':')[0].split(' (')[0]}" for o, n in c.items() if n]
        lines.append(f"    {phase:<9} {', '.join(parts) or 'none'}")
    if data.interrupted:
        lines.append("  interrupted: partial results")
    for err in data.fault_errors:
        lines.append(f"  fault cleanup error: {err}")
    return "\n".join(lines)


def _svg(data: RunData) -> str:
    width, left, right = 960, 60, 20
    top_h, bottom_h, gap = 260, 160, 40
    total = max(data.ended, data.plan.total, 0.001)

    def x(t: float) -> float:
        return left + (width - left - right) * min(max(t, 0.0), total) / total

    lat = [r.latency_ms for r in data.requests] or [1.0]
    max_lat = max(lat) * 1.05 or 1.0
    out = [f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{top_h + bottom_h + gap + 40}" viewBox="0 0 {width} {top_h + bottom_h + gap + 40}">']
    bands = ((BASELINE, 0.0, data.fault_started, "#f3f6fa"), (FAULT, data.fault_started, data.fault_ended, "#fde8e4"),
             (RECOVERY, data.fault_ended, total, "#eef7ec"))
    for name, a, b, color in bands:
        out.append(f'<rect class="phase" x="{x(a):.1f}" y="0" width="{max(0.0, x(b) - x(a)):.1f}" '
                   f'height="{top_h + bottom_h + gap}" fill="{color}"><title>{name}</title></rect>')
        out.append(f'<text x="{x(a) + 4:.1f}" y="14" font-size="12" fill="#555">{name}</text>')
    out.append(f'<text x="4" y="{top_h / 2:.0f}" font-size="11" fill="#333" transform="rotate(-90 10 {top_h / 2:.0f})">'
               f'latency (max {_ms(max_lat)})</text>')
    for r in data.requests:
        cy = top_h - (top_h - 24) * (r.latency_ms / max_lat)
        out.append(f'<circle class="request {r.outcome}" cx="{x(r.started):.1f}" cy="{cy:.1f}" r="2.2" '
                   f'fill="{_COLORS.get(r.outcome, "#000")}"><title>{html.escape(r.outcome)} '
                   f'{r.status or r.error or ""} {r.latency_ms:.1f} ms</title></circle>')
    base = top_h + gap
    apps = sorted({a for s in data.samples for a in s.by_application})
    peak = max([sum(s.by_application.values()) for s in data.samples] + [1])
    palette = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#ff9da6", "#9d755d", "#72b7b2", "#eeca3b"]
    for i, app in enumerate(apps):
        points = " ".join(f"{x(s.t):.1f},{base + bottom_h - bottom_h * s.by_application.get(app, 0) / peak:.1f}"
                          for s in data.samples)
        out.append(f'<polyline class="connections" fill="none" stroke="{palette[i % len(palette)]}" '
                   f'stroke-width="1.5" points="{points}"><title>{html.escape(app)}</title></polyline>')
        out.append(f'<text x="{width - right - 200}" y="{base + 14 + 13 * i}" font-size="11" '
                   f'fill="{palette[i % len(palette)]}">{html.escape(app)}</text>')
    out.append(f'<text x="4" y="{base + bottom_h / 2:.0f}" font-size="11" fill="#333" '
               f'transform="rotate(-90 10 {base + bottom_h / 2:.0f})">server connections (max {peak})</text>')
    axis = top_h + bottom_h + gap + 16
    for k in range(0, int(total) + 1, max(1, int(total // 10) or 1)):
        out.append(f'<text x="{x(k):.1f}" y="{axis}" font-size="10" fill="#333" text-anchor="middle">{k}s</text>')
    out.append("</svg>")
    return "\n".join(out)


def _findings_html(verdict: Verdict) -> str:
    """The findings (drill.health) as a list, each with its kind as a class and data attribute."""
    if not verdict.findings:
        return ""
    items = "".join(f'<li class="finding" data-kind="{html.escape(f.kind)}">{html.escape(f.message)}</li>'
                    for f in verdict.findings)
    return f'<h2 class="FAILED">Failing without the fault</h2><ul id="findings">{items}</ul>'


def render_html(data: RunData, verdict: Verdict) -> str:
    d = to_dict(data, verdict)
    summary = {k: d[k] for k in ("passed", "lies", "recovery_seconds", "fault_latency_ms", "counts")}
    summary["findings"] = [f.kind for f in verdict.findings]
    summary_json = json.dumps(summary).replace("</", "<\\/")  # raw text inside <script>: only "</" matters
    status = "PASSED" if verdict.passed else "FAILED"
    legend = "".join(f'<span class="key"><i style="background:{c}"></i>{html.escape(_LABELS[o])}</span>'
                     for o, c in _COLORS.items())
    rows = "".join(
        f"<tr><td>{p}</td>" + "".join(f"<td>{verdict.counts[p][o]}</td>" for o in _COLORS) + "</tr>" for p in PHASES)
    lies = "".join(f"<li>{ex['t']:.2f} s, {html.escape(ex['target'])}: {ex['status'] or ''} "
                   f"<code>{html.escape(ex['body'][:200])}</code></li>" for ex in verdict.lie_examples)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>poolwarden drill: {status}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; }} .FAILED {{ color: #c0392b; }} .PASSED {{ color: #27ae60; }}
table {{ border-collapse: collapse; margin: 12px 0; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; }}
.key {{ margin-right: 14px; }} .key i {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; }}
</style></head>
<body data-rendered="no">
<h1>poolwarden drill: <span class="{status}">{status}</span></h1>
<p>Fault: <b>{html.escape(', '.join(data.faults))}</b>. Targets: {html.escape('; '.join(data.targets))}.</p>
<p>Lies: <b>{verdict.lies}</b>. During the fault: p50 {_ms(verdict.fault_p50_ms)}, p99 {_ms(verdict.fault_p99_ms)}.
Recovery: {'did not recover' if verdict.recovery_s is None else f'{verdict.recovery_s:.2f} s'}.
App connections: {sum(verdict.connections_before.values())} before, {sum(verdict.connections_after.values())} after.</p>
{f'<p>Lies seen:</p><ul>{lies}</ul>' if lies else ''}
{_findings_html(verdict)}
<div>{legend}</div>
{_svg(data)}
<table><tr><th>phase</th>{''.join(f'<th>{html.escape(_LABELS[o])}</th>' for o in _COLORS)}</tr>{rows}</table>
<script type="application/json" id="drill-data">{summary_json}</script>
<script>
var svg = document.getElementById("timeline");
var box = svg && svg.getBBox();
document.body.setAttribute("data-rendered", box && box.width > 0 && box.height > 0 ? "yes" : "no");
document.body.setAttribute("data-points", String(document.querySelectorAll("circle.request").length));
</script>
</body></html>
"""
