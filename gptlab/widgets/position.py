"""PositionExplorer: what each kind of position code looks like, and how alike two positions are (lesson 08)."""
from __future__ import annotations

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from .._checks import check_choice, check_int
from ..i18n import _
from ..plotting.position import plot_position_state
from ..positional import LearnedPositionalEmbedding, RotaryEmbedding, sinusoidal_encoding
from ._base import Explorer
from ._validate import initial

KINDS = ("sinusoidal", "learned", "rope")


class PositionExplorer(Explorer):
    """The (max_len, d) position codes of one kind, and the similarity of position p's code with
    every other position, drawn against the offset n − p.

    Controls: ``kind`` ("sinusoidal"; "learned", a freshly initialised, untrained
    ``LearnedPositionalEmbedding``; "rope"), ``d`` (even), ``position`` (p). For RoPE the "code"
    of position n is one fixed vector rotated to position n, and the similarity is
    rope(x, p)·rope(x, n) / |x|², the score of a query and a key holding the same content.
    Faint curves repeat the comparison from other positions: where they lie on the bold one, the
    similarity depends only on the offset. After a redraw, ``explorer.codes`` and
    ``explorer.similarity`` (max_len, max_len) hold what is drawn.
    """

    def __init__(self, kind: str = "sinusoidal", d: int = 64, position: int = 10, *, max_len: int = 64,
                 max_d: int = 128, seed: int = 0):
        self.max_len = check_int("max_len", max_len, min_value=2)
        self.max_d = check_int("max_d", max_d, min_value=2)
        self.seed = check_int("seed", seed)
        self._cache: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self.codes: torch.Tensor | None = None
        self.similarity: torch.Tensor | None = None
        controls = {
            "kind": widgets.Dropdown(options=list(KINDS), description=_("kind")),
            "d": widgets.IntSlider(min=2, max=self.max_d, step=2, description="d", continuous_update=False),
            "position": widgets.IntSlider(min=0, max=self.max_len - 1, description=_("position p"),
                                          continuous_update=False),
        }
        initial(controls, kind=kind, d=d, position=position)  # an impossible start raises, never clamps
        self._check_d(d)  # and an odd d says why it must be even
        super().__init__(controls)

    def _check_d(self, d) -> int:
        d = check_int("d", d, min_value=2, max_value=self.max_d)
        if d % 2:
            raise ValueError(_("d={d} must be even: sinusoidal codes and RoPE work on pairs of dimensions; "
                               "use d={lower} or d={higher}").format(d=d, lower=d - 1, higher=d + 1))
        return d

    # --- cached heavy part: the codes and their similarity matrix ------------------------------
    def _codes(self, kind: str, d: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(max_len, d) codes and (max_len, max_len) cosine similarities, computed once per (kind, d)."""
        key = (kind, d)
        if key not in self._cache:
            T = self.max_len
            with torch.random.fork_rng(devices=[]):  # a fixed draw, and the caller's RNG is left alone
                torch.manual_seed(self.seed)
                if kind == "sinusoidal":
                    codes = sinusoidal_encoding(T, d)
                elif kind == "learned":
                    codes = LearnedPositionalEmbedding(T, d).embedding.weight.detach()  # untrained: N(0, 1)
                else:
                    x = torch.randn(d)  # one content vector, the same at every position
                    codes = RotaryEmbedding(d, max_len=T)(x.expand(T, d))  # row n: x rotated to position n
            sim = F.cosine_similarity(codes[:, None, :], codes[None, :, :], dim=-1)  # (T, T)
            self._cache[key] = (codes, sim)
        return self._cache[key]

    # --- the picture --------------------------------------------------------------------------
    def render(self, kind: str, d: int, position: int) -> tuple[Figure, str]:
        kind = check_choice("kind", kind, KINDS)
        d = self._check_d(d)
        p = check_int("position", position, min_value=0, max_value=self.max_len - 1)
        codes, sim = self._codes(kind, d)
        self.codes, self.similarity = codes, sim
        T = self.max_len

        # how far apart the curves drawn from different positions are, at equal offsets
        spread = max((torch.diagonal(sim, offset=o).max() - torch.diagonal(sim, offset=o).min()).item()
                     for o in range(-(T - 2), T - 1))
        far = min(20, max(p, T - 1 - p))  # the distance quoted in the summary
        n_far = p + far if p + far < T else p - far
        names = {"sinusoidal": _("sinusoidal (fixed)"), "learned": _("learned (random init, untrained)"),
                 "rope": _("RoPE (one vector rotated to each position)")}
        short = {"sinusoidal": _("sinusoidal"), "learned": _("learned"), "rope": _("rope")}
        measure = "rope(x, p)·rope(x, n) / |x|²" if kind == "rope" else _("cosine similarity")
        lines = [_("{kind}, d = {d}: {measure} of position {p} with the others").format(
                     kind=names[kind], d=d, measure=measure, p=p),
                 _("similarity falls from {near:.2f} at distance 0 to {far_value:.2f} at distance {far}").format(
                     near=sim[p, p].item(), far_value=sim[p, n_far].item(), far=far)]
        if kind == "learned":
            off_diagonal = sim[~torch.eye(T, dtype=torch.bool)].abs().mean().item()
            lines.append(_("at every distance ≥ 1 it is noise around 0 (mean |similarity| {mean:.2f}): an untrained "
                           "table knows nothing about distance; curves from other positions differ by up to "
                           "{spread:.2f}").format(mean=off_diagonal, spread=spread))
        elif kind == "sinusoidal":
            lines.append(_("depends only on the offset n − p: curves from every position agree to {spread:.1e} and "
                           "are symmetric (distance, not direction)").format(spread=spread))
        else:
            lines.append(_("depends only on the offset n − p: curves from every position agree to {spread:.1e}")
                         .format(spread=spread))
        fig = plot_position_state(
            codes, sim, p, code_title=_("{kind} codes ({T} positions × {d} dims)").format(kind=short[kind], T=T, d=d),
            sim_title=_("{measure} vs offset").format(measure=measure), fig=self.figure)
        return fig, "\n".join(lines)
