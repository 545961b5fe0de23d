# Copyright: (c) 2026, tke.flannel developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a Pod CIDR plan as JSON, as a text table and as a self-contained HTML page.

The input is the result of the ``pod_cidr_plan`` module as Ansible registers
it, failed or not: a failed plan carries what could still be computed, and
the page is most useful exactly then. The page needs nothing but a browser:
no scripts, no external assets; the address-space maps are inline SVG, so a
test (or an operator with ``chromium --dump-dom``) sees the same elements
the browser draws. Every text that comes from the plan is escaped.

Conflicting ranges carry ``class="conflict"`` and ``data-cidr``, so tests
and scripts can find them. Large plans stay small: contiguous node blocks
are drawn and listed as runs, and when there are too many runs the map
shows how full each stretch is instead of every block.

Only the standard library is used (``ipaddress`` rather than ``netaddr``),
so a report can be written even where the planner's dependency is missing.
"""

from __future__ import annotations

import html
import ipaddress
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

#: The plan's fields, in the order the JSON document and the table give them.
PLAN_FIELDS = (
    "cluster_cidr",
    "node_cidr_mask_size",
    "max_nodes",
    "pod_ips_per_node",
    "max_pods",
    "nodes_allocated",
    "nodes_free",
    "conflicts",
    "warnings",
    "problems",
    "reserved_cidrs",
    "node_blocks_in_use",
    "free_cidrs",
    "values",
)

#: Options whose ranges the operator gave; the other reserved ranges are the
#: ones every plan avoids (link-local, multicast, ...).
OPERATOR_OPTIONS = ("vpc_cidrs", "service_cidr", "extra_reserved_cidrs")

#: Above this many runs of node blocks the map shows fill per stretch instead.
MAX_DRAWN_RUNS = 300

#: Stretches of the cluster CIDR the map is cut into when runs are too many.
MAP_BINS = 200

#: Rows of the node and free-block tables; the rest is counted, not listed.
MAX_TABLE_ROWS = 100

_LABEL_WIDTH = 270
_BAR_WIDTH = 860
_ROW_HEIGHT = 26
_BAR_HEIGHT = 18


def plan_document(result: Mapping[str, Any]) -> dict[str, Any]:
    """The plan as a plain document: status, problems and the plan's own fields.

    Ansible's bookkeeping (``invocation``, ``changed``, ``_ansible_*``) is
    left out. A plan is ``ok`` when it carries chart values and did not fail;
    the module returns values only on success, so this holds even when the
    task that ran it was told to ignore the failure.
    """
    ok = "values" in result and not result.get("failed")
    problems = list(result.get("plan_problems") or [])
    if not ok and not problems and result.get("msg"):
        problems = str(result["msg"]).splitlines()
    warnings = result.get("plan_warnings")
    if warnings is None:
        warnings = result.get("warnings", [])
    document: dict[str, Any] = {"status": "ok" if ok else "failed"}
    source = dict(result, problems=problems, warnings=list(warnings or []))
    source.setdefault("conflicts", [])
    for field in PLAN_FIELDS:
        if field in source:
            document[field] = source[field]
    return document


def render_json(result: Mapping[str, Any]) -> str:
    """The plan document as indented JSON with sorted keys, so a re-run writes the same bytes."""
    return json.dumps(plan_document(result), indent=2, sort_keys=True) + "\n"


# -- address arithmetic --------------------------------------------------------


def _network(cidr: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return None


def _span(cidr: Any) -> tuple[int, int] | None:
    """First and last address of an IPv4 CIDR as integers, or None."""
    network = _network(cidr)
    if network is None or network.version != 4:
        return None
    return int(network.network_address), int(network.broadcast_address)


def _address(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _runs(spans: Iterable[tuple[int, int, Any]]) -> list[dict[str, Any]]:
    """Merge touching or overlapping (first, last, item) spans into runs, in address order."""
    runs: list[dict[str, Any]] = []
    for first, last, item in sorted(spans, key=lambda span: (span[0], span[1])):
        if runs and first <= runs[-1]["last"] + 1:
            run = runs[-1]
            run["last"] = max(run["last"], last)
            run["items"].append(item)
        else:
            runs.append({"first": first, "last": last, "items": [item]})
    return runs


def _overlap(first: int, last: int, other_first: int, other_last: int) -> tuple[int, int] | None:
    low, high = max(first, other_first), min(last, other_last)
    return (low, high) if low <= high else None


class _Facts:
    """What the renderers need, derived once from the plan document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.ok = document["status"] == "ok"
        self.cluster_cidr = document.get("cluster_cidr")
        self.cluster = _span(self.cluster_cidr) if self.cluster_cidr else None
        self.conflicts = [c for c in document.get("conflicts") or [] if isinstance(c, Mapping)]
        conflicting = {str(c.get("with", "")) for c in self.conflicts}
        self.reserved = []
        for entry in document.get("reserved_cidrs") or []:
            if not isinstance(entry, Mapping):
                continue
            option, cidr = str(entry.get("option", "")), str(entry.get("cidr", ""))
            span = _span(cidr)
            touches = bool(self.cluster and span and _overlap(*self.cluster, *span))
            self.reserved.append(
                {
                    "option": option,
                    "cidr": cidr,
                    "span": span,
                    "touches": touches,
                    "conflict": touches or f"{option} {cidr}" in conflicting,
                    "operator": option in OPERATOR_OPTIONS,
                }
            )
        blocks = [b for b in document.get("node_blocks_in_use") or [] if isinstance(b, Mapping)]
        inside, self.outside = [], []
        for block in blocks:
            span = _span(block.get("cidr"))
            if span and self.cluster and _overlap(*self.cluster, *span) == span:
                inside.append((*span, block))
            else:
                self.outside.append(block)
        self.node_runs = _runs(inside)
        free = [(*span, cidr) for cidr in document.get("free_cidrs") or [] if (span := _span(cidr))]
        self.free_runs = _runs(free)
        self.computed = "free_cidrs" in document


