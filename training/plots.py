"""PNG plots for the evaluation reports (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_open_set(curves: Mapping[str, Mapping], threshold: float, path: str | Path) -> Path:
    """Known-probe accuracy and unknown rejection against the threshold, one line pair per shot count."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, result in curves.items():
        curve = result["curve"]
        line = ax.plot(curve["threshold"], curve["known_accuracy"], label=f"{name}: known accuracy")[0]
        ax.plot(curve["threshold"], curve["unknown_rejection"], "--", color=line.get_color(),
                label=f"{name}: unknown rejection")
        ax.axvline(result["suggested_threshold"], color=line.get_color(), lw=0.8, alpha=0.6)
    ax.axvline(threshold, color="k", lw=1, label=f"configured {threshold:g}")
    ax.set(xlabel="similarity threshold", ylabel="rate", ylim=(0, 1.02), title="open set")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def plot_roc(fpr: Sequence[float], tpr: Sequence[float], path: str | Path, title: str = "verification ROC") -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(fpr, tpr)
    ax.set(xscale="log", xlim=(1e-4, 1), ylim=(0, 1.02), xlabel="false accept rate", ylabel="true accept rate",
           title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def plot_detection(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], by_size: Mapping[str, Mapping],
                   path: str | Path) -> Path:
    """Precision–recall at IoU 0.5 per detector, and recall at the operating threshold by face size."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, (recall, precision) in curves.items():
        ax1.plot(recall, precision, label=name)
    ax1.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="precision-recall (IoU 0.5)")
    ax1.legend(fontsize=8)
    names = list(by_size)
    buckets = list(next(iter(by_size.values()))) if by_size else []
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        values = [by_size[name][b]["recall"] if by_size[name][b]["recall"] is not None else 0 for b in buckets]
        ax2.bar([j + i * width for j in range(len(buckets))], values, width, label=name)
    ax2.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(buckets))], buckets)
    ax2.set(ylabel="recall at the operating threshold", ylim=(0, 1.02), title="recall by face size")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
