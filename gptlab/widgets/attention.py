"""AttentionExplorer: who attends to whom, layer by layer, head by head, with the mask on or off.

Three ways to make one (lessons 03, 04, 09, 10):

    AttentionExplorer(model, idx, tokens)               # any model with gptlab attention layers
    AttentionExplorer.from_text(model, tokenizer, text) # the same, encoding the text for you
    AttentionExplorer.from_weights(weights, tokens, masked_weights=None)  # weights you computed

With a model, the explorer runs it once per mask setting under ``record_attention`` and keeps the
weights, so moving a control only redraws. Controls: ``layer``, ``head``, ``query`` (a position,
or -1 for every row) and ``causal`` ("mask on"). ``shown_weights`` / ``shown_row`` hold the
numbers on screen.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import partial

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn as nn

from .._checks import ArgumentTypeError
from ..attention import MultiHeadAttention, SelfAttention, causal_mask, record_attention
from ..i18n import _
from ..plotting.attention import AttentionView, token_label
from ._base import Explorer

__all__ = ["AttentionExplorer"]


def _tokens(name: str, tokens) -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)):
        raise ValueError(f"{name} must be a list of token strings (one per position), got {type(tokens).__name__}; "
                         f"for a sentence use text.split()")
    if len(tokens) == 0:
        raise ValueError(f"{name} is empty: attention needs at least one token")
    return [str(t) for t in tokens]


def _as_layers(name: str, weights) -> list[torch.Tensor]:
    """Accept (T, T), (n_head, T, T), (n_layer, n_head, T, T), (n_layer, 1, n_head, T, T) or a list
    of per-layer (n_head, T, T) / (1, n_head, T, T) tensors; return one (n_head, T_q, T_k) per layer."""
    def tensor(w):
        if isinstance(w, torch.Tensor):
            return w.detach().to("cpu", torch.float32)
        try:
            return torch.as_tensor(np.asarray(w, dtype=np.float32))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a tensor, an array or a list of them, got {type(w).__name__}") from None

    if isinstance(weights, (list, tuple)) and len(weights) and not isinstance(weights[0], (int, float)):
        layers = []
        for w in map(tensor, weights):
            if w.dim() == 4 and w.size(0) == 1:  # (1, n_head, T_q, T_k) as record_attention gives it
                w = w[0]
            layers.append(w.unsqueeze(0) if w.dim() == 2 else w)
    else:
        w = tensor(weights)
        if w.dim() == 5 and w.size(1) == 1:  # (n_layer, B=1, n_head, T_q, T_k) from GPT.attention_maps
            w = w[:, 0]
        layers = {2: lambda: [w.unsqueeze(0)], 3: lambda: [w], 4: lambda: list(w)}.get(w.dim(), lambda: None)()
        if layers is None:
            raise ValueError(f"{name} has shape {tuple(w.shape)}; give (T, T), (n_head, T, T) or "
                             f"(n_layer, n_head, T, T) weights (one sequence, not a batch)")
    if not layers:
        raise ValueError(f"{name} is empty: give at least one layer of attention weights")
    for i, w in enumerate(layers):
        if w.dim() != 3 or 0 in w.shape:
            raise ValueError(f"{name}: layer {i} has shape {tuple(w.shape)}, expected (n_head, T_q, T_k) "
                             f"for one sequence")
        if w.shape[1:] != layers[0].shape[1:]:
            raise ValueError(f"{name}: layer {i} covers {tuple(w.shape[1:])} (T_q, T_k) positions but layer 0 "
                             f"covers {tuple(layers[0].shape[1:])}; every layer must see the same tokens")
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
            raise ValueError(f"{name}: layer {i} holds negative or non-finite numbers; attention weights "
                             f"come out of a softmax, so they lie in [0, 1]")
    return layers


def _looks_causal(layers: list[torch.Tensor]) -> bool:
    """True when every weight above the diagonal is exactly 0 (a causal mask was applied)."""
    T_q, T_k = layers[0].shape[1:]
    if T_q != T_k or T_q < 2:
        return False
    future = ~causal_mask(T_q)
    return all(bool((w[:, future] == 0).all()) for w in layers)


def _force_causal(causal: bool, _module, args, kwargs):
    """Forward pre-hook: call a SelfAttention with causal=<setting> whatever its caller passed."""
    if len(args) > 2:  # forward(x, mask, causal, context): causal given by position
        args = (*args[:2], causal, *args[3:])
    else:
        kwargs = {**kwargs, "causal": causal}
    return args, kwargs


@contextmanager
def _mask_setting(model: nn.Module, causal: bool):
    """Switch every attention layer in ``model`` to ``causal`` for the duration, then restore."""
    saved, handles = [], []
    try:
        for module in model.modules():
            if isinstance(module, MultiHeadAttention):
                saved.append((module, module.causal))
                module.causal = causal
            elif isinstance(module, SelfAttention):
                handles.append(module.register_forward_pre_hook(partial(_force_causal, causal), with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module, value in saved:
            module.causal = value


def _check_causal(causal) -> None:
    if causal is not None and not isinstance(causal, (bool, np.bool_)):
        raise ArgumentTypeError(f"causal={causal!r} must be True (mask on), False (mask off) or None (as the "
                                f"model is built), got {type(causal).__name__}")


def _encode_line(model: nn.Module, tokenizer, text) -> list[int]:
    """Token ids for one line of text, with errors that say what to type instead."""
    if not isinstance(text, str) or not text:
        raise ValueError(_("text must be a non-empty string, got {text!r}").format(text=text))
    known = getattr(tokenizer, "stoi", None)
    if isinstance(known, dict) and getattr(tokenizer, "unknown", None) == "error" and hasattr(tokenizer, "tokenize"):
        # name every token the model never saw, in the words a learner typing a line needs
        unknown = list(dict.fromkeys(t for t in tokenizer.tokenize(text) if t not in known))
        if unknown:
            what = _("characters") if type(tokenizer).__name__ == "CharTokenizer" else _("tokens")
            shown = ", ".join(repr(t) for t in unknown[:8]) + (", ..." if len(unknown) > 8 else "")
            template = (_("text={text!r} can't be encoded: {unknown} is not among the {n} {what} this model was "
                          "trained on; type a line without it") if len(unknown) == 1 else
                        _("text={text!r} can't be encoded: {unknown} are not among the {n} {what} this model was "
                          "trained on; type a line without them"))
            raise ValueError(template.format(text=text, unknown=shown, n=len(known), what=what))
    try:
        ids = tokenizer.encode(text)
    except ValueError as err:
        raise ValueError(_("text={text!r} can't be encoded: {error}").format(text=text, error=err)) from None
    if not ids:
        raise ValueError(_("text={text!r} encodes to no tokens with this tokenizer").format(text=text))
    block_size = getattr(getattr(model, "config", None), "block_size", None)
    if block_size is not None and len(ids) > block_size:
        raise ValueError(_("text is {n} tokens long, but the model reads at most block_size={block_size}; "
                           "type a shorter line").format(n=len(ids), block_size=block_size))
    return ids


class AttentionExplorer(Explorer):
    """Heatmap of attention weights over the tokens: pick the layer, the head, a query, the mask."""

    def __init__(self, model: nn.Module, idx, tokens, *, tokens_k=None, layer: int = 0, head: int = 0,
                 query: int = -1, causal: bool | None = None):
        """Run ``model(idx)`` under ``record_attention`` and explore what every attention layer did.

        ``model``: any ``nn.Module`` holding gptlab ``MultiHeadAttention`` or ``SelfAttention``
        layers (a GPT, a Block, a single layer). ``idx``: its input for ONE sequence: token ids (T,)
        or (1, T), or vectors (T, d) or (1, T, d). ``tokens``: one label per position.
        ``tokens_k``: labels of the keys when they differ from the queries (cross-attention).
        ``causal``: start with the mask on (True) or off (False); None = as the model is built.
        The mask toggle sets every ``MultiHeadAttention.causal`` and calls every ``SelfAttention``
        with ``causal=...``; each setting runs the model once and is cached.
        """
        _check_causal(causal)
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}; for weights you "
                             f"computed yourself use AttentionExplorer.from_weights(weights, tokens)")
        if not isinstance(idx, torch.Tensor):
            raise ValueError(f"idx must be a tensor (token ids or vectors for one sequence), got {type(idx).__name__}")
        if idx.dim() == 1 or (idx.is_floating_point() and idx.dim() == 2):
            idx = idx.unsqueeze(0)  # add the batch dimension: (1, T) ids or (1, T, d) vectors
        if idx.size(0) != 1:
            raise ValueError(f"idx must hold ONE sequence, got a batch of {idx.size(0)} (shape {tuple(idx.shape)}); "
                             f"pass idx[:1]")
        self._tokens_q = _tokens("tokens", tokens)
        if idx.size(1) != len(self._tokens_q):
            raise ValueError(f"tokens has {len(self._tokens_q)} labels but idx has {idx.size(1)} positions; "
                             f"pass one token label per position")
        param = next(model.parameters(), None)
        self._model = model
        self._idx = idx if param is None else idx.to(param.device)
        self._cache: dict[bool, list[torch.Tensor]] = {}
        natural, names = self._run(None)  # the model as it is built
        if not natural:
            raise ValueError(f"model ({type(model).__name__}) ran without calling any attention layer gptlab can "
                             f"record (MultiHeadAttention or SelfAttention)")
        built_causal = _looks_causal(natural)
        self._cache[built_causal] = natural
        toggle = True
        note = ""
        if natural[0].size(1) != natural[0].size(2):
            toggle, note = False, _("mask toggle off: queries and keys are different sequences")
        self._setup(natural, tokens_k, built_causal if causal is None else bool(causal), toggle, note,
                    layer, head, query, names=[n or type(model).__name__ for n in names])  # "": the model itself

    # --- building ------------------------------------------------------------------------------
    @classmethod
    def from_text(cls, model: nn.Module, tokenizer, text: str, *, text_box: bool = False,
                  **kwargs) -> AttentionExplorer:
        """Encode ``text`` with a gptlab tokenizer and explore ``model`` on it (a trained GPT, lesson 10).

        ``text_box=True`` adds a box where the learner types a line of their own: each new line is
        encoded and run through the model once (then cached per mask setting, as usual). A line
        with a character the tokenizer doesn't know, or longer than the model's ``block_size``,
        shows a message and keeps the last picture.
        """
        ids = _encode_line(model, tokenizer, text)
        if not text_box:
            return cls(model, torch.tensor([ids], dtype=torch.long), [tokenizer.vocab[i] for i in ids], **kwargs)
        self = cls.__new__(cls)
        self._tokenizer, self._text = tokenizer, text
        self._text_box = widgets.Text(value=text, description=_("your text"), continuous_update=False,
                                      layout=widgets.Layout(width="420px"))
        cls.__init__(self, model, torch.tensor([ids], dtype=torch.long), [tokenizer.vocab[i] for i in ids],
                     **kwargs)
        return self

    def _use_text(self, text: str) -> None:
        """Switch to a new line typed in the box: encode it, run the model, resize the query slider."""
        ids = _encode_line(self._model, self._tokenizer, text)
        param = next(self._model.parameters(), None)
        idx = torch.tensor([ids], dtype=torch.long, device=None if param is None else param.device)
        saved = self._idx
        self._idx = idx
        try:
            causal = self.controls["causal"].value
            layers = self._run(causal)[0]
        except Exception:
            self._idx = saved
            raise
        self._text, self._cache = text, {causal: layers}
        self._tokens_q = self._tokens_k = _tokens("text", [self._tokenizer.vocab[i] for i in ids])
        self._view = AttentionView(self._tokens_q, self._tokens_k, live=True)
        slider = self.controls["query"]
        self._holding = True  # resizing the slider must not start a redraw of its own
        try:
            slider.max = len(ids) - 1
            if slider.value > len(ids) - 1:
                slider.value = len(ids) - 1
        finally:
            self._holding = False

    @classmethod
    def from_weights(cls, weights, tokens, masked_weights=None, *, tokens_k=None, layer: int = 0, head: int = 0,
                     query: int = -1, causal: bool | None = None, layer_names=None) -> AttentionExplorer:
        """Explore attention weights you already have.

        ``weights``: (T, T), (n_head, T, T), (n_layer, n_head, T, T) or a list of per-layer
        (n_head, T, T) tensors, e.g. ``rec.weights`` from ``record_attention``. ``masked_weights``:
        the same with the causal mask on; without it the mask toggle is disabled and shows whether
        ``weights`` are already masked. ``layer_names``: one label per layer.
        """
        _check_causal(causal)
        self = cls.__new__(cls)
        self._tokens_q = _tokens("tokens", tokens)
        plain = _as_layers("weights", weights)
        if masked_weights is None:
            given = _looks_causal(plain)
            self._cache = {given: plain}
            state = "already masked (every weight above the diagonal is 0)" if given else "unmasked"
            toggle = False
            note = (_("mask toggle off: these weights are already masked (every weight above the diagonal is 0) "
                      "and no other version was given") if given else
                    _("mask toggle off: these weights are unmasked and no other version was given"))
            if causal is not None and bool(causal) != given:
                raise ValueError(f"causal={causal} asks for {'masked' if causal else 'unmasked'} weights, but the "
                                 f"weights given are {state}; pass both versions: "
                                 f"from_weights(weights, tokens, masked_weights=...)")
            causal = given
        else:
            masked = _as_layers("masked_weights", masked_weights)
            if [tuple(w.shape) for w in masked] != [tuple(w.shape) for w in plain]:
                raise ValueError(f"masked_weights has shapes {[tuple(w.shape) for w in masked]} but weights has "
                                 f"{[tuple(w.shape) for w in plain]}; give the same layers, heads and tokens")
            self._cache = {False: plain, True: masked}
            toggle, note = True, ""
            causal = True if causal is None else bool(causal)
        if layer_names is not None:
            layer_names = [str(n) for n in layer_names]
            if len(layer_names) != len(plain):
                raise ValueError(f"layer_names has {len(layer_names)} names but there are {len(plain)} layers")
        self._model = None
        self._setup(plain, tokens_k, causal, toggle, note, layer, head, query, names=layer_names)
        return self

    def _setup(self, layers, tokens_k, causal, toggle, note, layer, head, query, names=None):
        T_q, T_k = layers[0].shape[1:]
        if len(self._tokens_q) != T_q:
            raise ValueError(f"tokens has {len(self._tokens_q)} labels but the weights cover {T_q} query positions; "
                             f"pass one token label per position")
        self._tokens_k = self._tokens_q if tokens_k is None else _tokens("tokens_k", tokens_k)
        if len(self._tokens_k) != T_k:
            raise ValueError(f"tokens_k has {len(self._tokens_k)} labels but the weights cover {T_k} key positions; "
                             f"pass one label per key")
        self._names = [f"layer {i}" for i in range(len(layers))] if names is None else names
        self._n_heads = [w.size(0) for w in layers]
        self._toggle = toggle
        self.mask_note = note
        n_layer, max_head = len(layers), max(self._n_heads)
        for pname, value, top in (("layer", layer, n_layer - 1), ("head", head, max_head - 1),
                                  ("query", query, T_q - 1)):
            low = -1 if pname == "query" else 0
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= top:
                allowed = f"-1 (every row) or 0..{top}" if pname == "query" else f"0..{top}"
                raise ValueError(f"{pname}={value!r} is out of range; choose {allowed}")
        self._view = AttentionView(self._tokens_q, self._tokens_k, live=True)
        self.shown_weights: torch.Tensor | None = None  # (T_q, T_k) on screen
        self.shown_row: torch.Tensor | None = None  # (T_k,) the chosen query's weights, or None
        controls = {
            "layer": widgets.Dropdown(options=[(f"{i}: {n}" if n != f"layer {i}" else _("layer {i}").format(i=i), i)
                                               for i, n in enumerate(self._names)], value=int(layer),
                                      description=_("layer"), disabled=n_layer == 1),
            "head": widgets.IntSlider(value=int(head), min=0, max=max_head - 1, description=_("head"),
                                      disabled=max_head == 1, continuous_update=False),
            "query": widgets.IntSlider(value=int(query), min=-1, max=T_q - 1, description=_("query"),
                                       continuous_update=True),
            "causal": widgets.Checkbox(value=bool(causal), description=_("mask on") if toggle else
                                       _("mask on (fixed)"), disabled=not toggle, indent=False),
        }
        if getattr(self, "_text_box", None) is not None:
            controls["text"] = self._text_box
        super().__init__(controls, columns=4)

    # --- the numbers ---------------------------------------------------------------------------
    def _run(self, causal: bool | None) -> tuple[list[torch.Tensor], list[str]]:
        """One forward pass of the model (eval mode, no grad) -> one (n_head, T_q, T_k) per attention
        call, and the names of the layers that made them. ``causal=None``: the model as it is built."""
        model, was_training = self._model, self._model.training
        model.eval()  # no dropout: the same input must give the same picture
        try:
            with torch.no_grad(), record_attention(model) as rec:
                if causal is None:
                    model(self._idx)
                else:
                    with _mask_setting(model, causal):
                        model(self._idx)
        finally:
            model.train(was_training)
        return [w[0] for w in rec.weights], list(rec.names)  # drop the batch axis: (n_head, T_q, T_k)

    def weights(self, causal: bool | None = None) -> list[torch.Tensor]:
        """All the weights for one mask setting (default: the current one): one (n_head, T_q, T_k) per layer."""
        causal = self.controls["causal"].value if causal is None else bool(causal)
        if causal not in self._cache:
            if self._model is None or not self._toggle:
                template = (_("causal={causal}: only masked weights are available ({note}); to compare, pass "
                              "both: from_weights(weights, tokens, masked_weights=...)") if True in self._cache else
                            _("causal={causal}: only unmasked weights are available ({note}); to compare, pass "
                              "both: from_weights(weights, tokens, masked_weights=...)"))
                raise ValueError(template.format(causal=causal, note=self.mask_note))
            self._cache[causal] = self._run(causal)[0]
        return self._cache[causal]

    @property
    def n_layer(self) -> int:
        return len(self._n_heads)

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens_q)

    # --- the picture ---------------------------------------------------------------------------
    def render(self, layer: int, head: int, query: int, causal: bool, text: str | None = None):
        if text is not None and text != self._text:
            self._use_text(text)
            query = min(query, len(self._tokens_q) - 1)
        layers = self.weights(causal)
        if not 0 <= layer < len(layers):
            raise ValueError(_("layer={layer} is out of range; choose 0..{last}").format(layer=layer,
                                                                                          last=len(layers) - 1))
        n_head = layers[layer].size(0)
        if not 0 <= head < n_head:
            raise ValueError(_("head={head} is out of range: layer {layer} has {n} head(s); choose 0..{last}")
                             .format(head=head, layer=layer, n=n_head, last=n_head - 1))
        w = layers[layer][head]  # (T_q, T_k)
        T_q, T_k = w.shape
        if not -1 <= query < T_q:
            raise ValueError(_("query={query} is out of range; choose -1 (every row) or 0..{last}").format(
                query=query, last=T_q - 1))
        keep = causal_mask(T_q) if causal and T_q == T_k else None
        q = None if query == -1 else query
        where = (_("layer {layer} ({name})").format(layer=layer, name=self._names[layer])
                 if self._names[layer] != f"layer {layer}" else _("layer {layer}").format(layer=layer))
        head_text = _("head {head}").format(head=head) if n_head > 1 else _("the only head")
        title = (_("{where}, {head}, mask on") if causal else _("{where}, {head}, mask off")).format(
            where=where, head=head_text)
        fig = self._view.update(w, query=q, mask=keep, title=title)  # the figure is built once
        self.shown_weights, self.shown_row = w, (None if q is None else w[q])

        label_q = [repr(token_label(t)) for t in self._tokens_q]
        label_k = [repr(token_label(t)) for t in self._tokens_k]
        lines = [title]
        if q is None:
            i, j = divmod(int(torch.argmax(w)), T_k)
            lines.append(_("all {n} queries (each row sums to 1); strongest link: {query} → {key} ({weight:.2f})")
                         .format(n=T_q, query=label_q[i], key=label_k[j], weight=float(w[i, j])))
        else:
            row = w[q]
            j = int(torch.argmax(row))
            lines.append(_("query {query} (position {q}): attends most to {key} (position {j}, {weight:.2f})")
                         .format(query=label_q[q], q=q, key=label_k[j], j=j, weight=float(row[j])))
            if T_k <= 12:
                listed = "  ".join(f"{label_k[k]} {float(row[k]):.2f}" for k in range(T_k))
                lines.append(_("weights: {weights}").format(weights=listed))
            else:  # a long row: the five largest weights say more than a wall of numbers
                top = torch.topk(row, 5).indices.tolist()
                listed = "  ".join(f"{label_k[k]}@{k} {float(row[k]):.2f}" for k in top)
                lines.append(_("largest weights: {weights}").format(weights=listed))
            if keep is not None and q < T_q - 1:
                lines.append(_("mask on: the {n} later token(s) get weight exactly 0").format(n=T_k - 1 - q))
        if causal and keep is not None and q is None:
            lines.append(_("mask on: {n} future weights are exactly 0 (grey)").format(n=int((~keep).sum())))
        if self.mask_note:
            lines.append(f"({self.mask_note})")
        return fig, "\n".join(lines)
