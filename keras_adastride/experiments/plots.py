"""PNG figures of a comparison: learning curves, and gate maps beside their input images."""

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend, or an ImportError saying which extra installs it."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "The plots need matplotlib: pip install 'keras_adastride[plots]'."
        ) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(runs, path, panels, title=None):
    """One panel per ``(history key, axis label)`` of ``panels`` (e.g. training loss, validation
    accuracy): the value per epoch, mean over seeds with a ±1 std band, per variant."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    axes = axes[0]
    variants = list(dict.fromkeys(run.variant for run in runs))
    for ax, (key, label) in zip(axes, panels):
        for variant in variants:
            curves = np.array([run.history[key] for run in runs if run.variant == variant])
            epochs = np.arange(1, curves.shape[1] + 1)
            mean, std = curves.mean(axis=0), curves.std(axis=0)
            (line,) = ax.plot(epochs, mean, marker="o", label=f"{variant} (n={len(curves)})")
            ax.fill_between(epochs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
    axes[-1].legend()
    fig.suptitle(title or "Learning curves (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_gate_maps(images, gate_maps, path, title=None):
    """The paper's Figure 10: each input image beside the gate map of every CAS / PAS layer.

    Args:
        images: (k, H, W, C) inputs in [0, 1].
        gate_maps: ``{column title: (k, h, w, c) gate maps}``; ``c > 1`` is averaged over channels.
            Each map is drawn on its own colour scale, from its minimum (black) to its maximum;
            the label under it gives that range and the share of kept (non-zero) positions.
    """
    plt = pyplot()
    rows, columns = len(images), 1 + len(gate_maps)
    fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns + 0.6, 2.1 * rows),
                             squeeze=False)
    for i in range(rows):
        axes[i, 0].imshow(images[i].mean(axis=-1), cmap="gray", vmin=0, vmax=1)
        for j, (name, maps) in enumerate(gate_maps.items(), start=1):
            gate = np.asarray(maps[i], np.float32).mean(axis=-1)
            low, high = float(gate.min()), float(gate.max())
            shown = axes[i, j].imshow(gate, cmap="inferno", vmin=low, vmax=max(high, low + 1e-6))
            kept = 100.0 * np.mean(gate > 0)
            axes[i, j].set_xlabel(f"[{low:.2f}, {high:.2f}], {kept:.0f}% kept", fontsize=8)
            fig.colorbar(shown, ax=axes[i, j], fraction=0.046, pad=0.04)
            if i == 0:
                axes[i, j].set_title(f"{name}\n{gate.shape[0]}x{gate.shape[1]}", fontsize=9)
    axes[0, 0].set_title("input", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or "Gate maps (0 = position dropped; each map on its own colour scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
