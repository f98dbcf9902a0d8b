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


#: the input is drawn on grey levels [BACKGROUND_GREY, 1], so that a dark (dropped) position
#: stands out even on a black image background.
BACKGROUND_GREY = 0.45


def gate_overlay(gate, cmap, vmax, dropped_alpha=0.88, kept_alpha=0.5):
    """RGBA (h, w, 4) drawn over the input: kept positions (``gate > 0``) tinted by ``cmap`` on
    the fixed scale [0, vmax], dropped positions (``gate == 0``) black and nearly opaque."""
    gate = np.asarray(gate, np.float32)
    overlay = np.array(cmap(np.clip(gate / vmax, 0.0, 1.0)), np.float32)
    overlay[..., 3] = kept_alpha
    overlay[gate <= 0] = (0.0, 0.0, 0.0, dropped_alpha)
    return overlay


def plot_gate_maps(images, gate_maps, path, title=None):
    """The paper's Figure 10: each input image, then the gate map of every CAS / PAS layer drawn
    over it, so that what each gate keeps and drops can be seen on the image itself.

    The input is shown in light grey; each gate position covers the part of the image it stands
    for (the map is stretched over the image, nearest neighbour). Kept positions are tinted by the
    gate's value on one colour scale, [0, the largest value of any map], shared by every panel
    (one colour bar, a colour map without dark tones); dropped positions (value exactly 0) are
    black. Each panel's title gives the share of positions its gate keeps on that image.

    Args:
        images: (k, H, W, C) inputs in [0, 1].
        gate_maps: ``{column title: (k, h, w, c) gate maps}``; ``c > 1`` is averaged over channels
            (a position counts as kept when any channel keeps it).

    Returns:
        ``{column title: [the share of kept positions per image, in %]}`` (what the titles say).
    """
    if not gate_maps:
        raise ValueError("gate_maps must hold at least one gate map, got {}.")
    plt = pyplot()
    cmap = plt.get_cmap("cool")
    maps = {name: np.asarray(values, np.float32).mean(axis=-1) for name, values in
            gate_maps.items()}
    vmax = max([float(values.max()) for values in maps.values()] + [1e-6])
    kept = {name: [100.0 * float(np.mean(gate[i] > 0)) for i in range(len(images))]
            for name, gate in maps.items()}
    rows, columns = len(images), 1 + len(maps)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns + 0.9, 2.3 * rows + 0.5),
                             squeeze=False)
    for i in range(rows):
        grey = np.asarray(images[i], np.float32).mean(axis=-1)
        extent = (0, grey.shape[1], grey.shape[0], 0)
        axes[i, 0].imshow(grey, cmap="gray", vmin=0, vmax=1, extent=extent)
        grey = BACKGROUND_GREY + (1.0 - BACKGROUND_GREY) * grey
        axes[i, 0].set_title("input" if i == 0 else "", fontsize=9)
        for j, (name, gate) in enumerate(maps.items(), start=1):
            axes[i, j].imshow(grey, cmap="gray", vmin=0, vmax=1, extent=extent)
            axes[i, j].imshow(gate_overlay(gate[i], cmap, vmax), extent=extent,
                              interpolation="nearest")
            heading = f"{name} ({gate.shape[1]}x{gate.shape[2]})\n" if i == 0 else ""
            axes[i, j].set_title(f"{heading}{kept[name][i]:.0f}% kept", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    scale = plt.cm.ScalarMappable(norm=plt.Normalize(0.0, vmax), cmap=cmap)
    bar = fig.colorbar(scale, ax=axes[:, 1:].ravel().tolist() if columns > 1 else axes.ravel(),
                       fraction=0.03, pad=0.02)
    bar.set_label("gate value at kept positions (one scale for all panels)", fontsize=8)
    fig.suptitle((title + ": " if title else "") + "gate maps over the input "
                 "(black = dropped position, colour = kept)", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return kept
