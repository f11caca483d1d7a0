"""Every public plotting function names a bad input before matplotlib sees it (issue 11).

Each row: a call with one bad argument, and words the ``ValueError`` (or ``TypeError``, as
``ArgumentTypeError``, which is both) must contain: the parameter's name and what is wrong.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from gptlab import plotting
from gptlab.plotting.attention import AttentionView
from gptlab.plotting.gpt import LiveLossPlot
from gptlab.scaling_laws import ScalingRun
from gptlab.train import History, TrainConfig

NAN, INF = math.nan, math.inf
P = [0.5, 0.3, 0.2]
W = np.full((3, 3), 1 / 3)
TOK = ["a", "b", "c"]
CURVE = {"d": [2, 4, 8], "entropy": [1.0, 0.9, 0.5], "jacobian_norm": [0.3, 0.2, 0.1]}


def _run(**kw):
    fields = dict(label="1L", config=None, n_params=1000, n_params_total=2000, flops_per_token=6000,
                  eval_steps=[0, 10], tokens=[0, 100], val_loss=[4.0, 3.0])
    return ScalingRun(**{**fields, **kw})


def _history(**kw):
    return History(**{**dict(steps=[1, 2, 3], train_loss=[3.0, 2.5, 2.0], eval_steps=[0, 3],
                             val_loss=[3.2, 2.2]), **kw})


BAD = [
    # lm
    ("next: NaN", lambda: plotting.plot_next_token_probs((TOK, [0.5, NAN, 0.5])), "(the probabilities) holds NaN"),
    ("next: negative", lambda: plotting.plot_next_token_probs({"a": -0.1, "b": 1.1}), "negative probability"),
    ("next: above 1", lambda: plotting.plot_next_token_probs((TOK, [3.0, 1.0, 0.0])), "above 1"),
    ("next: empty", lambda: plotting.plot_next_token_probs({}), "probs is empty"),
    ("next: mismatch", lambda: plotting.plot_next_token_probs((TOK, [0.5, 0.5])), "got 3 tokens but 2 probabilities"),
    ("next: 2-D", lambda: plotting.plot_next_token_probs((TOK, W)), "probs (the probabilities) must be a 1-D"),
    ("next: top 0", lambda: plotting.plot_next_token_probs((TOK, P), top=0), "top=0"),
    ("next: a string", lambda: plotting.plot_next_token_probs("abc"), "probs must be a {token: probability} dict"),
    ("next: ax", lambda: plotting.plot_next_token_probs((TOK, P), ax="left"), "ax must be None or a matplotlib Axes"),
    ("before/after: inf", lambda: plotting.plot_sampling_before_after(TOK, P, [INF, 0, 0]), "after holds inf"),
    ("before/after: lengths", lambda: plotting.plot_sampling_before_after(TOK, P, [1.0, 0.0]), "after (2)"),
    ("ppl vs n: lengths", lambda: plotting.plot_perplexity_vs_n([1, 2, 3], [5, 4, 3], [6, 5]),
     "val_ppl has 2; they must have the same length"),
    ("ppl vs n: NaN", lambda: plotting.plot_perplexity_vs_n([1, 2], [5, NAN], [6, 5]), "train_ppl holds NaN"),
    ("ppl vs n: zero", lambda: plotting.plot_perplexity_vs_n([1, 2], [5, 0], [6, 5]), "train_ppl must be above 0"),
    ("ppl vs n: float n", lambda: plotting.plot_perplexity_vs_n([1.5, 2], [5, 4], [6, 5]), "ns[0]=1.5"),
    ("coverage: above 1", lambda: plotting.plot_coverage_vs_n([1, 2], [0.5, 1.5]), "coverage must be at most 1"),
    ("coverage: sentence", lambda: plotting.plot_coverage_vs_n([1, 2], [0.5, 0.4], sentence_coverage=NAN),
     "sentence_coverage=nan must be a finite number"),
    ("entropy vs T: lengths", lambda: plotting.plot_entropy_vs_temperature([0.5, 1.0], [1.0]), "entropies has 1"),
    ("entropy vs T: negative", lambda: plotting.plot_entropy_vs_temperature([0.5, 1.0], [1.0, -1.0]),
     "entropies must be at least 0"),
    ("decoding: above 1", lambda: plotting.plot_decoding_measures({"greedy": 2.0}, {"greedy": 0.1}),
     "repeated must be at most 1"),
    ("decoding: a list", lambda: plotting.plot_decoding_measures([0.1], {"greedy": 0.1}), "repeated must be a dict"),
    ("lm training: NaN", lambda: plotting.plot_lm_training([3.0, NAN, 2.0]), "losses holds NaN (first at index 1)"),
    ("lm training: baseline 0", lambda: plotting.plot_lm_training([3.0, 2.0], baselines={"x": 0}),
     "baselines must be above 0"),
    ("lm training: empty", lambda: plotting.plot_lm_training([]), "losses is empty"),
    ("bigram: key", lambda: plotting.plot_bigram_counts({"ab": 2}), "every key must be a pair"),
    ("bigram: negative", lambda: plotting.plot_bigram_counts({("a", "b"): -2}), "counts must be at least 0"),
    ("chain rule: NaN", lambda: plotting.plot_chain_rule(["a", "b"], [0.5, NAN]), "factors holds NaN"),
    ("ppl bars: inf", lambda: plotting.plot_perplexity_bars({"a": INF}), "perplexities holds inf"),
    ("ppl bars: text", lambda: plotting.plot_perplexity_bars({"a": "high"}), "perplexities must be numbers"),
    # attention
    ("attention: NaN", lambda: plotting.plot_attention([[NAN, 1.0], [0.5, 0.5]], ["a", "b"]),
     "weights holds NaN (first at index (0, 0))"),
    ("attention: negative", lambda: plotting.plot_attention([[-1.0, 2.0], [0.5, 0.5]], ["a", "b"]),
     "weights holds a negative weight"),
    ("attention: 3-D", lambda: plotting.plot_attention(np.ones((2, 2, 2)), ["a", "b"]), "weights must be a (T_q, T_k)"),
    ("attention: tokens", lambda: plotting.plot_attention(W, ["a", "b"]), "tokens_q has 2 tokens"),
    ("attention: query", lambda: plotting.plot_attention(W, TOK, query=1.5), "query=1.5 is not a row"),
    ("attention: vmax", lambda: plotting.plot_attention(W, TOK, vmax=0), "vmax=0 must be greater than 0"),
    ("heads: ragged", lambda: plotting.plot_attention_heads([W, np.ones((2, 2))], TOK), "every head must cover"),
    ("heads: NaN head", lambda: plotting.plot_attention_heads(np.stack([W, W * NAN]), TOK), "holds NaN"),
    ("heads: ncols", lambda: plotting.plot_attention_heads(np.stack([W, W]), TOK, ncols=0), "ncols=0"),
    ("before/after attention", lambda: plotting.plot_attention_before_after(W, np.ones((2, 2)), TOK),
     "before has shape (3, 3) but after has shape (2, 2)"),
    ("row: negative", lambda: plotting.plot_attention_row([0.5, -0.5], ["a", "b"]), "row holds a negative weight"),
    ("row: mask", lambda: plotting.plot_attention_row([0.5, 0.5], ["a", "b"], mask_row=[True]), "mask_row has shape"),
    ("query view: NaN", lambda: plotting.plot_attention_query(W * NAN, TOK), "weights holds NaN"),
    ("view: tokens", lambda: AttentionView("abc"), "tokens_q must be a non-empty list"),
    ("view: shape", lambda: AttentionView(TOK).update(np.ones((2, 2)) / 2), "this view was built for (3, 3)"),
    ("change: lengths", lambda: plotting.plot_change_by_position({"a": [1, 2], "b": [1, 2, 3]}),
     "every entry of changes must be a (T,) vector of the same length"),
    ("change: from", lambda: plotting.plot_change_by_position({"a": [1, 2]}, changed_from=5), "changed_from=5"),
    ("training: lengths", lambda: plotting.plot_attention_training([1, 2, 3], {"acc": [0.5, 0.6]}),
     "curves['acc'] has 2 values but there are 3 steps"),
    ("training: NaN", lambda: plotting.plot_attention_training([1, 2], {"acc": [0.5, NAN]}), "curves['acc'] holds NaN"),
    ("training: list", lambda: plotting.plot_attention_training([1, 2], [[0.5, 0.6]]), "curves must be a dict"),
    ("blend: NaN", lambda: plotting.plot_blend([[0, 1], [1, NAN]], [[0, 1], [1, 0]], np.eye(2), ["a", "b"]),
     "inputs holds NaN"),
    ("blend: shape", lambda: plotting.plot_blend([[0, 1, 2]], [[0, 1, 2]], np.eye(1), ["a"]), "inputs must be (T, 2)"),
    ("blend: fig", lambda: plotting.plot_blend([[0, 1]], [[0, 1]], np.eye(1), ["a"], fig="f"), "fig must be None"),
    ("qkv: NaN", lambda: plotting.plot_qkv_flow(*([np.ones((2, 2))] * 7), np.eye(2) * NAN, np.ones((2, 2))),
     "weights holds NaN"),
    # blocks
    ("layer norm: lengths", lambda: plotting.plot_layer_norm([1, 2, 3], [1, 2]), "x and y must have the same length"),
    ("layer norm: inf", lambda: plotting.plot_layer_norm([1, INF], [1, 2]), "x holds inf"),
    ("loss curves: NaN", lambda: plotting.plot_loss_curves({"a": [3.0, NAN]}), "curves['a'] holds NaN"),
    ("loss curves: smooth", lambda: plotting.plot_loss_curves({"a": [3.0, 2.0]}, smooth=1.0), "smooth=1.0 must be in"),
    ("loss curves: ylim", lambda: plotting.plot_loss_curves({"a": [3.0, 2.0]}, ylim=(4, 2)), "bottom < top"),
    ("loss curves: empty", lambda: plotting.plot_loss_curves({}), "curves must be a non-empty dict"),
    ("grad norms: zero", lambda: plotting.plot_grad_norms_per_layer({"a": [1.0, 0.0]}), "positive and finite"),
    ("decode speed: keys", lambda: plotting.plot_decode_speed({"MHA": 10}, {"GQA": 5}), "the same variants"),
    ("decode speed: NaN", lambda: plotting.plot_decode_speed({"MHA": NAN}, {"MHA": 5}), "tokens_per_second holds NaN"),
    ("wiring", lambda: plotting.plot_block_wiring(("pre", "middle")), "norms must be a non-empty sequence"),
    # dot-product scaling
    ("qk variance: lengths", lambda: plotting.plot_qk_variance([2, 4, 8], [2, 4]), "unscaled has 2"),
    ("qk variance: zero d", lambda: plotting.plot_qk_variance([0, 4], [2, 4]), "dims must be above 0"),
    ("jacobians: shape", lambda: plotting.plot_softmax_jacobians([P], [np.eye(2)], ["a"]),
     "the Jacobian of 3 weights is (3, 3)"),
    ("jacobians: lengths", lambda: plotting.plot_softmax_jacobians([P, P], [np.eye(3)], ["a"]), "the same length"),
    ("saturation: keys", lambda: plotting.plot_saturation({"d": [2]}, CURVE, T=4), "unscaled lacks 'entropy'"),
    ("saturation: T", lambda: plotting.plot_saturation(CURVE, CURVE, T=0), "T=0"),
    ("scaling state: NaN", lambda: plotting.plot_scaling_state([0.5, NAN], 4, True, 0.5, 0.1, CURVE, CURVE),
     "weights holds NaN"),
    ("scaling state: scaled", lambda: plotting.plot_scaling_state(P, 4, "yes", 0.5, 0.1, CURVE, CURVE),
     "scaled='yes' must be True or False"),
    ("scaled vs unscaled: NaN", lambda: plotting.plot_scaled_vs_unscaled({"a": [1.0, NAN]}), "losses['a'] holds NaN"),
    ("scaled vs unscaled: acc", lambda: plotting.plot_scaled_vs_unscaled({"a": [1.0]}, {"a": [2.0]}),
     "accuracies['a'] must be at most 1"),
    # gpt
    ("parameter counts: text", lambda: plotting.plot_parameter_counts({"a": "many"}), "counts must be numbers"),
    ("parameter counts: negative", lambda: plotting.plot_parameter_counts({"a": -1}), "counts must be at least 0"),
    ("scaling curve: not runs", lambda: plotting.plot_scaling_curve([1, 2]), "runs[0] is a int, not a ScalingRun"),
    ("scaling curve: unfinished", lambda: plotting.plot_scaling_curve([_run(val_loss=[])]), "no validation loss"),
    ("scaling curve: lengths", lambda: plotting.plot_scaling_curve([_run(val_loss=[4.0, 3.0, 2.0])]),
     "runs[0].val_loss has 3"),
    ("scaling curve: fit", lambda: plotting.plot_scaling_curve([_run()], fit=(1.0,)), "fit=(1.0,) must be the pair"),
    ("live loss: dpi", lambda: LiveLossPlot(show=False, dpi=0), "dpi=0"),
    # moe
    ("utilisation: NaN", lambda: plotting.plot_expert_utilisation([1, NAN]), "tokens_per_expert holds NaN"),
    ("utilisation: negative", lambda: plotting.plot_expert_utilisation([1, -1]), "must be at least 0"),
    ("routing: ids", lambda: plotting.plot_routing(["a"], [[0.5]], [[1.0]]), "experts must hold expert ids"),
    ("routing: gates", lambda: plotting.plot_routing(["a"], [[0]], [[1.5]]), "gates holds 1.5, above 1"),
    ("routing: n_experts", lambda: plotting.plot_routing(["a"], [[3]], [[1.0]], n_experts=2), "n_experts=2"),
    ("routing: per_row", lambda: plotting.plot_routing(["a"], [[0]], [[1.0]], per_row=0), "per_row=0"),
    ("routing: tokens", lambda: plotting.plot_routing("ab", [[0], [1]], [[1.0], [1.0]]), "tokens must be a list"),
    ("router state: counts", lambda: plotting.plot_router_state(["a"], [[0]], [[1.0]], [1, NAN], 2),
     "tokens_per_expert holds NaN"),
    # position
    ("codes: NaN", lambda: plotting.plot_position_codes([[0.0, NAN]]), "codes holds NaN"),
    ("codes: position", lambda: plotting.plot_position_codes(np.zeros((4, 2)), position=9), "position=9"),
    ("similarity: position", lambda: plotting.plot_similarity_vs_offset(np.eye(4), 4), "position=4 must be at most 3"),
    ("similarity: float", lambda: plotting.plot_similarity_vs_offset(np.eye(4), 1.5), "position=1.5 must be a whole"),
    ("similarity: refs", lambda: plotting.plot_similarity_vs_offset(np.eye(4), 1, references=[7]),
     "references[0]=7"),
    ("position state: shape", lambda: plotting.plot_position_state(np.zeros((4, 2)), np.eye(3), 0, "", ""),
     "similarity must be (4, 4)"),
    ("score matrix: 1-D", lambda: plotting.plot_score_matrix([1.0, 2.0]), "scores must be a (T, T) matrix"),
    ("position accuracy: above 1", lambda: plotting.plot_position_accuracy({"a": [0.5, 2.0]}),
     "accuracies['a'] must be at most 1"),
    # quantization (lesson 13)
    ("bits vs loss: NaN", lambda: plotting.plot_bits_vs_loss({"rtn": {8: 1.6, 4: NAN}}),
     "curves['rtn'] (the losses) holds NaN"),
    ("bits vs loss: bits", lambda: plotting.plot_bits_vs_loss({"rtn": [1.6]}), "curves['rtn'] must be a dict"),
    ("column scales: 1-D", lambda: plotting.plot_column_scales([1.0, 2.0]), "weight must be a 2-D"),
    ("memory fit: zero", lambda: plotting.plot_memory_fit(n_params=(0, 7e9)), "n_params must be above 0"),
    ("gpus needed: binding", lambda: plotting.plot_gpus_needed({"memory": 2}, "speed"), "binding='speed'"),
    ("gpus needed: memory", lambda: plotting.plot_gpus_needed({"memory": 2}, "memory", {"weights": 1}),
     "memory lacks 'kv_cache'"),
    ("batching: lengths", lambda: plotting.plot_batching([1, 2, 4], [10, 20], [5, 5, 5]), "tokens_per_s has 2"),
    ("batching: zero", lambda: plotting.plot_batching([0, 2], [10, 20], [5, 5]), "batches must be above 0"),
    # training
    ("history: lengths", lambda: plotting.plot_history(_history(train_loss=[3.0, 2.0])),
     "history.steps has 3, history.train_loss has 2"),
    ("history: eval lengths", lambda: plotting.plot_history(_history(val_loss=[3.0])), "history.val_loss has 1"),
    ("history: type", lambda: plotting.plot_history([1, 2, 3]), "history must be trainer.history"),
    ("history: text loss", lambda: plotting.plot_history(_history(train_loss=["a", "b", "c"])),
     "history.train_loss must be numbers"),
    ("lr schedule: type", lambda: plotting.plot_lr_schedule({"max_steps": 10}), "config must be a TrainConfig"),
]


@pytest.mark.parametrize("call, message", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_a_bad_input_is_named_before_matplotlib_sees_it(call, message):
    with pytest.raises(ValueError) as caught:  # ArgumentTypeError (a TypeError) is a ValueError too
        call()
    assert message in str(caught.value)


@pytest.mark.parametrize("call", [
    lambda: plotting.plot_attention(W, TOK, ax=5),
    lambda: plotting.plot_next_token_probs("abc"),
    lambda: plotting.plot_history([1, 2, 3]),
    lambda: plotting.plot_perplexity_bars({"a": "high"}),
])
def test_a_wrong_type_is_a_type_error(call):
    with pytest.raises(TypeError):
        call()


def test_what_the_lessons_draw_still_draws():
    """Values at the edges of what is allowed: infinite perplexity, -0 weights, a NaN step in a history,
    torch tensors, ylim with an open end, a long learning-rate schedule."""
    figures = [
        plotting.plot_perplexity_vs_n([1, 2], [5.0, INF], [6.0, INF]),
        plotting.plot_attention(torch.softmax(torch.randn(3, 3), dim=-1), TOK),
        plotting.plot_next_token_probs({"a": 1.0, "b": 0.0}),
        plotting.plot_history(_history(train_loss=[3.0, NAN, 2.0])),
        plotting.plot_loss_curves({"a": torch.tensor([3.0, 2.0, 1.5])}, ylim=(None, 4.0)),
        plotting.plot_routing(["a", "b"], torch.tensor([[0], [1]]), torch.tensor([[1.0], [0.6]])),
        plotting.plot_scaling_curve([_run(val_loss=[NAN, 3.0])]),
    ]
    assert all(isinstance(f, Figure) for f in figures)


def test_a_long_learning_rate_schedule_is_drawn_from_a_few_points():
    """10^9 steps used to build a list of 10^9 learning rates (a hang); now ~2,000 evenly spread."""
    config = TrainConfig(batch_size=4, block_size=8, max_steps=1_000_000_000, warmup_steps=1000)
    fig = plotting.plot_lr_schedule(config)
    steps = fig.axes[0].lines[0].get_xdata()
    assert len(steps) <= 2002 and steps[0] == 0 and steps[-1] == config.max_steps and 1000 in steps


@pytest.mark.parametrize("call, fragment", [
    (lambda: plotting.figure_to_png(None), "fig=None must be a matplotlib Figure"),
    (lambda: plotting.figure_to_png(plotting.new_figure()[0], dpi=0), "dpi=0"),
    (lambda: plotting.new_figure(nrows=0), "nrows=0 must be at least 1"),
    (lambda: plotting.new_figure(figsize=(float("nan"), 1)), "figsize="),
    (lambda: plotting.new_figure(figsize=3), "figsize=3"),
])
def test_figure_helpers_name_the_parameter(call, fragment):
    with pytest.raises(ValueError) as info:
        call()
    assert fragment in str(info.value)