# -- text ------------------------------------------------------------------------


def _run_names(run: Mapping[str, Any]) -> str:
    names = [str(item.get("node", "?")) for item in run["items"]]
    if len(names) <= 2:
        return ", ".join(names)
    return f"{names[0]} … {names[-1]} ({len(names)} nodes)"


def _run_cidr(run: Mapping[str, Any]) -> str:
    return f"{_address(run['first'])} – {_address(run['last'])}"


def render_table(result: Mapping[str, Any]) -> list[str]:
    """The plan as lines of a two-column text table, for the play's output."""
    document = plan_document(result)
    facts = _Facts(document)
    rows: list[tuple[str, str]] = []
    problems = document.get("problems") or []
    status = "OK" if facts.ok else f"FAILED ({len(problems)} problem(s))"
    rows.append(("plan", status))
    for field in PLAN_FIELDS[:7]:
        if field in document:
            value = document[field]
            rows.append((field, f"/{value}" if field == "node_cidr_mask_size" else str(value)))
    runs = facts.node_runs
    rows.append(
        ("node blocks in use", f"{sum(len(r['items']) for r in runs)} in {len(runs)} run(s)")
    )
    for run in runs[:5]:
        rows.append(("", f"{_run_cidr(run)}  {_run_names(run)}"))
    if len(runs) > 5:
        rows.append(("", f"… {len(runs) - 5} more run(s) in the HTML report"))
    for block in facts.outside:
        rows.append(("", f"{block.get('cidr')}  {block.get('node')}  OUTSIDE cluster_cidr"))
    free = document.get("free_cidrs")
    if free is not None:
        shown = ", ".join(str(cidr) for cidr in free[:4]) or "none"
        more = f" … and {len(free) - 4} more" if len(free) > 4 else ""
        rows.append(("free node blocks", shown + more))
    for entry in facts.reserved:
        if entry["operator"] or entry["touches"]:
            state = "CONFLICT" if entry["conflict"] else "clear"
            rows.append(("reserved", f"{entry['option']} {entry['cidr']}  {state}"))
    for conflict in facts.conflicts:
        overlap = ", ".join(str(cidr) for cidr in conflict.get("overlap") or [])
        rows.append(
            (
                "CONFLICT",
                f"{conflict.get('source')} {conflict.get('cidr')} overlaps {conflict.get('with')}"
                f" (shared: {overlap})",
            )
        )
    for problem in problems:
        rows.append(("problem", str(problem)))
    for warning in document.get("warnings") or []:
        rows.append(("warning", str(warning)))
    width = max(len(row[0]) for row in rows)
    return [f"{name.ljust(width)}  {value}".rstrip() for name, value in rows]


