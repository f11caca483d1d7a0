"""ScalingExplorer: drag d and watch an unscaled softmax saturate (lesson 05)."""
from __future__ import annotations

import math

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from .._checks import check_int
from ..dot_product_scaling import AttentionSharpness, attention_sharpness, saturation_curve
from ..i18n import _
from ..plotting.dot_product_scaling import plot_scaling_state
from ._base import Explorer
from ._validate import initial

DEFAULT_DIMS = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ScalingExplorer(Explorer):
    """One random query against T random keys, q, k ~ N(0, 1), with or without the 1/sqrt(d) factor.

    Controls: ``d`` (the dimension, log-spaced choices), ``scaled`` (divide q·k by sqrt(d)),
    ``T`` (how many keys). The draw is fixed by ``seed``: for a given d the same query and keys
    come back, whatever T (the first T of ``T_max`` keys) and whether scaled or not. The picture:
    the weights as bars, and where this draw sits on the median entropy and gradient-size curves.
    After a redraw, ``explorer.stats`` holds the numbers (a ``gptlab.dot_product_scaling.AttentionSharpness``).
    """

    def __init__(self, d: int = 64, scaled: bool = True, T: int = 8, *, dims=DEFAULT_DIMS, T_max: int = 32,
                 seed: int = 0, n_samples: int = 256):
        if isinstance(dims, (int, str)) or len(dims) == 0:
            raise ValueError(f"dims must be a non-empty list of dimensions such as {list(DEFAULT_DIMS)}, got {dims!r}")
        self.dims = sorted({check_int(f"dims[{i}]", v, min_value=1) for i, v in enumerate(dims)})
        self.T_max = check_int("T_max", T_max, min_value=2)
        self.seed = check_int("seed", seed)
        self.n_samples = check_int("n_samples", n_samples, min_value=1)
        self._draws: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self._curves: dict[int, tuple[dict, dict]] = {}
        self.stats: AttentionSharpness | None = None
        controls = {
            "d": widgets.SelectionSlider(options=self.dims, description="d", continuous_update=False),
            "scaled": widgets.Checkbox(description=_("divide by √d")),
            "T": widgets.IntSlider(min=2, max=self.T_max, description=_("T (keys)"), continuous_update=False),
        }
        initial(controls, d=d, scaled=scaled, T=T)  # an impossible start raises, never clamps
        super().__init__(controls)

    # --- cached heavy parts -------------------------------------------------------------------
    def _draw(self, d: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed query (d,) and T_max keys (T_max, d) for this d."""
        if d not in self._draws:
            g = torch.Generator().manual_seed(self.seed)
            self._draws[d] = (torch.randn(d, generator=g), torch.randn(self.T_max, d, generator=g))
        return self._draws[d]

    def _curve(self, T: int) -> tuple[dict, dict]:
        """Median saturation against d (unscaled, scaled) for T keys."""
        if T not in self._curves:
            self._curves[T] = tuple(saturation_curve(self.dims, T=T, scaled=s, n_samples=self.n_samples,
                                                     seed=self.seed) for s in (False, True))
        return self._curves[T]

    # --- the picture --------------------------------------------------------------------------
    def render(self, d: int, scaled: bool, T: int) -> tuple[Figure, str]:
        d = check_int("d", d, min_value=1)
        T = check_int("T", T, min_value=2, max_value=self.T_max)
        q, keys = self._draw(d)
        stats = attention_sharpness(q, keys[:T], scaled=scaled)
        other = attention_sharpness(q, keys[:T], scaled=not scaled)
        self.stats = stats
        unscaled_curve, scaled_curve = self._curve(T)
        fig = plot_scaling_state(stats.weights, d, scaled, stats.entropy.item(), stats.jacobian_norm.item(),
                                 unscaled_curve, scaled_curve, fig=self.figure, T_max=self.T_max)
        h_max = math.log(T)
        mode = _("q·k / √d (scaled)") if scaled else _("q·k (unscaled)")
        summary = "\n".join([
            _("d = {d}, T = {T} keys, scores = {mode}").format(d=d, T=T, mode=mode),
            _("score spread: std {std:.2f} (theory: {theory})").format(
                std=stats.scores.std().item(), theory="1" if scaled else f"√d = {math.sqrt(d):.1f}"),
            _("entropy {h:.3f} nats of a possible log {T} = {h_max:.3f} ({share:.0f}%)").format(
                h=stats.entropy.item(), T=T, h_max=h_max, share=100 * stats.entropy.item() / h_max),
            _("max weight {w:.3f} (uniform: {u:.3f})").format(w=stats.max_weight.item(), u=1 / T),
            _("gradient through softmax |diag(p) − ppᵀ| = {g:.2g} ({other_mode}: {other:.2g}); "
              "reaching q |∂p/∂q| = {q:.2g}").format(
                g=stats.jacobian_norm.item(), other_mode=_("unscaled") if scaled else _("scaled"),
                other=other.jacobian_norm.item(), q=stats.query_grad_norm.item()),
        ])
        return fig, summary
