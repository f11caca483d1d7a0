"""Issue 11 for the tensor and model modules: every bad input gets a clear error.

Table-driven: each row is (what is called, the exception it must raise, a regex the message must
match). The regex names the parameter and what is allowed, so a bare torch traceback (a dtype
RuntimeError, "mat1 and mat2 shapes cannot be multiplied", an AttributeError on None) fails the
row. Then one test per class of issue 11 that these modules had.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from gptlab import attention as A
from gptlab import block as Bk
from gptlab import diagnostics as D
from gptlab import dot_product_scaling as S
from gptlab import moe as M
from gptlab import positional as P
from gptlab._checks import ArgumentTypeError
from gptlab.model import GPT, GPTConfig

torch.manual_seed(0)
X = torch.randn(2, 5, 8)
X64 = X.double()
BOOL55 = torch.ones(5, 5, dtype=torch.bool)
SMALL = dict(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8)


def _mha(**kw):
    return A.MultiHeadAttention(8, 2, **kw)


def _explicit_mha():
    m = A.MultiHeadAttention(8, 2)
    m.fused = False
    return m


def _kv_append(k_new, v_new):
    cache = A.KVCache()
    cache.update(torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4))
    return cache.update(k_new, v_new)


_GPT = None


def gpt():
    global _GPT
    if _GPT is None:
        torch.manual_seed(0)
        _GPT = GPT(GPTConfig(**SMALL))
    return _GPT


IDS = torch.randint(0, 10, (2, 5))

ATTENTION = [
    ("average x None", lambda: A.average_attention(None), TypeError, r"x must be a torch\.Tensor"),
    ("average x long", lambda: A.average_attention(torch.ones(3, 4, dtype=torch.long)), TypeError,
     r"x must hold floating-point.*int64.*x\.float\(\)"),
    ("average causal str", lambda: A.average_attention(X, causal="yes"), TypeError,
     r"causal='yes' must be True or False"),
    ("average x 1-D", lambda: A.average_attention(torch.randn(4)), ValueError, r"x must be a tensor.*at least 2"),
    ("dot product x list", lambda: A.dot_product_attention([[1.0, 2.0]]), TypeError,
     r"x must be a torch\.Tensor.*list"),
    ("dot product x NaN", lambda: A.dot_product_attention(torch.full((3, 4), float("nan"))), ValueError,
     r"x contains 12 NaN"),
    ("causal_mask T=-1", lambda: A.causal_mask(-1), ValueError, r"T=-1 must be at least 0"),
    ("causal_mask T=2.5", lambda: A.causal_mask(2.5), TypeError, r"T=2\.5 must be a whole number"),
    ("causal_mask device gpu", lambda: A.causal_mask(3, device="gpu"), ValueError,
     r"device='gpu' is not a device.*'cuda'"),
    ("weights float64 q, float32 k", lambda: A.attention_weights(X64, X), TypeError,
     r"q, k must share one dtype, got q float64, k float32"),
    ("sdpa float64 v", lambda: A.scaled_dot_product_attention(X, X, X64), TypeError,
     r"q, k, v must share one dtype.*v = v\.to\(q\.dtype\)"),
    ("weights long q", lambda: A.attention_weights(torch.ones(5, 8, dtype=torch.long), X[0]), TypeError,
     r"q must hold floating-point"),
    ("weights mask shape", lambda: A.attention_weights(X, X, mask=torch.ones(4, 4, dtype=torch.bool)), ValueError,
     r"mask has shape \(4, 4\).*\(5, 5\)"),
    ("weights mask float", lambda: A.attention_weights(X, X, mask=torch.ones(5, 5)), ValueError,
     r"mask must be a bool tensor.*mask\.bool\(\)"),
    ("weights mask all False", lambda: A.attention_weights(X, X, mask=~BOOL55), ValueError, r"all False.*NaN"),
    ("weights scale -1", lambda: A.attention_weights(X, X, scale=-1), ValueError, r"scale=-1 must be greater than 0"),
    ("weights scale NaN", lambda: A.attention_weights(X, X, scale=float("nan")), ValueError,
     r"scale=nan must be a finite number"),
    ("weights causal str", lambda: A.attention_weights(X, X, causal="no"), TypeError,
     r"causal='no' must be True or False"),
    ("weights q k batch", lambda: A.attention_weights(X, torch.randn(3, 5, 8)), ValueError, r"leading \(batch, head\)"),
    ("sdpa v None", lambda: A.scaled_dot_product_attention(X, X, None), TypeError, r"v must be a torch\.Tensor"),
    ("sdpa q inf", lambda: A.scaled_dot_product_attention(torch.full((5, 8), float("inf")), X[0], X[0]), ValueError,
     r"q contains 0 NaN and 40 infinite"),
    ("SelfAttention d_model 0", lambda: A.SelfAttention(0), ValueError, r"d_model=0 must be at least 1"),
    ("SelfAttention bias str", lambda: A.SelfAttention(8, bias="no"), TypeError, r"bias='no' must be True or False"),
    ("SelfAttention scaled None", lambda: A.SelfAttention(8, scaled=None), TypeError,
     r"scaled=None must be True or False"),
    ("SelfAttention float64 x", lambda: A.SelfAttention(8)(X64), TypeError,
     r"x has dtype torch\.float64, but this SelfAttention's weights are torch\.float32"),
    ("SelfAttention context batch", lambda: A.SelfAttention(8)(X, context=torch.randn(3, 5, 8)), ValueError,
     r"x \(2, 5, 8\) and context \(3, 5, 8\) must share their leading"),
    ("KVCache k None", lambda: A.KVCache().update(None, None), TypeError, r"k must be a torch\.Tensor"),
    ("KVCache k 3-D", lambda: A.KVCache().update(torch.randn(2, 3, 4), torch.randn(2, 3, 4)), ValueError,
     r"k must be a tensor of shape \(B, n_kv_head, T_new, head_dim\) \(4 dimensions\)"),
    ("KVCache k v shapes", lambda: A.KVCache().update(torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4)), ValueError,
     r"k and v must have one shape"),
    ("KVCache dtype change", lambda: _kv_append(torch.randn(1, 2, 1, 4).double(), torch.randn(1, 2, 1, 4).double()),
     TypeError, r"cache holds torch\.float32 keys but the new keys are torch\.float64"),
    ("kv_cache_bytes dtype str", lambda: A.kv_cache_bytes(1, 1, 4, 3, dtype="float32"), TypeError,
     r"dtype='float32' must be a torch\.dtype"),
    ("decode_step_bytes T -2", lambda: A.decode_step_bytes(1, 8, 2, 1, -2), ValueError, r"T=-2 must be at least 0"),
    ("decode_step_bytes B 0", lambda: A.decode_step_bytes(1, 8, 2, 1, 2, B=0), ValueError, r"B=0 must be at least 1"),
    ("split_heads n_head 3", lambda: A.split_heads(X, 3), ValueError, r"C=8 is not divisible by n_head=3.*1, 2, 4, 8"),
    ("split_heads 2-D", lambda: A.split_heads(X[0], 2), ValueError, r"x must be a tensor of shape \(B, T, C\)"),
    ("decode_step_attention None", lambda: A.decode_step_attention(None, None, None), TypeError,
     r"q must be a torch\.Tensor"),
    ("decode_step_attention dtypes", lambda: A.decode_step_attention(
        torch.randn(1, 2, 1, 4).double(), torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)), TypeError,
     r"q, k_cache, v_cache must share one dtype"),
    ("MHA n_kv_head 3", lambda: _mha(n_kv_head=3), ValueError, r"n_head=2 is not divisible by n_kv_head=3.*1, 2"),
    ("MHA bias str", lambda: _mha(bias="no"), TypeError, r"bias='no' must be True or False"),
    ("MHA causal None", lambda: _mha(causal=None), TypeError, r"causal=None must be True or False"),
    ("MHA rope head_dim", lambda: _mha(rope=P.RotaryEmbedding(8)), ValueError, r"RotaryEmbedding\(4\)"),
    ("MHA x long", lambda: _mha()(torch.ones(1, 5, 8, dtype=torch.long)), TypeError,
     r"x has dtype torch\.int64, but this MultiHeadAttention's weights are torch\.float32"),
    ("MHA x float64", lambda: _mha()(X64), TypeError, r"x has dtype torch\.float64.*x\.to\(torch\.float32\)"),
    ("MHA x None", lambda: _mha()(None), TypeError, r"x must be a torch\.Tensor of shape \(B, T, d_model\)"),
    ("MHA cache list", lambda: _mha()(X, cache=[A.KVCache()]), ValueError, r"cache must be a KVCache"),
    ("MHA mask shape", lambda: _mha()(X, mask=torch.ones(4, 5, dtype=torch.bool)), ValueError,
     r"mask has shape \(4, 5\)"),
    ("MHA explicit mask shape", lambda: _explicit_mha()(X, mask=torch.ones(4, 5, dtype=torch.bool)), ValueError,
     r"mask has shape \(4, 5\)"),
    ("record_attention None", lambda: A.record_attention(None).__enter__(), TypeError,
     r"model=None must be a torch\.nn\.Module"),
]

POSITIONAL = [
    ("sinusoidal d odd", lambda: P.sinusoidal_encoding(4, 3), ValueError, r"d=3 must be even"),
    ("sinusoidal T None", lambda: P.sinusoidal_encoding(None, 4), TypeError, r"T=None must be a whole number"),
    ("Sinusoidal x None", lambda: P.SinusoidalPositionalEncoding(8, 8)(None), TypeError, r"x must be a torch\.Tensor"),
    ("Sinusoidal x 1-D", lambda: P.SinusoidalPositionalEncoding(8, 8)(torch.randn(8)), ValueError,
     r"x must be a tensor.*at least 2 dimensions"),
    ("Sinusoidal x long", lambda: P.SinusoidalPositionalEncoding(8, 8)(torch.ones(1, 3, 8, dtype=torch.long)),
     TypeError, r"x must hold floating-point"),
    ("Sinusoidal too long", lambda: P.SinusoidalPositionalEncoding(8, 8)(torch.randn(1, 9, 8)), ValueError,
     r"positions 0\.\.8 \(T=9\) do not fit in max_len=8"),
    ("Sinusoidal offset str", lambda: P.SinusoidalPositionalEncoding(8, 8)(torch.randn(1, 3, 8), offset="2"),
     TypeError, r"offset='2' must be a whole number"),
    ("Learned offset float", lambda: P.LearnedPositionalEmbedding(8, 8)(torch.randn(1, 3, 8), offset=1.0), TypeError,
     r"offset=1\.0 must be a whole number"),
    ("Learned x ids", lambda: P.LearnedPositionalEmbedding(8, 8)(torch.ones(1, 3, 8, dtype=torch.long)), TypeError,
     r"x must hold floating-point"),
    ("Learned offset -1", lambda: P.LearnedPositionalEmbedding(8, 8)(torch.randn(1, 3, 8), offset=-1), ValueError,
     r"offset=-1 must be at least 0"),
    ("rotate_half odd", lambda: P.rotate_half(torch.randn(3, 5)), ValueError, r"last dimension 5, which must be even"),
    ("rotate_half None", lambda: P.rotate_half(None), TypeError, r"x must be a torch\.Tensor"),
    ("RoPE base 1", lambda: P.RotaryEmbedding(4, base=1), ValueError, r"base=1 must be greater than 1"),
    ("RoPE base str", lambda: P.RotaryEmbedding(4, base="1e4"), TypeError, r"base='1e4' must be a number"),
    ("RoPE x long", lambda: P.RotaryEmbedding(4)(torch.ones(1, 3, 4, dtype=torch.long)), TypeError,
     r"x must hold floating-point"),
    ("RoPE head_dim", lambda: P.RotaryEmbedding(4)(torch.randn(1, 3, 6)), ValueError, r"built for head_dim=4"),
]

BLOCK = [
    ("MLP activation relu", lambda: Bk.MLP(8, activation="relu"), ValueError,
     r"activation='relu'.*'gelu', 'gelu_tanh'"),
    ("MLP bias str", lambda: Bk.MLP(8, bias="no"), TypeError, r"bias='no' must be True or False"),
    ("MLP x wrong width", lambda: Bk.MLP(8)(torch.randn(2, 3)), ValueError, r"last dimension 3.*d_model=8"),
    ("MLP x None", lambda: Bk.MLP(8)(None), TypeError, r"x must be a torch\.Tensor"),
    ("MLP x long", lambda: Bk.MLP(8)(torch.ones(2, 8, dtype=torch.long)), TypeError, r"x has dtype torch\.int64.*MLP"),
    ("Block norm mid", lambda: Bk.Block(8, 2, norm="mid"), ValueError, r"norm='mid'.*'pre', 'post'"),
    ("Block n_head 3", lambda: Bk.Block(8, 3), ValueError, r"n_head=3.*1, 2, 4, 8"),
    ("Block bias str", lambda: Bk.Block(8, 2, bias="yes"), TypeError, r"bias='yes' must be True or False"),
    ("Block x None", lambda: Bk.Block(8, 2)(None), TypeError, r"x must be a torch\.Tensor of shape \(B, T, d_model\)"),
    ("Block x list", lambda: Bk.Block(8, 2)([[[0.0] * 8]]), TypeError, r"x must be a torch\.Tensor.*torch\.tensor"),
    ("Block x 2-D", lambda: Bk.Block(8, 2)(X[0]), ValueError, r"x must have shape \(B, T, d_model\).*unsqueeze"),
    ("Block x float64", lambda: Bk.Block(8, 2)(X64), TypeError, r"x has dtype torch\.float64, but this Block's"),
    ("Block mlp wrong output", lambda: Bk.Block(8, 2, mlp=torch.nn.Linear(8, 4))(X), ValueError,
     r"mlp \(Linear\) returned \(2, 5, 4\).*\(2, 5, 8\)"),
]


def _cfg(**kw):
    return lambda: GPTConfig(**{**SMALL, **kw})


MODEL = [
    ("config n_head 3", _cfg(n_head=3), ValueError, r"n_embd=8 is not divisible by n_head=3.*1, 2, 4, 8"),
    ("config dropout str", _cfg(dropout="0.1"), TypeError, r"dropout='0\.1' must be a number"),
    ("config norm", _cfg(norm="mid"), ValueError, r"norm='mid'.*'pre', 'post'"),
    ("config pos", _cfg(pos="abs"), ValueError, r"pos='abs'.*'learned'"),
    ("config activation", _cfg(activation="relu"), ValueError, r"activation='relu'.*'gelu'"),
    ("config top_k > n_experts", _cfg(n_experts=2, top_k=3), ValueError, r"top_k=3 must be at most 2"),
    ("config bias int", _cfg(bias=1), ValueError, r"bias=1 must be True or False"),
    ("preset None", lambda: GPTConfig.preset(None, vocab_size=10, block_size=8), TypeError,
     r"name=None must be a preset name.*'gpt-nano'"),
    ("preset field", lambda: GPTConfig.preset("gpt-nano", vocab_size=10, block_size=8, n_layers=3), ValueError,
     r"no field n_layers"),
    ("GPT config dict", lambda: GPT(dict(SMALL)), ValueError, r"config must be a GPTConfig"),
    ("forward 1-D ids", lambda: gpt()(torch.tensor([1, 2, 3])), ValueError, r"\(B, T\) tensor of token ids.*unsqueeze"),
    ("forward float ids", lambda: gpt()(torch.tensor([[1.0, 2.0]])), ValueError, r"integer token ids.*float32"),
    ("forward id >= vocab", lambda: gpt()(torch.tensor([[1, 10]])), ValueError, r"token id 10.*0\.\.9"),
    ("forward too long", lambda: gpt()(torch.randint(0, 10, (1, 9))), ValueError, r"T=9 tokens exceed block_size=8"),
    ("forward float targets", lambda: gpt()(IDS, IDS.float() + 0.7), TypeError,
     r"targets must hold integer token ids.*float32"),
    ("forward bool targets", lambda: gpt()(IDS, IDS > 3), TypeError, r"targets must hold integer token ids.*bool"),
    ("forward targets shape", lambda: gpt()(IDS, IDS[:, :4]), ValueError, r"targets must have the same shape"),
    ("forward caches not a list", lambda: gpt()(IDS, caches=A.KVCache()), ValueError, r"caches must be a list of 1"),
    ("generate temperature -1, no steps", lambda: gpt().generate(IDS, 0, temperature=-1), ValueError,
     r"temperature=-1 must be at least 0"),
    ("generate top_p 1.5", lambda: gpt().generate(IDS, 2, top_p=1.5), ValueError, r"top_p=1\.5 must be at most 1"),
    ("generate use_cache str", lambda: gpt().generate(IDS, 2, use_cache="no"), TypeError,
     r"use_cache='no' must be True or False"),
    ("num_parameters str", lambda: gpt().num_parameters("yes"), TypeError,
     r"non_embedding='yes' must be True or False"),
    ("flops T > block_size", lambda: gpt().estimate_flops_per_token(100), ValueError, r"T=100 must be at most 8"),
]


PROBS = torch.softmax(torch.randn(6, 4), dim=-1)
CHOSEN = PROBS.topk(2, dim=-1).indices

MOE = [
    ("MoE top_k > n_experts", lambda: M.MoE(8, 4, top_k=5), ValueError, r"top_k=5 must be between 1 and n_experts=4"),
    ("MoE n_experts 0", lambda: M.MoE(8, 0), ValueError, r"n_experts=0 must be at least 1"),
    ("MoE capacity 0", lambda: M.MoE(8, 4, capacity_factor=0), ValueError, r"capacity_factor=0 must be greater than 0"),
    ("MoE router_noise -1", lambda: M.MoE(8, 4, router_noise=-1), ValueError, r"router_noise=-1 must be at least 0"),
    ("MoE bias str", lambda: M.MoE(8, 4, bias="no"), TypeError, r"bias='no' must be True or False"),
    ("MoE x None", lambda: M.MoE(8, 4)(None), TypeError, r"x must be a torch\.Tensor"),
    ("MoE x width", lambda: M.MoE(8, 4)(torch.randn(2, 5, 6)), ValueError, r"d_model=8.*got \(2, 5, 6\)"),
    ("MoE x float64", lambda: M.MoE(8, 4)(X64), TypeError, r"x has dtype torch\.float64, but this MoE's weights"),
    ("MoE x long", lambda: M.MoE(8, 4)(torch.ones(2, 5, 8, dtype=torch.long)), TypeError, r"x has dtype torch\.int64"),
    ("dense_gates top_k 0", lambda: M.dense_gates(PROBS, 0), ValueError, r"top_k=0 must be between 1 and n_experts=4"),
    ("dense_gates scores", lambda: M.dense_gates(PROBS - 1, 2), ValueError, r"router_probs must be probabilities"),
    ("dense_gates list", lambda: M.dense_gates([[0.5, 0.5]], 1), TypeError, r"router_probs must be a torch\.Tensor"),
    ("balancing float index", lambda: M.load_balancing_loss(PROBS, CHOSEN.float()), TypeError,
     r"expert_index must hold integer expert numbers"),
    ("balancing index range", lambda: M.load_balancing_loss(PROBS, CHOSEN + 4), ValueError,
     r"expert_index holds expert \d+, outside 0\.\.3"),
    ("balancing rows", lambda: M.load_balancing_loss(PROBS, CHOSEN[:3]), ValueError, r"same N >= 1 tokens"),
    ("parameter counts bias", lambda: M.moe_parameter_counts(8, 4, bias=None), TypeError,
     r"bias=None must be True or False"),
    ("moe_aux_loss None", lambda: M.moe_aux_loss(None), TypeError, r"model=None must be a torch\.nn\.Module"),
]

SCALING = [
    ("variance d 0", lambda: S.dot_product_variance(0), ValueError, r"d=0 must be at least 1"),
    ("variance scaled str", lambda: S.dot_product_variance(4, scaled="yes"), TypeError, r"scaled='yes' must be True"),
    ("variance seed -1", lambda: S.dot_product_variance(4, seed=-1), ValueError, r"seed=-1 must be at least 0"),
    ("entropy of scores", lambda: S.softmax_entropy(torch.tensor([2.0, 3.0])), ValueError,
     r"weights must sum to 1.*sums to 5"),
    ("entropy negative", lambda: S.softmax_entropy(torch.tensor([1.5, -0.5])), ValueError,
     r"weights contains negative numbers.*softmax"),
    ("entropy NaN", lambda: S.softmax_entropy(torch.tensor([float("nan"), 1.0])), ValueError,
     r"weights contains 1 NaN"),
    ("entropy long", lambda: S.softmax_entropy(torch.tensor([0, 1])), TypeError, r"weights must hold floating-point"),
    ("jacobian None", lambda: S.softmax_jacobian(None), TypeError, r"weights must be a torch\.Tensor"),
    ("query grad k keys", lambda: S.query_gradient_norm(PROBS[0], torch.randn(3, 8), 1.0), ValueError,
     r"k must hold one key per weight.*T=4"),
    ("query grad scale str", lambda: S.query_gradient_norm(PROBS[0], torch.randn(4, 8), "1"), TypeError,
     r"scale='1' must be a number"),
    ("sharpness d mismatch", lambda: S.attention_sharpness(torch.randn(8), torch.randn(4, 6)), ValueError,
     r"same last dimension d"),
    ("sharpness dtypes", lambda: S.attention_sharpness(torch.randn(8).double(), torch.randn(4, 8)), TypeError,
     r"q, k must share one dtype"),
    ("sharpness inf", lambda: S.attention_sharpness(torch.full((8,), float("inf")), torch.randn(4, 8)), ValueError,
     r"q contains 0 NaN and 8 infinite"),
    ("sharpness no keys", lambda: S.attention_sharpness(torch.randn(8), torch.randn(0, 8)), ValueError,
     r"at least one key"),
    ("curve dims generator", lambda: S.saturation_curve(d for d in (2, 4)), ValueError,
     r"dims must be a non-empty list"),
    ("curve dims 0", lambda: S.saturation_curve([2, 0]), ValueError, r"dims\[1\]=0 must be at least 1"),
    ("curve scaled None", lambda: S.saturation_curve([2], scaled=None), TypeError, r"scaled=None must be True"),
    ("lookup n_keys < n_pairs", lambda: S.lookup_batch(2, n_pairs=8, n_keys=4), ValueError,
     r"n_keys=4 must be at least n_pairs=8"),
    ("lookup generator int", lambda: S.lookup_batch(2, generator=0), TypeError,
     r"generator=0 must be None or a torch\.Generator"),
    ("KeyValueLookup float x", lambda: S.KeyValueLookup(d_head=8)(torch.zeros(2, 5)), ValueError,
     r"x must hold integer ids"),
    ("KeyValueLookup key range", lambda: S.KeyValueLookup(n_keys=4, d_head=8)(torch.tensor([[5, 0, 5]])), ValueError,
     r"x holds keys outside 0\.\.3.*n_keys=4"),
    ("KeyValueLookup targets", lambda: S.KeyValueLookup(d_head=8)(torch.tensor([[1, 0, 1]]), torch.tensor([0.5])),
     ValueError, r"targets must be a \(B,\) = \(1,\) tensor of integer value ids"),
]

_W = torch.softmax(torch.randn(2, 4, 4), dim=-1)

DIAGNOSTICS = [
    ("count_parameters None", lambda: D.count_parameters(None), TypeError, r"module must be a torch\.nn\.Module"),
    ("count_parameters flag", lambda: D.count_parameters(Bk.MLP(4), trainable_only="yes"), TypeError,
     r"trainable_only='yes' must be True or False"),
    ("count_parameters_by depth 0", lambda: D.count_parameters_by(Bk.MLP(4), depth=0), ValueError,
     r"depth=0 must be at least 1"),
    ("head stats scores", lambda: D.attention_head_stats(torch.randn(2, 4, 4)), ValueError,
     r"non-negative, each row summing to 1.*not the scores"),
    ("head stats long", lambda: D.attention_head_stats(torch.ones(2, 4, 4, dtype=torch.long)), TypeError,
     r"weights must hold floating-point"),
    ("head stats 2-D", lambda: D.attention_head_stats(_W[0]), ValueError, r"\(n_head, T, T\) or \(B, n_head, T, T\)"),
    ("head stats not square", lambda: D.attention_head_stats(_W[..., :3]), ValueError, r"square self-attention"),
    ("head stats NaN", lambda: D.attention_head_stats(torch.full((1, 3, 3), float("nan"))), ValueError,
     r"weights contains 9 NaN"),
    ("grad norms model str", lambda: D.grad_norms_per_layer("gpt"), ValueError, r"model must have a \.blocks"),
    ("grad norms name int", lambda: D.grad_norms_per_layer([Bk.MLP(4)], name_contains=3), TypeError,
     r"name_contains=3 must be None or part of a parameter name"),
    ("greedy float prompt", lambda: D.greedy_decode(gpt(), torch.zeros(1, 3), 2), TypeError,
     r"prompt must hold integer token ids"),
    ("greedy past block", lambda: D.greedy_decode(gpt(), IDS, 10), ValueError, r"more than block_size=8"),
    ("greedy no blocks", lambda: D.greedy_decode(Bk.MLP(4), IDS, 2), ValueError, r"model must have a \.blocks"),
    ("time_decoding list", lambda: D.time_decoding([gpt()], IDS, 2), ValueError, r"models must be a non-empty dict"),
    ("time_decoding repeats 0", lambda: D.time_decoding({"a": gpt()}, IDS, 2, repeats=0), ValueError,
     r"repeats=0 must be at least 1"),
    ("count_flops not callable", lambda: D.count_flops(3), ValueError, r"fn must be callable"),
    ("time_calls empty", lambda: D.time_calls({}), ValueError, r"fns must be a non-empty dict"),
    ("time_calls repeats 1", lambda: D.time_calls({"f": lambda: None}, repeats=1), ValueError,
     r"repeats=1 must be at least 2"),
]


def _ids(table):
    return [row[0] for row in table]


ALL = ATTENTION + POSITIONAL + BLOCK + MODEL + MOE + SCALING + DIAGNOSTICS


@pytest.mark.parametrize("label, call, exc, message", ALL, ids=_ids(ALL))
def test_bad_input_raises_a_clear_error(label, call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_wrong_types_are_also_value_errors():
    # explorers and checkers catch ValueError; a wrong type must reach them too
    with pytest.raises(ValueError):
        A.attention_weights(X64, X)
    with pytest.raises(ArgumentTypeError):
        Bk.Block(8, 2)(None)


# --- one test per class of issue 11 ----------------------------------------------------------


def test_obscure_mixed_dtypes_to_attention_now_name_the_tensor_to_convert():
    # issue 11: "Mixed float64/float32 inputs to attention raise a dtype RuntimeError"
    for call in (lambda: A.attention_weights(X64, X), lambda: A.scaled_dot_product_attention(X, X64, X),
                 lambda: A.scaled_dot_product_attention(X, X, X64)):
        with pytest.raises(TypeError, match=r"must share one dtype") as info:
            call()
        assert not isinstance(info.value, RuntimeError)
    # one dtype, float64 throughout, still works and agrees with PyTorch's own attention
    out, _ = A.scaled_dot_product_attention(X64, X64, X64, causal=True)
    ref = torch.nn.functional.scaled_dot_product_attention(X64, X64, X64, is_causal=True)
    assert out.dtype == torch.float64 and torch.allclose(out, ref)


def test_silent_float_targets_are_refused_instead_of_truncated():
    # targets.long() used to turn 2.7 into 2 without a word
    with pytest.raises(TypeError, match="targets must hold integer token ids"):
        gpt()(IDS, IDS.float() + 0.7)
    _, loss = gpt()(IDS, IDS)  # integer targets still work
    assert torch.isfinite(loss)


def test_silent_truthy_strings_are_refused_for_bool_options():
    # bias="no" used to mean bias=True
    with pytest.raises(TypeError, match="bias='no'"):
        A.MultiHeadAttention(8, 2, bias="no")
    assert A.MultiHeadAttention(8, 2, bias=False).q_proj.bias is None


def test_silent_inf_input_to_teaching_attention_is_refused():
    # +inf inputs used to give NaN weights
    x = torch.randn(4, 8)
    x[1, 2] = float("inf")
    with pytest.raises(ValueError, match="infinite"):
        A.dot_product_attention(x)


def test_silent_integer_input_to_average_attention_is_refused():
    # long weights 1/T used to become 0, so the average came out all zeros
    with pytest.raises(TypeError, match="floating-point"):
        A.average_attention(torch.arange(12).view(3, 4))


def test_hang_gptconfig_with_a_huge_prime_width_answers_within_a_second():
    # issue 11: GPTConfig(n_embd=1_000_000_001, n_head=2) used to take 42 s to build its message
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"n_embd=1000000001 is not divisible by n_head=2"):
        GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_embd=1_000_000_001, n_head=2)
    assert time.perf_counter() - start < 1.0


def test_a_bad_mask_answers_at_once_in_a_fresh_process():
    # torch.broadcast_shapes imports sympy on its first call (seconds); the mask check must not
    code = ("import sys, torch; from gptlab.attention import attention_weights as f\n"
            "q = torch.randn(4, 8)\n"
            "try: f(q, q, mask=torch.ones(3, 3, dtype=torch.bool))\n"
            "except ValueError: pass\n"
            "print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_silent_negative_entropy_of_unnormalised_numbers_is_refused():
    # issue 11: "An entropy of unnormalised numbers comes back negative"
    scores = torch.tensor([[2.0, 3.0, 0.5]])
    assert float(-(scores * scores.log()).sum()) < 0  # what the formula gives for them
    with pytest.raises(ValueError, match="sum to 1"):
        S.softmax_entropy(scores)
    with pytest.raises(ValueError, match="summing to 1"):
        D.attention_head_stats(scores.expand(1, 3, 3))
    p = torch.softmax(scores, dim=-1)  # probabilities still work, against the plain formula
    assert torch.allclose(S.softmax_entropy(p), -(p * p.log()).sum(-1))


def test_moe_top_k_above_n_experts_names_both():
    for build in (lambda: M.MoE(8, 3, top_k=4), lambda: M.moe_parameter_counts(8, 3, top_k=4),
                  lambda: GPTConfig(**SMALL, n_experts=3, top_k=4)):
        with pytest.raises(ValueError, match=r"top_k=4.*3"):
            build()


def test_the_dtype_checks_leave_valid_precisions_alone():
    # a float64 model takes float64 input; under autocast a bfloat16 input reaches float32 weights
    blk = Bk.Block(8, 2).double()
    assert blk(X64).dtype == torch.float64
    mha = A.MultiHeadAttention(8, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert mha(X.bfloat16()).shape == X.shape
    # numpy's bool (what a widget toggle may hold) is a bool
    np = pytest.importorskip("numpy")
    out, _ = A.average_attention(X, causal=np.bool_(True))
    assert torch.allclose(out[:, 0], X[:, 0])


def test_caches_of_different_lengths_per_layer_are_refused():
    """A cache list whose layers saw different tokens would put new tokens at wrong positions, silently."""
    from gptlab.attention import KVCache
    from gptlab.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=8)).eval()
    caches = [KVCache(), KVCache()]
    model(torch.tensor([[1, 2, 3]]), caches=caches)
    caches[1] = KVCache()  # one layer's cache replaced: 3 tokens in layer 0, none in layer 1
    with pytest.raises(ValueError, match=r"different numbers of tokens per layer \(\[3, 0\]\)"):
        model(torch.tensor([[4]]), caches=caches)