# -- HTML ------------------------------------------------------------------------


def _e(value: Any) -> str:
    """Escape text and attribute values alike."""
    return html.escape(str(value), quote=True)


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CSS = """
:root { --used: #2f6fb3; --free: #cfe8d4; --conflict: #d0021b; --reserved: #8a8f98;
  --ink: #1d232b; --muted: #5c6570; --line: #d9dde3; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
code, .mono, td.cidr { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace;
  font-size: 13px; }
.status { display: inline-block; padding: 4px 12px; border-radius: 4px; font-weight: 600; }
.status.ok { background: #e3f4e6; color: #17612a; }
.status.failed { background: #fde6e8; color: #9c0014; }
table { border-collapse: collapse; margin: 4px 0; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.conflict td, li.problem { color: #9c0014; }
tr.conflict td:first-child { font-weight: 600; }
ul { margin: 4px 0; padding-left: 20px; }
li { margin: 3px 0; }
.note { color: var(--muted); }
.legend span { display: inline-flex; align-items: center; margin-right: 18px; }
.legend i { display: inline-block; width: 14px; height: 14px; margin-right: 6px;
  border: 1px solid rgba(0,0,0,.25); }
svg { display: block; width: 100%; height: auto; margin: 6px 0; }
svg text { font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; fill: var(--ink); }
svg text.inside { fill: #fff; }
svg .axis text { fill: var(--muted); font-size: 11px; }
pre { background: #f3f4f6; padding: 10px; overflow-x: auto; }
"""

_COLOURS = {
    "used": "#2f6fb3",
    "free": "#cfe8d4",
    "conflict": "#d0021b",
    "reserved": "#8a8f98",
    "unknown": "#e6e8eb",
    "cluster": "#2f6fb3",
}


def _legend() -> str:
    items = (
        ("used", "node block in use"),
        ("free", "free node blocks"),
        ("unknown", "not computed / part of a block"),
        ("reserved", "reserved range, clear"),
        ("conflict", "conflict"),
    )
    spans = "".join(
        f'<span><i style="background:{_COLOURS[key]}"></i>{_e(text)}</span>' for key, text in items
    )
    return f'<p class="legend">{spans}</p>'


def _rect(
    x: float, y: float, width: float, colour: str, attrs: str, title: str, height: int = _BAR_HEIGHT
) -> str:
    return (
        f'<rect x="{x:.2f}" y="{y}" width="{max(width, 1.0):.2f}" height="{height}" '
        f'fill="{colour}" {attrs}><title>{_e(title)}</title></rect>'
    )


def _row_label(y: float, text: str, klass: str = "") -> str:
    cls = f' class="{klass}"' if klass else ""
    return (
        f'<text x="{_LABEL_WIDTH - 10}" y="{y + 13}" text-anchor="end"{cls}>'
        f"<title>{_e(text)}</title>{_e(_short(text))}</text>"
    )


