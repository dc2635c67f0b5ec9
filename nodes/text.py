"""Readable text of what the router found, shared by the router and report nodes."""

from __future__ import annotations


def routing_lines(routing: dict, active: list, degrees: dict) -> list[str]:
    """One line per retouch type: presence probability, degree, and whether its expert ran."""
    return [
        f"  {name}: p={p:.2f}, degree={degrees.get(name, 0.0):.2f}{', expert ran' if name in active else ''}"
        for name, p in routing.items()
    ]


def faces_text(faces: list[dict], title: str = "face") -> str:
    """Routing lines of every face (dicts with routing, active, degrees)."""
    lines = []
    for i, face in enumerate(faces):
        lines.append(f"{title} {i}: experts {', '.join(face['active']) or 'none'}")
        lines += routing_lines(face["routing"], face["active"], face["degrees"])
    return "\n".join(lines)
