"""Figures people would rather see than read, written as PNG (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_comparison(target, matched, path: str | Path, title: str = "",
                    labels: tuple[str, str] = ("input", "match")) -> Path:
    """Log-mel spectrograms of a target and its match, side by side on one colour scale."""
    low = min(target.min(), matched.min())
    high = max(target.max(), matched.max())
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), dpi=100, sharey=True, layout="constrained")
    for ax, mel, name in ((axes[0], target, labels[0]), (axes[1], matched, labels[1])):
        # 18 natural-log units of power = 80 dB of range
        image = ax.imshow(mel, origin="lower", aspect="auto", vmin=max(low, high - 18), vmax=high,
                          cmap="magma")
        ax.set_title(name)
        ax.set_xlabel("frame")
    axes[0].set_ylabel("mel bin")
    fig.colorbar(image, ax=axes, label="log power")
    fig.suptitle(title)
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_history(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Training and validation loss per epoch, with the constant-predictor baseline."""
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
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
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
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
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(parameters) * max(1, len(models)) / 2 + 1.5),
                           dpi=100)
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
    plt.close(fig)
    return Path(path)