class _ClusterMap:
    """The cluster CIDR drawn to scale: node blocks, reserved ranges touching it, conflicts."""

    def __init__(self, facts: _Facts) -> None:
        self.facts = facts
        self.first, self.last = facts.cluster
        self.size = self.last - self.first + 1
        self.parts: list[str] = []

    def x(self, address: int) -> float:
        return _LABEL_WIDTH + (address - self.first) * _BAR_WIDTH / self.size

    def width(self, first: int, last: int) -> float:
        return (last - first + 1) * _BAR_WIDTH / self.size

    def render(self) -> str:
        y = 8
        facts = self.facts
        self.parts.append(_row_label(y, f"cluster_cidr {facts.cluster_cidr}"))
        self.parts.append(
            _rect(
                _LABEL_WIDTH,
                y,
                _BAR_WIDTH,
                _COLOURS["unknown"],
                'class="cluster"',
                f"cluster_cidr {facts.cluster_cidr}",
            )
        )
        binned = len(facts.node_runs) + len(facts.free_runs) > MAX_DRAWN_RUNS
        if binned:
            self._binned(y)
        else:
            self._runs(y)
        y += _ROW_HEIGHT
        labels_y = y
        if binned:
            self.parts.append(
                f'<text x="{_LABEL_WIDTH}" y="{y + 12}" class="note">{len(facts.node_runs)} runs '
                f"of node blocks: each of {MAP_BINS} stretches is shaded by how much of it is in "
                "use</text>"
            )
            y += 18
        else:
            y = self._node_labels(y)
        y = max(y, labels_y) + 6
        for entry in facts.reserved:
            if entry["touches"]:
                y = self._reserved_row(y, entry)
        y = self._conflict_row(y)
        y = self._axis(y)
        height = y + 4
        width = _LABEL_WIDTH + _BAR_WIDTH + 20
        return (
            f'<svg id="cluster-map" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" '
            f'aria-label="Address space of cluster_cidr {_e(facts.cluster_cidr)}">'
            + "".join(self.parts)
            + "</svg>"
        )

    def _runs(self, y: float) -> None:
        for run in self.facts.free_runs:
            cidrs = ", ".join(str(item) for item in run["items"])
            self.parts.append(
                _rect(
                    self.x(run["first"]),
                    y,
                    self.width(run["first"], run["last"]),
                    _COLOURS["free"],
                    f'class="free" data-cidr="{_e(cidrs)}"',
                    f"free: {cidrs}",
                )
            )
        for run in self.facts.node_runs:
            names = _run_names(run)
            cidr = _run_cidr(run)
            self.parts.append(
                _rect(
                    self.x(run["first"]),
                    y,
                    self.width(run["first"], run["last"]),
                    _COLOURS["used"],
                    f'class="used" data-cidr="{_e(cidr)}" data-nodes="{len(run["items"])}"',
                    f"in use: {names} ({cidr})",
                )
            )

    def _binned(self, y: float) -> None:
        """Shade each stretch by how much of it node blocks use; too many runs to draw each."""
        step = self.size / MAP_BINS
        used = [0.0] * MAP_BINS
        for run in self.facts.node_runs:
            first, last = run["first"] - self.first, run["last"] - self.first + 1
            index = int(first // step)
            while index < MAP_BINS and index * step < last:
                low, high = max(first, index * step), min(last, (index + 1) * step)
                used[index] += max(high - low, 0)
                index += 1
        for index, amount in enumerate(used):
            share = amount / step
            first = self.first + int(index * step)
            last = self.first + int((index + 1) * step) - 1
            self.parts.append(
                _rect(
                    self.x(first),
                    y,
                    self.width(first, last),
                    _COLOURS["used"] if share else _COLOURS["free"],
                    f'class="bin" fill-opacity="{0.25 + 0.75 * share:.2f}" data-used="{share:.3f}"',
                    f"{_address(first)} – {_address(last)}: {share:.0%} in use",
                )
            )

    def _node_labels(self, y: float) -> float:
        """Name the runs under the bar in lanes, so labels don't overlap; at most four lanes."""
        runs = self.facts.node_runs
        if not runs:
            return y
        lanes: list[float] = []
        placed = []
        for run in runs:
            centre = self.x(run["first"]) + self.width(run["first"], run["last"]) / 2
            text = _short(_run_names(run), 32)
            length = len(text) * 7.3 + 8
            left = min(max(centre - 4, _LABEL_WIDTH), _LABEL_WIDTH + _BAR_WIDTH - length)
            lane = next((i for i, end in enumerate(lanes) if end < left), None)
            if lane is None:
                if len(lanes) == 4:
                    placed = []
                    break
                lanes.append(0.0)
                lane = len(lanes) - 1
            lanes[lane] = left + length
            placed.append((centre, left, lane, text))
        if not placed:
            self.parts.append(
                f'<text x="{_LABEL_WIDTH}" y="{y + 12}" class="note">'
                f"{len(runs)} runs of node blocks: see the table below</text>"
            )
            return y + 18
        for centre, left, lane, text in placed:
            top = y + 14 + lane * 16
            self.parts.append(
                f'<line x1="{centre:.2f}" y1="{y - 8}" x2="{centre:.2f}" y2="{top - 10}" '
                f'stroke="#2f6fb3" stroke-width="1"/>'
                f'<text x="{left + 2:.2f}" y="{top}" class="node-label">{_e(text)}</text>'
            )
        return y + 18 + 16 * len(lanes)

    def _reserved_row(self, y: float, entry: Mapping[str, Any]) -> float:
        first, last = _overlap(self.first, self.last, *entry["span"])
        label = f"{entry['option']} {entry['cidr']}"
        shared = f"{_address(first)} – {_address(last)}"
        self.parts.append(_row_label(y, label, "conflict-label"))
        width = self.width(first, last)
        self.parts.append(
            _rect(
                self.x(first),
                y,
                max(width, 3.0),
                _COLOURS["conflict"],
                f'class="conflict reserved" data-cidr="{_e(entry["cidr"])}" '
                f'data-option="{_e(entry["option"])}"',
                f"{label} overlaps the cluster CIDR: {shared}",
            )
        )
        text = f"overlaps {shared}"
        if width > len(text) * 7.3 + 8:
            self.parts.append(
                f'<text x="{self.x(first) + 6:.2f}" y="{y + 13}" class="inside">{_e(text)}</text>'
            )
        return y + _ROW_HEIGHT

    def _conflict_row(self, y: float) -> float:
        """Conflicts between nodes' podCIDRs; those of the cluster CIDR have a row each above."""
        marks = []
        for conflict in self.facts.conflicts:
            if conflict.get("source") == "cluster_cidr":
                continue
            for cidr in conflict.get("overlap") or []:
                span = _span(cidr)
                inside = span and _overlap(self.first, self.last, *span)
                if inside:
                    marks.append((inside, str(cidr), conflict))
        if not marks:
            return y
        self.parts.append(_row_label(y, "node conflicts", "conflict-label"))
        for (first, last), cidr, conflict in marks:
            self.parts.append(
                _rect(
                    self.x(first),
                    y,
                    max(self.width(first, last), 3.0),
                    _COLOURS["conflict"],
                    f'class="conflict overlap" data-cidr="{_e(cidr)}" '
                    f'data-source="{_e(conflict.get("source", ""))}" '
                    f'data-with="{_e(conflict.get("with", ""))}"',
                    f"{conflict.get('source')} {conflict.get('cidr')} overlaps "
                    f"{conflict.get('with')}: {cidr}",
                )
            )
        return y + _ROW_HEIGHT

    def _axis(self, y: float) -> float:
        parts = ['<g class="axis">']
        for quarter in range(5):
            address = self.first + (self.size - 1) * quarter // 4
            if quarter not in (0, 4):
                address = self.first + self.size * quarter // 4
            x = self.x(address) if quarter < 4 else _LABEL_WIDTH + _BAR_WIDTH
            anchor = "start" if quarter == 0 else "end" if quarter == 4 else "middle"
            parts.append(
                f'<line x1="{x:.2f}" y1="{y}" x2="{x:.2f}" y2="{y + 5}" stroke="#8a8f98"/>'
                f'<text x="{x:.2f}" y="{y + 17}" text-anchor="{anchor}">'
                f"{_e(_address(address))}</text>"
            )
        parts.append(
            f'<line x1="{_LABEL_WIDTH}" y1="{y}" x2="{_LABEL_WIDTH + _BAR_WIDTH}" y2="{y}" '
            'stroke="#8a8f98"/></g>'
        )
        self.parts.append("".join(parts))
        return y + 22


def _overview(facts: _Facts) -> str:
    """The cluster CIDR among the operator's reserved ranges, on a compressed axis.

    Ranges differ in size by factors of millions, so each stretch between two
    range boundaries gets a width that grows with the logarithm of its size,
    and space between ranges is cut short. Order and overlap are exact; sizes
    are not to scale.
    """
    rows: list[tuple[str, tuple[int, int], str, Mapping[str, Any] | None]] = []
    rows.append((f"cluster_cidr {facts.cluster_cidr}", facts.cluster, "cluster", None))
    for entry in facts.reserved:
        if entry["span"] and (entry["operator"] or entry["touches"]):
            rows.append((f"{entry['option']} {entry['cidr']}", entry["span"], "reserved", entry))
    spans = [row[1] for row in rows]
    bounds = sorted({edge for first, last in spans for edge in (first, last + 1)})
    positions: dict[int, float] = {}
    x = float(_LABEL_WIDTH)
    for index, bound in enumerate(bounds):
        positions[bound] = x
        if index + 1 < len(bounds):
            size = bounds[index + 1] - bound
            covered = any(f <= bound and bound + size - 1 <= la for f, la in spans)
            x += 36 + 10 * math.log2(size) if covered else 42
    total = x - _LABEL_WIDTH
    scale = _BAR_WIDTH / total if total > _BAR_WIDTH else 1.0

    def at(address: int) -> float:
        return _LABEL_WIDTH + (positions[address] - _LABEL_WIDTH) * scale

    parts = []
    y = 8
    for label, (first, last), kind, entry in rows:
        parts.append(_row_label(y, label, "conflict-label" if entry and entry["conflict"] else ""))
        left, right = at(first), at(last + 1)
        if kind == "cluster":
            parts.append(
                _rect(left, y, right - left, _COLOURS["cluster"], 'class="cluster"', label)
            )
            for other in facts.reserved:
                shared = other["span"] and _overlap(first, last, *other["span"])
                if shared and other["conflict"]:
                    sl, sr = at(max(first, other["span"][0])), at(min(last, other["span"][1]) + 1)
                    parts.append(
                        _rect(
                            sl,
                            y + 5,
                            sr - sl,
                            _COLOURS["conflict"],
                            f'class="conflict overlap" data-cidr="{_e(other["cidr"])}"',
                            f"overlaps {other['option']} {other['cidr']}",
                            height=8,
                        )
                    )
        else:
            conflict = entry["conflict"]
            parts.append(
                _rect(
                    left,
                    y,
                    right - left,
                    _COLOURS["conflict" if conflict else "reserved"],
                    f'class="{"conflict " if conflict else ""}reserved" '
                    f'data-cidr="{_e(entry["cidr"])}" data-option="{_e(entry["option"])}"',
                    label + (" overlaps the cluster CIDR" if conflict else ": clear"),
                )
            )
        y += _ROW_HEIGHT
    axis = ['<g class="axis">']
    last_x = -100.0
    for bound in bounds:
        bx = at(bound)
        axis.append(
            f'<line x1="{bx:.2f}" y1="4" x2="{bx:.2f}" y2="{y + 2}" stroke="#c3c8cf" '
            'stroke-dasharray="2 3"/>'
        )
        if bx - last_x >= 24:
            value = _address(bound) if bound < 2**32 else "255.255.255.255+1"
            axis.append(
                f'<text transform="translate({bx + 4:.2f},{y + 8}) rotate(-35)" '
                f'text-anchor="end">{_e(value)}</text>'
            )
            last_x = bx
    axis.append("</g>")
    height = y + 86
    width = _LABEL_WIDTH + _BAR_WIDTH + 20
    return (
        f'<svg id="overview-map" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg" role="img" '
        'aria-label="The cluster CIDR among the reserved ranges">'
        + "".join(axis)
        + "".join(parts)
        + "</svg>"
    )


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(title)}</h2>{body}</section>'


