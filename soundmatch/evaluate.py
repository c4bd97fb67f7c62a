"""``soundmatch evaluate``: the paper's scores for any checkpoint, on its held-out test split.

For each test example: parameter MSE (normalised), and, after rendering the true and the predicted
patch, spectral convergence and the multi-resolution log-spectral distance. Several checkpoints are
scored on the same examples, and the true patches are rendered once for all of them.
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checkpoint import Checkpoint, load_checkpoint
from .dataset import DatasetReader, split_indices
from .errors import SoundmatchError
from .fileio import folder_beside, replace_folder
from .metrics import SpectralDistance, spectral_convergence
from .pool import WorkerPool
from .render import init_render_worker

CHUNK = 32


@dataclass
class Scores:
    name: str
    checkpoint: str
    backbone: str
    count: int
    mse: float
    sc: float
    sc_median: float
    distance: float
    per_parameter_mse: dict[str, float] = field(default_factory=dict)
    # Choice parameters: the share of examples whose choice the model got right. Stepped ones:
    # the mean error in steps of the synth's value. (``mse`` leaves choices out: their normalised
    # distance means nothing.)
    accuracy: dict[str, float] = field(default_factory=dict)
    step_error: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def held_out_indices(ckpt: Checkpoint, reader: DatasetReader, split: str, count: int) -> np.ndarray:
    """The checkpoint's own split of this dataset (or the first ``count`` of it)."""
    if ckpt.spec.fingerprint() != reader.spec.fingerprint():
        raise SoundmatchError(f"{ckpt.path}: trained on spec {ckpt.spec.name}, but {reader.root} "
                              f"holds spec {reader.spec.name} (or another version of it)")
    info = ckpt.split
    if split == "all":
        return np.arange(min(count, len(reader)))
    if info.count != len(reader):
        raise SoundmatchError(f"{ckpt.path}: its split is of a {info.count}-example "
                              f"dataset, {reader.root} has {len(reader)}; use --split all to "
                              "score every example of another dataset")
    return split_indices(len(reader), info.seed, info.fractions)[split][:count]


def predict(ckpt: Checkpoint, reader: DatasetReader, indices: np.ndarray, notes: np.ndarray,
            batch_size: int = 64) -> np.ndarray:
    """The model's patches for ``indices``, each told its example's note (``notes``)."""
    out = []
    notes = torch.from_numpy(notes)
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            batch = np.stack([reader[int(i)][0] for i in indices[start:start + batch_size]])
            out.append(ckpt.model(torch.from_numpy(batch.astype(np.float32)),
                                  notes[start:start + batch_size]).numpy())
    return np.concatenate(out)


def _score_chunk(state, task, progress=None) -> dict:
    """Worker: render the true patches once and each model's predictions; score the audio."""
    true, predictions, notes = task
    out = {name: {"sc": [], "distance": []} for name in predictions}
    for row in range(len(true)):
        note = float(notes[row])
        target = state.adapter.render_patch(state.spec.to_synth(true[row]), note=note)
        distance = SpectralDistance(target)  # the target's spectra, once for every model
        for name, predicted in predictions.items():
            estimate = state.adapter.render_patch(state.spec.to_synth(predicted[row]), note=note)
            out[name]["sc"].append(spectral_convergence(target, estimate))
            out[name]["distance"].append(distance(estimate))
        if progress:
            progress(row + 1)
    return out


def evaluate(paths: list[str | Path], data: str | Path, split: str = "test", count: int = 10_000,
             workers: int = 1, on_start=None, on_progress=None) -> tuple[list[Scores], dict]:
    """Score checkpoints on one dataset; returns the scores and the per-example arrays."""
    reader = DatasetReader(data)
    ckpts = [load_checkpoint(p) for p in paths]
    names = _names(ckpts)
    indices = held_out_indices(ckpts[0], reader, split, count)
    for ckpt in ckpts[1:]:
        if not np.array_equal(held_out_indices(ckpt, reader, split, count), indices):
            raise SoundmatchError(f"{ckpt.path}: was split differently from {ckpts[0].path}; "
                                  "checkpoints compared side by side must share a test split")
    true = reader.params()[indices]
    notes = reader.notes()[indices]  # once, for every model and the re-renders
    predicted = {name: predict(c, reader, indices, notes)
                 for name, c in zip(names, ckpts, strict=True)}
    chunks = [(i, (true[i:i + CHUNK], {n: p[i:i + CHUNK] for n, p in predicted.items()},
                   notes[i:i + CHUNK])) for i in range(0, len(indices), CHUNK)]
    if on_start:
        on_start(len(indices))
    partial: dict[int, int] = {}

    def progress(tid, done):
        partial[tid] = done
        if on_progress:
            on_progress(sum(partial.values()))

    manifest = reader.manifest
    pool = WorkerPool(workers, init_render_worker, (manifest.to_dict(), str(reader.root),
                                              reader.spec.source), _score_chunk)
    result = pool.run(chunks, on_progress=progress)
    if result.failed:
        raise SoundmatchError(f"{len(result.failed)} chunks of renders failed")
    per_example = {"indices": indices.tolist()}
    scores = []
    regressed = [p.type != "choice" for p in reader.spec.parameters]
    for name, ckpt in zip(names, ckpts, strict=True):
        sc = np.concatenate([result.done[i][name]["sc"] for i, _ in chunks])
        dist = np.concatenate([result.done[i][name]["distance"] for i, _ in chunks])
        err = (predicted[name] - true) ** 2
        per_example[name] = {"sc": sc.tolist(), "distance": dist.tolist(),
                             "mse": err[:, regressed].mean(axis=1).tolist()}
        scores.append(Scores(
            name=name, checkpoint=str(ckpt.path), backbone=ckpt.backbone, count=len(indices),
            mse=float(err[:, regressed].mean()), sc=float(sc.mean()),
            sc_median=float(np.median(sc)), distance=float(dist.mean()),
            per_parameter_mse={p.name: float(v) for p, v, r in zip(
                reader.spec.parameters, err.mean(axis=0), regressed, strict=True) if r},
            **discrete_scores(reader.spec, true, predicted[name])))
    return scores, {"true": true, "predicted": predicted, "reader": reader, "ckpts": ckpts,
                    "per_example": per_example}


