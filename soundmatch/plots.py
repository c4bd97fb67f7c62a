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
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (normalised parameters)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