def _capacity(document: Mapping[str, Any]) -> str:
    labels = (
        ("cluster_cidr", "Cluster CIDR"),
        ("node_cidr_mask_size", "Node block size (node_cidr_mask_size)"),
        ("max_nodes", "Nodes the cluster CIDR holds (max_nodes)"),
        ("pod_ips_per_node", "Pod addresses per node (pod_ips_per_node)"),
        ("max_pods", "Pod addresses in all (max_pods)"),
        ("nodes_allocated", "Node blocks in use (nodes_allocated)"),
        ("nodes_free", "Node blocks free (nodes_free)"),
    )
    rows = []
    for field, label in labels:
        if field not in document:
            continue
        value = document[field]
        if field == "node_cidr_mask_size":
            shown = f"/{value}"
        elif isinstance(value, int):
            shown = f"{value:,}"
        else:
            shown = str(value)
        rows.append(f'<tr><th>{_e(label)}</th><td class="num mono">{_e(shown)}</td></tr>')
    if not rows:
        return '<p class="note">Not computed: the plan failed before its capacity was known.</p>'
    return f'<table id="capacity-table">{"".join(rows)}</table>'


def _conflict_table(facts: _Facts) -> str:
    if not facts.conflicts:
        return '<p class="note">None: the cluster CIDR overlaps no reserved range.</p>'
    rows = []
    for conflict in facts.conflicts:
        overlap = ", ".join(str(cidr) for cidr in conflict.get("overlap") or [])
        rows.append(
            f'<tr class="conflict" data-cidr="{_e(conflict.get("cidr", ""))}">'
            f"<td>{_e(conflict.get('source', ''))}</td>"
            f'<td class="cidr">{_e(conflict.get("cidr", ""))}</td>'
            f"<td>{_e(conflict.get('with', ''))}</td>"
            f'<td class="cidr">{_e(overlap)}</td></tr>'
        )
    return (
        '<table id="conflict-table"><tr><th>Range from</th><th>Range</th><th>Overlaps</th>'
        f"<th>Shared addresses</th></tr>{''.join(rows)}</table>"
    )