def discrete_scores(spec, true: np.ndarray, predicted: np.ndarray) -> dict[str, dict]:
    """Accuracy per choice parameter and mean error in steps per stepped one."""
    accuracy, step_error = {}, {}
    for j, p in enumerate(spec.parameters):
        a, b = p.denormalise(true[:, j]), p.denormalise(predicted[:, j])
        if p.type == "choice":
            accuracy[p.name] = float(np.mean(a == b))
        elif p.type == "steps":
            step_error[p.name] = float(np.mean(np.abs(a - b)) / p.step)
    return {"accuracy": accuracy, "step_error": step_error}


def _names(ckpts: list[Checkpoint]) -> list[str]:
    """Short column names: the run folder, else the file name; made unique."""
    names = []
    for c in ckpts:
        base = c.path.parent.name if c.path.stem in ("best", "last") else c.path.stem
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def write_report(out: str | Path, scores: list[Scores], details: dict, examples: int = 8) -> Path:
    """An HTML page (works offline) with, for a few test examples, the target and each model's
    match as audio players and spectrograms, and their parameters."""
    final = Path(out)
    # Built beside, then swapped in whole: a report is never half new, nor new scores beside an
    # earlier report's media.
    out = folder_beside(final)
    try:
        _write_report(out, scores, details, examples)
        replace_folder(out, final)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return final / "index.html"


def _write_report(out: Path, scores: list[Scores], details: dict, examples: int) -> None:
    from . import plugins
    from .audio import write_wav
    from .features import log_mel
    from .plots import plot_comparison

    (out / "media").mkdir()
    reader, true, predicted = details["reader"], details["true"], details["predicted"]
    spec, config = reader.spec, reader.feature_config
    adapter = plugins.create_adapter(spec)
    rate = spec.render.sample_rate
    picks = np.linspace(0, len(true) - 1, min(examples, len(true))).astype(int)
    rows = []
    for k in picks:
        index = details["per_example"]["indices"][k]
        note = reader.note(index)
        target = adapter.render_patch(spec.to_synth(true[k]), note=note)
        write_wav(out / "media" / f"{index}-target.wav", target, rate)
        cells = [f"<td><b>example {index}</b><br>target<br>"
                 f"<audio controls src='media/{index}-target.wav'></audio></td>"]
        for s in scores:
            audio = adapter.render_patch(spec.to_synth(predicted[s.name][k]), note=note)
            write_wav(out / "media" / f"{index}-{s.name}.wav", audio, rate)
            plot_comparison(log_mel(target, config).numpy(), log_mel(audio, config).numpy(),
                            out / "media" / f"{index}-{s.name}.png", title=f"example {index}",
                            labels=("target", f"{s.name} match"))
            ex = details["per_example"][s.name]
            cells.append(
                f"<td>{html.escape(s.name)}: SC {ex['sc'][k]:.3f}, distance "
                f"{ex['distance'][k]:.3f}, MSE {ex['mse'][k]:.4f}<br>"
                f"<audio controls src='media/{index}-{html.escape(s.name)}.wav'></audio><br>"
                f"<img src='media/{index}-{html.escape(s.name)}.png' width='480'></td>")
        params = "".join(
            f"<tr><td>{p.name}</td><td>{p.denormalise(true[k][j]):.4g}</td>"
            + "".join(f"<td>{p.denormalise(predicted[s.name][k][j]):.4g}</td>" for s in scores)
            + f"<td>{p.unit}</td></tr>" for j, p in enumerate(spec.parameters))
        head = "".join(f"<th>{html.escape(s.name)}</th>" for s in scores)
        rows.append(f"<tr>{''.join(cells)}</tr><tr><td colspan='{len(scores) + 1}'><details>"
                    f"<summary>parameters</summary><table><tr><th>parameter</th><th>true</th>"
                    f"{head}<th>unit</th></tr>{params}</table></details></td></tr>")
    summary = "".join(
        f"<tr><td>{html.escape(s.name)}</td><td>{s.backbone}</td><td>{s.mse:.4f}</td>"
        f"<td>{s.sc:.3f}</td><td>{s.sc_median:.3f}</td><td>{s.distance:.3f}</td></tr>"
        for s in scores)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>soundmatch evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 8px;vertical-align:top;
text-align:left}}table{{border-collapse:collapse}}tr{{border-bottom:1px solid #ddd}}</style></head>
<body><h1>soundmatch evaluation</h1>
<p>Dataset {html.escape(str(reader.root))} ({html.escape(spec.name)}), {scores[0].count} test
examples. Parameter MSE on normalised parameters; SC = spectral convergence; distance =
multi-resolution log-spectral distance (lower is better for all).</p>
<table><tr><th>model</th><th>backbone</th><th>MSE</th><th>SC (mean)</th><th>SC (median)</th>
<th>distance</th></tr>{summary}</table>
<h2>Examples</h2><table>{''.join(rows)}</table></body></html>"""
    (out / "index.html").write_text(page)
    (out / "scores.json").write_text(json.dumps([s.to_dict() for s in scores], indent=2))
