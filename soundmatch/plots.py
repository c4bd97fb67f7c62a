"""Figures people would rather see than read, written as PNG with no display: the spectrogram
comparison of a match drawn with Pillow (it is written for every match, and matplotlib's import
and layout cost 1.7 s of a 6 s match from the command line), the training curves with
matplotlib."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# A dark-to-light colour scale (quiet is dark): anchors interpolated in RGB.
_ANCHORS = np.array([(0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66),
                     (245, 125, 21), (250, 193, 39), (252, 255, 164)], dtype=np.float64)
_LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)),
                           _ANCHORS[:, c]) for c in range(3)], axis=1).astype(np.uint8)
RANGE = 18.0  # natural-log units of power shown: 80 dB
PANEL = (440, 200)  # pixels per spectrogram
MARGIN, GAP, TOP, BOTTOM, SCALE = 16, 24, 52, 30, 14


def plot_comparison(target, matched, path: str | Path, title: str = "",
                    labels: tuple[str, str] = ("input", "match")) -> Path:
    """Log-mel spectrograms of a target and its match (mel bands up, frames across), side by
    side on one colour scale: the loudest cell of either is the top, 80 dB below it the bottom."""
    from PIL import Image, ImageDraw, ImageFont

    target, matched = np.asarray(target, np.float64), np.asarray(matched, np.float64)
    high = max(target.max(), matched.max())
    width = 2 * MARGIN + 2 * PANEL[0] + GAP + SCALE + GAP
    canvas = Image.new("RGB", (width, TOP + PANEL[1] + BOTTOM), "white")
    draw = ImageDraw.Draw(canvas)
    font, small = ImageFont.load_default(size=14), ImageFont.load_default(size=11)
    draw.text((MARGIN, 6), title, fill="black", font=font)
    for k, (mel, name) in enumerate(((target, labels[0]), (matched, labels[1]))):
        x0 = MARGIN + k * (PANEL[0] + GAP)
        shade = np.clip((mel - (high - RANGE)) / RANGE, 0.0, 1.0)[::-1]  # low bands at the foot
        panel = Image.fromarray(_LUT[(shade * 255).astype(np.uint8)], "RGB")
        canvas.paste(panel.resize(PANEL, Image.Resampling.NEAREST), (x0, TOP))
        draw.text((x0, TOP - 18), name, fill="black", font=font)
        draw.text((x0, TOP + PANEL[1] + 6), f"{mel.shape[-1]} frames (time) across, "
                  f"{mel.shape[0]} mel bands up", fill="dimgray", font=small)
    # The scale: its colours from quiet (foot) to loud (head).
    x0 = MARGIN + 2 * PANEL[0] + 2 * GAP
    ramp = _LUT[np.linspace(255, 0, PANEL[1]).astype(np.uint8)][:, None, :].repeat(SCALE, 1)
    canvas.paste(Image.fromarray(np.ascontiguousarray(ramp), "RGB"), (x0, TOP))
    draw.text((x0 - 6, TOP - 16), "loud", fill="dimgray", font=small)
    draw.text((x0 - 12, TOP + PANEL[1] + 4), "-80 dB", fill="dimgray", font=small)
    canvas.save(path, format="PNG")
    return Path(path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Training and validation loss per epoch, with the constant-predictor baseline."""
    epochs = [h["epoch"] for h in history]
    fig, ax = _pyplot().subplots(figsize=(7, 4), dpi=100)
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    if history and history[0].get("baseline_val_loss") is not None:
        ax.axhline(history[0]["baseline_val_loss"], color="grey", linestyle="--",
                   label="constant predictor (validation)")
    _loss_axes(ax, "epoch", "MSE (normalised parameters)")
    return _save(fig, ax, path, title)


def plot_runs(histories: dict[str, list[dict]], path: str | Path, title: str = "") -> Path:
    """Validation MSE against training time for several runs on one dataset: a comparison at
    equal compute, which per-epoch curves do not give when models differ in cost."""
    fig, ax = _pyplot().subplots(figsize=(7, 4), dpi=100)
    baseline = None
    for name, history in histories.items():
        minutes = [sum(h["seconds"] for h in history[: i + 1]) / 60 for i in range(len(history))]
        ax.plot(minutes, [h["val_loss"] for h in history], marker="o", label=name)
        baseline = baseline or (history[0].get("baseline_val_loss") if history else None)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", label="constant predictor")
    _loss_axes(ax, "training time (minutes)", "validation MSE (normalised parameters)")
    return _save(fig, ax, path, title)


def plot_per_parameter(errors: dict[str, dict[str, float]], path: str | Path,
                       title: str = "") -> Path:
    """Test MSE per synth parameter, one bar per model: which parameters each model gets."""
    models = list(errors)
    parameters = list(next(iter(errors.values())))
    height = 0.8 / max(1, len(models))
    tall = 0.35 * len(parameters) * max(1, len(models)) / 2 + 1.5
    fig, ax = _pyplot().subplots(figsize=(7, tall), dpi=100)
    for k, model in enumerate(models):
        ys = [i + (k - (len(models) - 1) / 2) * height for i in range(len(parameters))]
        ax.barh(ys, [errors[model][p] for p in parameters], height=height, label=model)
    ax.set_yticks(range(len(parameters)), parameters)
    ax.invert_yaxis()
    ax.set_xlabel("test MSE (normalised parameter)")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, ax, path, title)


def _loss_axes(ax, xlabel: str, ylabel: str) -> None:
    """Losses span decades, so a log scale with a grid at every tick."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")


def _save(fig, ax, path: str | Path, title: str) -> Path:
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return Path(path)
