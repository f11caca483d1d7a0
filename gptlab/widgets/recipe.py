"""RecipeExplorer (lesson 15): toggle each change of the modern recipe on a small GPT and see its
parameters, its KV cache per token, and the measured loss of the precomputed runs."""
from __future__ import annotations

import dataclasses

import ipywidgets as widgets
from matplotlib.figure import Figure

from .._checks import ArgumentTypeError, check_int
from ..i18n import _
from ..model import GPTConfig, count_parameters
from ..plotting._live import mark_dynamic
from ..plotting.recipe import plot_recipe_runs
from ._base import Explorer

# each toggle and the GPTConfig fields it sets (the order is the order the precomputed runs add them)
CHANGES: dict[str, dict] = {
    "rmsnorm": dict(norm_type="rmsnorm"),
    "swiglu": dict(activation="swiglu"),
    "rope": dict(pos="rope"),
    "gqa": dict(n_kv_head=2),
    "no_bias": dict(bias=False),
    "untied": dict(tie_weights=False),
}


def change_labels() -> dict[str, str]:
    """Each toggle's label, in the current language (asked when an explorer is built or redrawn)."""
    return {"rmsnorm": "RMSNorm", "swiglu": "SwiGLU", "rope": "RoPE", "gqa": _("GQA (2 KV heads)"),
            "no_bias": _("no biases"), "untied": _("untied embeddings")}

RECIPE_CHECKPOINT = "lesson15_recipe"


def load_recipe_runs() -> tuple[list[dict], dict]:
    """The precomputed runs of ``scripts/checkpoint_recipes/lesson15_recipe.py`` and their base shape."""
    from .. import pretrained

    loaded = pretrained.load(RECIPE_CHECKPOINT, device="cpu")
    return loaded.meta["runs"], {**loaded.meta["base"], "vocab_size": loaded.config.vocab_size}


