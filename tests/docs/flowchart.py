"""Read the subset of Mermaid's flowchart syntax the pictures use.

Nodes ``id["label"]``, ``id(["label"])`` or ``id[("label")]`` (declared alone
or inside an edge), subgraphs ``subgraph id ["label"]`` ... ``end``, and edges
``a & b -->|"label"| c & d``. Subgraphs may nest; an edge to or from a
subgraph stands for an edge to or from each node inside it. Anything else is
refused, so a picture cannot grow syntax this reader would silently skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NODE = r'(?P<id>\w+)(?:(?P<open>\[\(|\(\[|\[)"(?P<label>[^"]*)"(?:\)\]|\]\)|\]))?'
_NODE_RE = re.compile(rf"^{_NODE}$")
_EDGE_RE = re.compile(r'^(?P<src>.+?)\s*-->\|"(?P<label>[^"]*)"\|\s*(?P<dst>.+)$')
_SUBGRAPH_RE = re.compile(r'^subgraph (?P<id>\w+) \["(?P<label>[^"]*)"\]$')


@dataclass
class Flowchart:
    """Nodes (id -> label), subgraphs (id -> label, members) and expanded edges."""

    nodes: dict[str, str] = field(default_factory=dict)
    subgraphs: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    def members(self, node: str) -> list[str]:
        """The nodes a name stands for: a subgraph's members, or the node itself."""
        return list(self.subgraphs[node][1]) if node in self.subgraphs else [node]


def parse(text: str) -> Flowchart:
    """Parse a ``flowchart`` block; ValueError on any line it does not understand."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines or not re.match(r"^flowchart (LR|RL|TB|TD|BT)$", lines[0]):
        raise ValueError("not a flowchart")
    chart = Flowchart()
    open_subgraphs: list[str] = []
    pending: list[tuple[list[str], str, list[str]]] = []
    for line in lines[1:]:
        if match := _SUBGRAPH_RE.match(line):
            open_subgraphs.append(match["id"])
            chart.subgraphs[match["id"]] = (match["label"], [])
        elif line == "end":
            open_subgraphs.pop()
        elif match := _EDGE_RE.match(line):
            pending.append((_group(chart, match["src"], open_subgraphs), match["label"],
                            _group(chart, match["dst"], open_subgraphs)))
        else:
            _group(chart, line, open_subgraphs)
    for sources, label, targets in pending:
        for src in sources:
            for dst in targets:
                for a in chart.members(src):
                    for b in chart.members(dst):
                        chart.edges.append((a, b, label))
    return chart


def _group(chart: Flowchart, text: str, subgraphs: list[str]) -> list[str]:
    """Parse ``a & b["B"]``, declaring the nodes it labels inside ``subgraphs``."""
    ids = []
    for part in (p.strip() for p in text.split("&")):
        match = _NODE_RE.match(part)
        if match is None:
            raise ValueError(f"cannot read {part!r}")
        node = match["id"]
        if match["label"] is not None:
            chart.nodes[node] = match["label"]
            for subgraph in subgraphs:
                chart.subgraphs[subgraph][1].append(node)
        ids.append(node)
    return ids
