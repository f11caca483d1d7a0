"""Pictures for lesson 13: bits against loss, outlier columns, what fits in memory, and serving."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..i18n import _
from . import _inputs as check
from ._base import new_figure

GB = 1e9


def _as_numpy(values, name: str = "values", **limits) -> np.ndarray:
    """Finite numbers as a float array (NaN and inf refused, naming ``name``)."""
    return check.array(name, values, **{"min_size": 0, **limits})


def plot_bits_vs_loss(curves: dict, baseline: float | None = None, title: str | None = None,
                      ax=None) -> Figure:
    """One line per method: ``curves = {"round-to-nearest": {8: 1.61, 4: 1.70, ...}, "GPTQ": {...}}``.

    ``baseline``: the full-precision loss, drawn dashed. ``title``: default "Validation loss against bits".
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict {method: {bits: loss}}")
    for name, points in curves.items():
        check.mapping(f"curves[{name!r}]", points, what="{bits: loss}")
        _as_numpy(list(points), f"curves[{name!r}] (the bits)", positive=True)
        _as_numpy(list(points.values()), f"curves[{name!r}] (the losses)")
    check.number("baseline", baseline, optional=True)
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(5.6, 3.4))
    else:
        fig = ax.figure
    for (name, points), marker in zip(curves.items(), "osd^v"):
        bits = sorted(points)
        ax.plot(bits, [points[b] for b in bits], marker=marker, label=name)
    if baseline is not None:
        ax.axhline(baseline, color="black", linestyle="--", linewidth=1, label="float32")
    all_bits = sorted({b for p in curves.values() for b in p})
    ax.set_xticks(all_bits)
    ax.invert_xaxis()  # from generous (left) to stingy (right)
    ax.set_xlabel(_("bits per weight"))
    ax.set_ylabel(_("validation loss"))
    ax.set_title(_("Validation loss against bits") if title is None else title)
    ax.legend(fontsize="small")
    return fig


def plot_column_scales(weight, top: int = 5, title: str | None = None, ax=None) -> Figure:
    """Bar per input column of max |w| over the rows: a few tall bars are the outlier columns.

    ``weight``: (out_features, in_features), as in ``nn.Linear``. The ``top`` tallest are drawn in red.
    ``title``: default "Largest |weight| in each input column".
    """
    w = _as_numpy(weight, "weight")
    if w.ndim != 2 or 0 in w.shape:
        raise ValueError(f"weight must be a 2-D (out_features, in_features) matrix, got shape {w.shape}")
    check.whole("top", top, min_value=0)
    check.axes("ax", ax)
    if ax is None:
        fig, ax = new_figure(figsize=(6.4, 3.0))
    else:
        fig = ax.figure
    col_max = np.abs(w).max(axis=0)
    colors = np.array(["tab:blue"] * col_max.size, dtype=object)
    colors[np.argsort(col_max)[-top:]] = "tab:red"
    ax.bar(np.arange(col_max.size), col_max, width=1.0, color=list(colors))
    ax.axhline(np.median(col_max), color="black", linestyle="--", linewidth=1, label=_("median column"))
    ax.set_xlabel(_("input column"))
    ax.set_ylabel(_("max |w| in the column"))
    ax.set_title(_("Largest |weight| in each input column") if title is None else title)
    ax.legend(fontsize="small", loc="upper right")
    return fig


def plot_memory_fit(n_params=(1e9, 7e9, 70e9), bits=(32, 16, 8, 4), memory_gb=(8, 16, 32),
                    title: str | None = None) -> Figure:
    """Grouped bars of weight memory (GB, log scale) per model size and precision, with laptop memory sizes.

    ``title``: default "Weights only: parameters x bits / 8".
    """
    n_params = _as_numpy(n_params, "n_params", ndim=1, min_size=1, positive=True).tolist()  # a log axis
    bits = _as_numpy(bits, "bits", ndim=1, min_size=1, positive=True).tolist()
    memory_gb = _as_numpy(memory_gb, "memory_gb", ndim=1, positive=True).tolist()
    fig, ax = new_figure(figsize=(6.4, 3.4))
    width = 0.8 / len(bits)
    for j, b in enumerate(bits):
        sizes = [p * b / 8 / GB for p in n_params]
        ax.bar(np.arange(len(n_params)) + (j - (len(bits) - 1) / 2) * width, sizes, width,
               label=_("{bits}-bit").format(bits=b))
    for m, style in zip(memory_gb, (":", "--", "-.")):
        ax.axhline(m, color="black", linestyle=style, linewidth=1)
        ax.text(len(n_params) - 0.5, m, f" {m} GB", va="center", fontsize="small")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(n_params)), [f"{p / 1e9:g}B" for p in n_params])
    ax.set_xlabel(_("parameters"))
    ax.set_ylabel("GB")
    ax.set_title(_("Weights only: parameters x bits / 8") if title is None else title)
    ax.legend(fontsize="small", loc="upper left", ncols=len(bits))
    return fig