class RecipeExplorer(Explorer):
    """Checkboxes for RMSNorm, SwiGLU, RoPE, GQA, no biases and untied embeddings.

    ``runs``: the precomputed runs (dicts with ``name``, ``changes``, ``val_loss`` per seed and
    optionally ``val_loss_long``); None loads them from the ``lesson15_recipe`` checkpoint.
    ``base``: the GPTConfig fields of the model without any change (n_layer, n_head, n_embd,
    block_size, and optionally vocab_size); ``vocab_size``: its vocabulary, if base has none (the
    checkpoint's base has the characters of the first 1 MB of Shakespeare).
    Parameters and cache are computed for any combination; a loss exists only for the
    combinations that were trained (the recipe's changes added in order). A trained run that
    carries ``mlp_hidden`` (the recipe matches every run's parameters to GPT-2's by its MLP width)
    is counted at that width; any other combination at the default width.
    """

    def __init__(self, runs: list[dict] | None = None, base: dict | None = None, vocab_size: int | None = None,
                 **start):
        if runs is None:
            runs, loaded_base = load_recipe_runs()
            base = loaded_base if base is None else base
        if not isinstance(runs, (list, tuple)) or not runs or not all(isinstance(r, dict) for r in runs):
            raise ArgumentTypeError("runs must be a non-empty list of dicts (name, changes, val_loss), e.g. "
                                    "load_recipe_runs()[0]")
        for r in runs:
            missing = {"name", "changes", "val_loss"} - set(r)
            if missing:
                raise ValueError(f"run {r.get('name', '?')!r} lacks {sorted(missing)}")
        if base is None:
            raise ValueError("base (the model's shape: n_layer, n_head, n_embd, block_size) is needed with runs")
        if vocab_size is None:
            vocab_size = dict(base).get("vocab_size", 65)
        self.vocab_size = check_int("vocab_size", vocab_size, min_value=1)
        self.base = {**dict(base), "vocab_size": self.vocab_size}
        GPTConfig(**self.base)  # a bad base says so now, naming the field
        self.runs = list(runs)
        self._losses = [[float(v) for v in (r["val_loss"] if isinstance(r["val_loss"], list) else [r["val_loss"]])]
                        for r in self.runs]
        self._figure: Figure | None = None  # one picture; only its bars' colours change
        self._params: dict[tuple, int] = {}
        self._base_params = count_parameters(GPTConfig(**self.base))
        unknown = sorted(set(start) - set(CHANGES))
        if unknown:
            raise ValueError(f"unknown change(s) {unknown}; the toggles are {sorted(CHANGES)}")
        labels = change_labels()
        controls = {name: widgets.Checkbox(value=bool(start.get(name, False)), description=labels[name],
                                           indent=False) for name in CHANGES}
        super().__init__(controls, columns=3)

    def config(self, **toggles) -> GPTConfig:
        """The GPTConfig with the toggled changes on."""
        fields = dict(self.base)
        for name, on in toggles.items():
            if on:
                fields.update(CHANGES[name])
        return GPTConfig(**fields)

    def _run_index(self, toggles: dict) -> int | None:
        changes = {}
        for name, on in toggles.items():
            if on:
                changes.update(CHANGES[name])
        for i, r in enumerate(self.runs):
            if r["changes"] == changes:
                return i
        return None

    def render(self, **toggles) -> tuple[Figure, str]:
        i = self._run_index(toggles)
        config = self.config(**toggles)
        default_width = config.mlp_width
        hidden = self.runs[i].get("mlp_hidden") if i is not None else None
        if hidden is not None:  # the model as it was trained, its MLP widened to GPT-2's count
            config = dataclasses.replace(config, mlp_hidden=int(hidden))
        key = (tuple(sorted(toggles.items())), hidden)
        if key not in self._params:
            self._params[key] = count_parameters(config)
        params, base_params = self._params[key], self._base_params
        if self._figure is None:
            self._figure = plot_recipe_runs([r["name"] for r in self.runs], self._losses)
        ax = self._figure.axes[0]
        bars = list(ax.patches)
        for j, bar in enumerate(bars):
            bar.set_facecolor("tab:orange" if j == i else "lightgray")
        # the fast redraw: the axes, labels and title are the saved background; bars and dots are redrawn
        # the frame goes over the bars' bottom edge, as in a full draw (at a classroom dpi it is not on a pixel edge)
        mark_dynamic(self._figure, bars + list(ax.collections) + list(ax.spines.values()), key="recipe-runs")
        labels = change_labels()
        on = [labels[n] for n, v in toggles.items() if v] or [_("none (GPT-2's recipe)")]
        params_line = (_("parameters: {params:,} ({change:+.1%} vs GPT-2's recipe), MLP width {width} (set so the "
                         "trained run matches GPT-2's count)") if config.mlp_width != default_width else
                       _("parameters: {params:,} ({change:+.1%} vs GPT-2's recipe), MLP width {width} (the default)"))
        lines = [_("changes on: {changes}").format(changes=", ".join(on)),
                 params_line.format(params=params, change=(params - base_params) / base_params, width=config.mlp_width),
                 _("KV cache per token: {bytes:,} bytes in float16").format(bytes=config.kv_cache_per_token(2))]
        if i is None:
            order = " → ".join(labels[n] for n in CHANGES)
            lines.append(_("loss: not measured for this combination (the precomputed runs add the changes in the "
                           "order {order})").format(order=order))
        else:
            losses = self._losses[i]
            long = self.runs[i].get("val_loss_long")
            numbers = dict(n=len(losses), mean=sum(losses) / len(losses), low=min(losses), high=max(losses))
            if long:
                long = long if isinstance(long, list) else [long]
                lines.append(_("measured val loss ({n} seeds): mean {mean:.3f}, range {low:.3f}–{high:.3f}; at twice "
                               "the trained context: mean {long:.3f}").format(**numbers, long=sum(long) / len(long)))
            else:
                lines.append(_("measured val loss ({n} seeds): mean {mean:.3f}, range {low:.3f}–{high:.3f}")
                             .format(**numbers))
        return self._figure, "\n".join(lines)
