"""A finished match as the page and the API show it: each candidate's files (by name, inside the
job's folder), scores, start and parameters in the synth's units."""

from __future__ import annotations

from pathlib import Path


def candidates(matcher, best, folder: Path, stem: str) -> list[dict]:
    """One entry per candidate, best first, naming the files ``Matcher.save`` wrote for it
    (under ``stem``)."""
    entries = []
    for rank, match in enumerate([best, *best.others], start=1):
        files = matcher.file_names(stem, rank)
        entries.append({
            "rank": rank,
            "files": {kind: name for kind, name in files.items() if (folder / name).is_file()},
            "start": match.origin,
            **matcher.pitch_fields(match),
            "distance": round(float(match.scores["distance"]), 4),
            "spectral_convergence": round(float(match.scores["spectral_convergence"]), 4),
            "renders": int(match.scores.get("renders", 0)),
            "parameters": [{"name": p.name, "value": p.label(match.patch[p.name]),
                            "unit": p.unit} for p in matcher.spec.parameters],
        })
    return entries