def _node_table(facts: _Facts) -> str:
    runs = facts.node_runs
    if not runs and not facts.outside:
        return '<p class="note">No node has a podCIDR yet.</p>'
    rows = []
    for run in runs[:MAX_TABLE_ROWS]:
        names = [str(item.get("node", "?")) for item in run["items"]]
        cidrs = [str(item.get("cidr", "")) for item in run["items"]]
        if len(names) == 1:
            who, where = names[0], cidrs[0]
        else:
            who = f"{names[0]} … {names[-1]}"
            where = f"{cidrs[0]} … {cidrs[-1]}"
        rows.append(
            f'<tr><td>{_e(who)}</td><td class="cidr">{_e(where)}</td>'
            f'<td class="num">{len(names)}</td><td class="cidr">{_e(_run_cidr(run))}</td></tr>'
        )
    note = ""
    if len(runs) > MAX_TABLE_ROWS:
        rest = runs[MAX_TABLE_ROWS:]
        note = (
            f'<p class="note">… and {len(rest)} more runs holding '
            f"{sum(len(r['items']) for r in rest)} node blocks (see the JSON file).</p>"
        )
    for block in facts.outside:
        rows.append(
            f'<tr class="conflict" data-cidr="{_e(block.get("cidr", ""))}">'
            f"<td>{_e(block.get('node', '?'))}</td>"
            f'<td class="cidr">{_e(block.get("cidr", ""))}</td><td class="num">1</td>'
            "<td>outside the cluster CIDR</td></tr>"
        )
    return (
        '<table id="node-table"><tr><th>Nodes</th><th>podCIDR</th><th>Count</th>'
        f"<th>Addresses</th></tr>{''.join(rows)}</table>{note}"
    )


