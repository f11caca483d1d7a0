"""The serving calculator (lesson 13): model, precision, context, users, speed -> memory, GPUs, binding limit."""
from __future__ import annotations

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..i18n import _
from ..plotting.quantization import limit_label, plot_gpus_needed
from ..serving import DTYPES, GPUS, MODELS, gpus_needed, model_shape
from ._base import Explorer
from ._validate import initial


class ServingExplorer(Explorer):
    """How many GPUs does a service need? Type the model, precision, context, users and target speed.

    The answer is ``gptlab.serving.gpus_needed``: the largest of three lower bounds (memory,
    bandwidth, compute), with the one that binds drawn in red. ``models``: extra models by name
    (a ``GPTConfig`` or ``ModelShape``), e.g. the lesson's own GPT.
    """

    def __init__(self, models: dict | None = None, model: str = "llama-70b", dtype: str = "bfloat16",
                 gpu: str = "H100", context: int = 4096, users: int = 16, tokens_per_s: float = 20.0):
        self.models = {**MODELS, **{name: model_shape(m) for name, m in (models or {}).items()}}
        self._figure = None
        controls = {
            "model": widgets.Dropdown(options=list(self.models), description=_("model")),
            "dtype": widgets.Dropdown(options=list(DTYPES), description=_("precision")),
            "gpu": widgets.Dropdown(options=list(GPUS), description="GPU"),
            "context": widgets.IntText(description=_("context")),
            "users": widgets.IntText(description=_("users")),
            "tokens_per_s": widgets.FloatText(description=_("tokens/s each")),
        }
        # an unknown choice or a wrong type raises here, naming it; a number out of range is shown by render
        initial(controls, model=model, dtype=dtype, gpu=gpu, context=context, users=users, tokens_per_s=tokens_per_s)
        super().__init__(controls, columns=3)
        if self.error is not None:  # the boxes take any number; an impossible start raises here, not later
            raise ValueError(self.error)

    def render(self, model, dtype, gpu, context, users, tokens_per_s) -> tuple[Figure, str]:
        result = gpus_needed(self.models[model], dtype, users, context, tokens_per_s, gpu)
        by = result["by_limit"]
        mem = result["memory"]
        binding = limit_label(result["binding"])
        self._figure = plot_gpus_needed(by, result["binding"], mem, fig=self._figure,
                                        title=_("{gpus:,} x {gpu}: {limit} binds").format(gpus=result["gpus"], gpu=gpu,
                                                                                           limit=binding))
        summary = "\n".join([
            _("{model} in {dtype}, {users:,} users x {context:,} tokens at {speed:g} tokens/s each").format(
                model=model, dtype=dtype, users=users, context=context, speed=tokens_per_s),
            _("memory: weights {weights:,.1f} GB + KV cache {kv:,.1f} GB = {total:,.1f} GB").format(
                weights=mem["weights"] / 1e9, kv=mem["kv_cache"] / 1e9, total=mem["total"] / 1e9),
            _("GPUs for memory {memory:,}, for bandwidth {bandwidth:,}, for compute {compute:,} -> {gpus:,} {gpu} "
              "(binding: {limit})").format(memory=by["memory"], bandwidth=by["bandwidth"], compute=by["compute"],
                                            gpus=result["gpus"], gpu=gpu, limit=binding),
        ])
        return self._figure, summary


__all__ = ["ServingExplorer"]
