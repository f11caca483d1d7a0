"""RouterExplorer: which expert each token of a prompt goes to, in trained MoE GPTs (lesson 11)."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import ipywidgets as widgets
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from .._checks import check_int
from ..i18n import _
from ..moe import MoE
from ..plotting.moe import plot_router_state
from ._base import Explorer
from ._validate import initial

FIGURES_KEPT = 4  # tile layouts whose figures (and saved backgrounds) a RouterExplorer keeps


@dataclass
class LayerRouting:
    """What one MoE layer did with the prompt (CPU tensors; rows are the prompt's tokens)."""

    experts: torch.Tensor  # (T, top_k) long: chosen experts, best first
    gates: torch.Tensor  # (T, top_k) their mixing weights
    tokens_per_expert: torch.Tensor  # (n_experts,) long: assignments routed to each expert
    dropped: torch.Tensor  # (T, top_k) bool: dropped by the layer's capacity (all False without one)
    capacity: int | None  # the layer's capacity for this prompt, None = unlimited
    aux_loss: float  # the layer's load-balancing loss on this prompt (1 = balanced, n_experts = collapsed)


def moe_layers(model: nn.Module) -> list[MoE]:
    """The ``MoE`` layers of ``model``, in the order the data flows through them."""
    return [module for module in model.modules() if isinstance(module, MoE)]


class RouterExplorer(Explorer):
    """A prompt's tokens coloured by the expert the router picked, and how busy each expert is.

    ``models``: one trained MoE GPT, or a dict ``{name: model}`` to compare, e.g.
    ``{"with balancing loss": m1, "without": m2}``. ``tokenizer``: the one the models were trained
    with (``encode``/``decode``). ``text``: the first prompt (at most ``block_size`` tokens).

    Controls: ``model``; ``layer`` (which MoE layer, 0 = nearest the input); ``top_k``: re-route
    with the same trained router but a different number of experts per token, at inference only
    (each layer's ``top_k`` is set for the forward pass and restored afterwards); ``text``.
    A forward pass is cached per (model, top_k, text), so moving ``layer`` or coming back to a
    setting only redraws. After each redraw: ``routing`` (a ``LayerRouting``), ``utilisation``
    (assignments per expert), ``busiest_fraction`` (share of the tokens that visit the busiest
    expert) and ``aux_loss`` (this layer's load-balancing loss on the prompt). The cache assumes
    the models stay as they are: after training them further, make a new explorer.
    """

    max_cached_states = 256

    def __init__(self, models, tokenizer, text: str, *, model: str | None = None, layer: int = 0,
                 top_k: int | None = None, per_row: int = 10):
        if isinstance(models, nn.Module):
            models = {"model": models}
        if not isinstance(models, dict) or not models:
            raise ValueError("models must be a trained MoE GPT or a non-empty dict {name: model}, e.g. "
                             "{'with balancing loss': m1, 'without': m2}")
        self.models: dict[str, nn.Module] = {}
        self._layers: dict[str, list[MoE]] = {}
        for name, m in models.items():
            if not isinstance(m, nn.Module):
                raise ValueError(f"models[{name!r}] must be a GPT (torch.nn.Module), got {type(m).__name__}")
            layers = moe_layers(m)
            if not layers:
                raise ValueError(f"models[{name!r}] has no MoE layer; build it with GPTConfig(n_experts=4, ...)")
            self.models[str(name)] = m
            self._layers[str(name)] = layers
        if not (hasattr(tokenizer, "encode") and hasattr(tokenizer, "decode")):
            raise ValueError(f"tokenizer must have encode() and decode() (e.g. a fitted CharTokenizer), "
                             f"got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer
        self.per_row = check_int("per_row", per_row, min_value=1)
        names = list(self.models)
        model = names[0] if model is None else model
        if model not in self.models:
            raise ValueError(f"model={model!r} is not one of the models: {', '.join(map(repr, names))}")
        max_layers = max(len(layers) for layers in self._layers.values())
        max_experts = max(layer.n_experts for layers in self._layers.values() for layer in layers)
        top_k = self._layers[model][0].top_k if top_k is None else top_k
        self._cache: dict[tuple[str, int, str], tuple[list[str], list[LayerRouting]]] = {}  # forward passes
        self._drawn: dict[tuple, tuple] = {}  # (model, layer, top_k, text) -> (summary, tokens, routing, busiest)
        self._figures: dict[tuple, Figure] = {}  # a figure per tile layout, see ``render``
        self.routing: LayerRouting | None = None
        self.utilisation: torch.Tensor | None = None
        self.busiest_fraction: float = float("nan")
        self.aux_loss: float = float("nan")
        controls = {
            "model": widgets.Dropdown(options=names, description=_("model")),
            "layer": widgets.IntSlider(min=0, max=max_layers - 1, description=_("MoE layer"), continuous_update=False),
            "top_k": widgets.IntSlider(min=1, max=max_experts, description=_("top-k"), continuous_update=False),
            "text": widgets.Text(description=_("text"), continuous_update=False,
                                 layout=widgets.Layout(width="40em")),
        }
        initial(controls, model=model, layer=layer, top_k=top_k, text=text)  # an impossible start raises
        super().__init__(controls, columns=3)

    # --- the forward pass, cached ------------------------------------------------------------
    def _encode(self, text: str, block_size: int | None) -> tuple[torch.Tensor, list[str]]:
        if not isinstance(text, str) or text == "":
            raise ValueError(_("text is empty: type at least one character to route"))
        try:
            ids = list(self.tokenizer.encode(text))
        except ValueError as err:
            raise ValueError(f"text: {err}") from None
        if not ids:
            raise ValueError(_("text {text!r} has no token the tokenizer knows").format(text=text))
        if block_size is not None and len(ids) > block_size:
            raise ValueError(_("text has {n} tokens, but the model reads at most block_size={block_size}; "
                               "shorten it").format(n=len(ids), block_size=block_size))
        tokens = [self.tokenizer.decode([i]) for i in ids]
        return torch.tensor([ids], dtype=torch.long), tokens

    def route(self, model: str, top_k: int, text: str) -> tuple[list[str], list[LayerRouting]]:
        """Tokens of ``text`` and every MoE layer's routing in ``model`` with ``top_k`` experts per token.

        The model's layers get ``top_k`` for this forward pass only; their own value is restored
        afterwards, even when the forward pass fails.
        """
        key = (model, top_k, text)
        if key in self._cache:
            return self._cache[key]
        if model not in self.models:
            raise ValueError(f"model={model!r} is not one of the models: {', '.join(map(repr, self.models))}")
        net, layers = self.models[model], self._layers[model]
        n_experts = min(layer.n_experts for layer in layers)
        top_k = check_int("top_k", top_k)
        if not 1 <= top_k <= n_experts:
            raise ValueError(_("top_k={top_k} must be between 1 and n_experts={n_experts} for model {model!r}: "
                               "each token visits top_k different experts").format(top_k=top_k, n_experts=n_experts,
                                                                                   model=model))
        config = getattr(net, "config", None)
        idx, tokens = self._encode(text, getattr(config, "block_size", None))
        device = next(net.parameters()).device
        trained_k = [layer.top_k for layer in layers]
        was_training = net.training
        net.eval()  # no router noise, no dropout: the routing a learner sees is the deterministic one
        try:
            for layer in layers:
                layer.top_k = top_k
            with torch.no_grad():
                net(idx.to(device))
            routings = []
            for layer in layers:
                r = layer.last_routing
                routings.append(LayerRouting(
                    experts=r.experts.cpu(), gates=r.gates.cpu(), tokens_per_expert=r.tokens_per_expert.cpu(),
                    dropped=r.dropped.cpu(), capacity=r.capacity, aux_loss=float(layer.aux_loss)))
        finally:
            for layer, k in zip(layers, trained_k):
                layer.top_k = k
            net.train(was_training)
        self._cache[key] = (tokens, routings)
        return tokens, routings

    # --- the picture and the summary ---------------------------------------------------------
    def render(self, model: str, layer: int, top_k: int, text: str) -> tuple[Figure, str]:
        key = (model, layer, top_k, text)
        if key not in self._drawn:
            self._drawn[key] = self._describe(model, layer, top_k, text)
            if len(self._drawn) > self.max_cached_states:
                self._drawn.pop(next(iter(self._drawn)))  # forget the oldest state
        summary, tokens, self.routing, self.busiest_fraction = self._drawn[key]
        self.utilisation, self.aux_loss = self.routing.tokens_per_expert, self.routing.aux_loss
        r = self.routing
        # one figure per layout (rows of tiles, lines per tile, a capacity line): a text of another
        # length, and back, finds its figure built and its background saved
        layout = (math.ceil(len(tokens) / self.per_row), r.gates.shape[1] > 2, r.capacity is not None)
        fig = plot_router_state(tokens, r.experts, r.gates, r.tokens_per_expert,
                                n_experts=r.tokens_per_expert.numel(), capacity=r.capacity,
                                title=_("layer {layer}: assignments per expert").format(layer=layer),
                                per_row=self.per_row,
                                fig=self._figures.pop(layout, None))
        self._figures[layout] = fig
        while len(self._figures) > FIGURES_KEPT:
            self._figures.pop(next(iter(self._figures)))  # the least recently used
        return fig, summary

    def _describe(self, model: str, layer: int, top_k: int, text: str) -> tuple[str, list[str], LayerRouting, float]:
        tokens, routings = self.route(model, top_k, text)
        n_layers = len(routings)
        if not 0 <= layer < n_layers:
            raise ValueError(_("layer={layer}: model {model!r} has {n} MoE layer(s), 0..{last}").format(
                layer=layer, model=model, n=n_layers, last=n_layers - 1))
        r = routings[layer]
        n_experts = r.tokens_per_expert.numel()
        T = len(tokens)
        counts = r.tokens_per_expert
        busiest = int(counts.argmax())
        busiest_fraction = counts[busiest].item() / T  # a token visits an expert at most once

        trained_k = self._layers[model][0].top_k
        share = " | ".join(f"E{e} {int(c)} ({c / (T * top_k):.0%})" for e, c in enumerate(counts.tolist()))
        by_expert: dict[int, list[str]] = {e: [] for e in range(n_experts)}
        pairs = Counter(zip(r.experts[:, 0].tolist(), tokens))  # (first-choice expert, token) -> count
        for (e, token), _count in pairs.most_common():
            by_expert[e].append(_show(token))
        firsts = " | ".join(f"E{e}: {' '.join(toks[:6]) or '-'}" for e, toks in by_expert.items())
        header = (_("{model}: MoE layer {layer} of 0..{last}, top_k={k}, {T} tokens") if top_k == trained_k else
                  _("{model}: MoE layer {layer} of 0..{last}, top_k={k} (trained with top_k={trained_k}), {T} tokens"))
        lines = [
            header.format(model=model, layer=layer, last=n_layers - 1, k=top_k, trained_k=trained_k, T=T),
            _("utilisation: {share}  (sum {total} = {T} tokens x top_k {k})").format(
                share=share, total=int(counts.sum()), T=T, k=top_k),
            _("busiest expert: E{e}, visited by {fraction:.0%} of the tokens (fair share {fair:.0%} = "
              "top_k / n_experts)").format(e=busiest, fraction=busiest_fraction, fair=top_k / n_experts),
            _("aux (load-balancing) loss on this prompt: {loss:.3f}  (1 = balanced, {n} = all on one expert)").format(
                loss=r.aux_loss, n=n_experts),
            _("first choices: {firsts}").format(firsts=firsts),
        ]
        if r.capacity is not None:
            lines.append(_("capacity {capacity} per expert: {dropped} of {total} assignments dropped ({share:.0%})")
                         .format(capacity=r.capacity, dropped=int(r.dropped.sum()), total=T * top_k,
                                 share=r.dropped.float().mean().item()))
        return "\n".join(lines), tokens, r, busiest_fraction


def _show(token: str) -> str:
    """A token in the summary; blank ones (' ', '\\n') quoted so they can be seen."""
    return "␣" if token == " " else repr(token) if token.strip() == "" else token