def _free_list(document: Mapping[str, Any]) -> str:
    free = document.get("free_cidrs")
    if free is None:
        return (
            '<p class="note">Not computed: the plan failed before the free blocks were known.</p>'
        )
    if not free:
        return '<p class="note">None: every node block is in use.</p>'
    items = "".join(f"<li><code>{_e(cidr)}</code></li>" for cidr in free[:MAX_TABLE_ROWS])
    note = ""
    if len(free) > MAX_TABLE_ROWS:
        note = f'<p class="note">… and {len(free) - MAX_TABLE_ROWS} more (see the JSON file).</p>'
    return f'<ul id="free-list">{items}</ul>{note}'


def _reserved_table(facts: _Facts) -> str:
    if not facts.reserved:
        return '<p class="note">Not known: the plan carries no reserved ranges.</p>'
    rows = []
    for entry in facts.reserved:
        klass = ' class="conflict"' if entry["conflict"] else ""
        state = "overlaps the cluster CIDR" if entry["conflict"] else "clear"
        rows.append(
            f'<tr{klass} data-cidr="{_e(entry["cidr"])}"><td>{_e(entry["option"])}</td>'
            f'<td class="cidr">{_e(entry["cidr"])}</td><td>{state}</td></tr>'
        )
    return (
        '<table id="reserved-table"><tr><th>From</th><th>Range</th><th>State</th></tr>'
        f"{''.join(rows)}</table>"
    )


