"""PNG of test canvases: the input, the ground truth, each model's predicted class map, and the
gate map of each CAS / PAS layer (the paper's Figure 10 for a segmenter)."""

import numpy as np

from keras_adastride.experiments.plots import pyplot


def class_colours(num_classes):
    """RGB per class: black background (class 0), then matplotlib's tab20 (+ tab20b) colours."""
    plt = pyplot()
    palette = [plt.get_cmap("tab20")(i)[:3] for i in range(20)]
    palette += [plt.get_cmap("tab20b")(i)[:3] for i in range(20)]
    return np.array([(0.0, 0.0, 0.0)] + palette[:num_classes - 1])


def plot_segmentations(images, masks, predictions, gate_maps, path, class_names, title=None):
    """One row per canvas: input | ground truth | each prediction | each gate map.

    Args:
        images: (k, H, W, C) in [0, 1]; masks: (k, H, W) class ids.
        predictions: ``{column title: (k, H, W) class ids}``.
        gate_maps: ``{column title: (k, h, w, c) gate maps}`` (averaged over channels; drawn on
            one scale per column from 0, with the kept share of positions under each map).
        class_names: the legend (the classes present in the masks or predictions).
    """
    plt = pyplot()
    from matplotlib.patches import Patch

    colours = class_colours(len(class_names))
    columns = ["input", "ground truth", *predictions, *gate_maps]
    rows = len(images)
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.9 * len(columns) + 2.4, 1.9 * rows),
                             squeeze=False)
    for i in range(rows):
        axes[i, 0].imshow(images[i].mean(axis=-1), cmap="gray", vmin=0, vmax=1)
        axes[i, 1].imshow(colours[masks[i]])
        for j, classes in enumerate(predictions.values(), start=2):
            correct = 100.0 * np.mean(classes[i] == masks[i])
            axes[i, j].imshow(colours[classes[i]])
            axes[i, j].set_xlabel(f"{correct:.1f}% of pixels right", fontsize=7)
        for j, maps in enumerate(gate_maps.values(), start=2 + len(predictions)):
            gate = np.asarray(maps[i], np.float32).mean(axis=-1)
            high = float(np.asarray(maps, np.float32).max()) or 1.0
            axes[i, j].imshow(gate, cmap="inferno", vmin=0.0, vmax=high)
            axes[i, j].set_xlabel(f"{100.0 * np.mean(gate > 0):.0f}% kept", fontsize=7)
    for j, name in enumerate(columns):
        axes[0, j].set_title(name, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    shown = np.unique(np.concatenate([masks.ravel(), *(p.ravel() for p in predictions.values())]))
    handles = [Patch(color=colours[c], label=class_names[c])
               for c in shown]
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False)
    fig.suptitle(title or "Test canvases: truth, predictions, gate maps (0 = dropped)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1 - 2.2 / fig.get_figwidth(), 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