def limit_label(limit: str) -> str:
    """The name of a serving limit ("memory", "bandwidth", "compute") as a picture shows it."""
    return {"memory": _("memory"), "bandwidth": _("bandwidth"), "compute": _("compute")}.get(limit, limit)


def plot_gpus_needed(by_limit: dict, binding: str, memory: dict | None = None, title: str = "",
                     fig: Figure | None = None) -> Figure:
    """Left: GPUs each limit asks for (the binding one in red). Right: memory split, weights vs KV cache (GB)."""
    check.mapping("by_limit", by_limit, what="{limit: GPUs needed}, e.g. gpus_needed(...)['by_limit']")
    _as_numpy(list(by_limit.values()), "by_limit", min_value=0)
    if binding not in by_limit:
        raise ValueError(f"binding={binding!r} is not one of the limits: {', '.join(map(repr, by_limit))}")
    if memory is not None:
        check.mapping("memory", memory, what="{'weights': bytes, 'kv_cache': bytes}")
        missing = [k for k in ("weights", "kv_cache") if k not in memory]
        if missing:
            raise ValueError(f"memory lacks {', '.join(map(repr, missing))}; pass gpus_needed(...)['memory']")
        _as_numpy([memory["weights"], memory["kv_cache"]], "memory", min_value=0)
    check.figure("fig", fig)
    if fig is not None and len(fig.axes) != 2:
        raise ValueError(f"fig has {len(fig.axes)} axes; pass a figure plot_gpus_needed drew before (or None)")
    if fig is None:
        fig, _axes = new_figure(1, 2, figsize=(6.4, 2.6))
    else:
        for ax in fig.axes:
            ax.clear()
    ax, ax_mem = fig.axes
    names = list(by_limit)
    ax.bar([limit_label(n) for n in names], [by_limit[n] for n in names],
           color=["tab:red" if n == binding else "tab:gray" for n in names])
    for i, n in enumerate(names):
        ax.text(i, by_limit[n], f"{by_limit[n]:,}", ha="center", va="bottom", fontsize="small")
    ax.set_ylabel(_("GPUs needed"))
    ax.set_ylim(0, max(1, max(by_limit.values())) * 1.25)
    ax.set_title(title or _("binding limit: {limit}").format(limit=limit_label(binding)), fontsize="medium")
    if memory is not None:
        parts = {_("weights"): memory["weights"] / GB, _("KV cache"): memory["kv_cache"] / GB}
        ax_mem.bar(list(parts), list(parts.values()), color=["tab:blue", "tab:orange"])
        ax_mem.set_ylabel("GB")
        ax_mem.set_title(_("memory"), fontsize="medium")
    return fig


def plot_batching(batches, tokens_per_s, step_ms, measured_tokens_per_s=None, measured_step_ms=None,
                  title: str | None = None) -> Figure:
    """Two panels against batch size: tokens/s for all users (吞吐量) and ms per step (延迟), log-log.

    The ``measured_*`` series (same batches) are drawn as dots beside the roofline's lines.
    ``title``: default "Batching: throughput rises, and so does latency".
    """
    b = _as_numpy(batches, "batches", ndim=1, min_size=1, positive=True).tolist()  # log axes
    for name, values in (("tokens_per_s", tokens_per_s), ("step_ms", step_ms),
                         ("measured_tokens_per_s", measured_tokens_per_s), ("measured_step_ms", measured_step_ms)):
        if values is not None or name in ("tokens_per_s", "step_ms"):
            check.same_length(("batches", len(b)), (name, _as_numpy(values, name, ndim=1, positive=True).size))
    fig, (ax_t, ax_l) = new_figure(1, 2, figsize=(7.2, 3.0))
    ax_t.plot(b, list(tokens_per_s), marker="o", label=_("roofline"))
    ax_l.plot(b, list(step_ms), marker="o", label=_("roofline"))
    if measured_tokens_per_s is not None:
        ax_t.plot(b, list(measured_tokens_per_s), "s--", label=_("measured"))
    if measured_step_ms is not None:
        ax_l.plot(b, list(measured_step_ms), "s--", label=_("measured"))
    for ax, label in ((ax_t, _("tokens/s, all users")), (ax_l, _("ms per step (each user waits)"))):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(_("batch (concurrent users)"))
        ax.set_ylabel(label)
        ax.legend(fontsize="small")
    fig.suptitle(_("Batching: throughput rises, and so does latency") if title is None else title,
                 fontsize="medium")
    return fig


__all__ = ["plot_bits_vs_loss", "plot_column_scales", "plot_memory_fit", "plot_gpus_needed", "plot_batching"]