def _list(items: Iterable[Any], klass: str, empty: str) -> str:
    entries = "".join(f'<li class="{klass}">{_e(item)}</li>' for item in items)
    return f"<ul>{entries}</ul>" if entries else f'<p class="note">{_e(empty)}</p>'


def render_html(result: Mapping[str, Any]) -> str:
    """The plan as one self-contained HTML page: status, capacity, maps and tables."""
    document = plan_document(result)
    facts = _Facts(document)
    cidr = facts.cluster_cidr or "(no valid cluster CIDR)"
    problems = document.get("problems") or []
    if facts.ok:
        status = '<p class="status ok" id="status">The plan is valid.</p>'
    else:
        status = (
            '<p class="status failed" id="status">The plan fails: '
            f"{len(problems)} problem(s), {len(facts.conflicts)} conflict(s).</p>"
        )
    body = [
        f"<header><h1>Pod CIDR plan <code>{_e(cidr)}</code></h1>{status}</header>",
    ]
    if problems:
        body.append(_section("problems", "Problems", _list(problems, "problem", "")))
    body.append(_section("capacity", "Capacity", _capacity(document)))
    if facts.cluster:
        map_body = (
            _ClusterMap(facts).render()
            + _legend()
            + '<p class="note">To scale. Reserved ranges are drawn where they reach into the '
            "cluster CIDR; hover over a bar for its addresses.</p>"
        )
        overview = _overview(facts) + (
            '<p class="note">Not to scale: each stretch between range boundaries is as wide as '
            "the logarithm of its size, and space between ranges is cut short. Order and overlap "
            "are exact.</p>"
        )
    else:
        map_body = '<p class="note">No map: the cluster CIDR could not be read.</p>'
        overview = map_body
    body.append(_section("map", "Address space of the cluster CIDR", map_body))
    body.append(_section("overview", "The cluster CIDR among the reserved ranges", overview))
    body.append(_section("conflicts", "Conflicts", _conflict_table(facts)))
    body.append(
        _section(
            "warnings",
            "Warnings",
            _list(document.get("warnings") or [], "warning", "None."),
        )
    )
    body.append(_section("nodes", "Node blocks in use", _node_table(facts)))
    body.append(_section("free", "Free node blocks", _free_list(document)))
    body.append(_section("reserved", "Ranges the cluster CIDR must avoid", _reserved_table(facts)))
    if "values" in document:
        values = json.dumps(document["values"], indent=2, sort_keys=True)
        body.append(_section("values", "Chart values", f"<pre>{_e(values)}</pre>"))
    title = f"Pod CIDR plan {cidr}: {'valid' if facts.ok else 'fails'}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f'<body><main data-status="{document["status"]}">'
        + "".join(body)
        + "</main></body></html>\n"
    )
