import math

import pytest
import torch
import torch.nn.functional as F

from gptlab.attention import KVCache, record_attention
from gptlab.model import GPT, PRESETS, GPTConfig

ATOL = dict(atol=1e-5, rtol=1e-5)
POS_TYPES = ["learned", "sinusoidal", "rope", "none"]


@pytest.fixture(autouse=True, scope="module")
def one_cpu_thread():
    """These models are tiny: a second CPU thread only adds hand-off cost (and, on a busy machine,
    threads waiting for each other made this file 20x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(seed=0, **overrides) -> GPT:
    """A 2-layer model small enough to run hundreds of times a second on a CPU."""
    torch.manual_seed(seed)
    values = dict(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=16)
    return GPT(GPTConfig(**{**values, **overrides})).eval()


def ids(B, T, V=23, seed=0, device="cpu"):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed)).to(device)


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    (dict(n_embd=100, n_head=3), r"n_embd=100 is not divisible by n_head=3.*1, 2, 4, 5, 10"),
    (dict(n_head=6, n_embd=24, n_kv_head=4), r"n_head=6 is not divisible by n_kv_head=4.*1, 2, 3, 6"),
    (dict(vocab_size=0), r"vocab_size=0 must be at least 1"),
    (dict(block_size=2.5), r"block_size=2.5 must be a whole number"),
    (dict(n_layer=-1), r"n_layer=-1"),
    (dict(dropout=1.0), r"dropout=1 must be less than 1"),
    (dict(pos="alibi"), r"pos='alibi' is not supported; choose one of 'learned', 'sinusoidal', 'rope', 'none'"),
    (dict(norm="sandwich"), r"norm='sandwich' is not supported"),
    (dict(activation="relu"), r"activation='relu' is not supported"),
    (dict(pos="sinusoidal", n_embd=15, n_head=3), r"even n_embd"),
    (dict(pos="rope", n_embd=18, n_head=6), r"even head size.*18 // 6 = 3"),
    (dict(bias=1), r"bias=1 must be True or False"),
    (dict(n_experts=4, top_k=5), r"top_k=5 must be at most 4"),
    (dict(n_experts=4, capacity_factor=0.0), r"capacity_factor=0 must be greater than 0"),
    (dict(n_experts=4, activation="gelu_tanh"), r"MoE experts use the exact GELU"),
])
def test_invalid_configs_raise_a_clear_error(overrides, message):
    values = dict(vocab_size=10, block_size=8, n_layer=2, n_head=2, n_embd=8)
    with pytest.raises(ValueError, match=message):
        GPTConfig(**{**values, **overrides})


def test_presets_have_their_documented_shapes():
    nano = GPTConfig.preset("gpt-nano", vocab_size=65, block_size=64, dropout=0.1)
    assert (nano.n_layer, nano.n_head, nano.n_embd, nano.dropout) == (3, 3, 48, 0.1)
    assert [(PRESETS[n]["n_layer"], PRESETS[n]["n_head"], PRESETS[n]["n_embd"])
            for n in ("gpt-micro", "gpt-mini", "gpt2")] == [(4, 4, 128), (6, 6, 192), (12, 12, 768)]
    gpt2 = GPTConfig.preset("gpt2")
    assert (gpt2.vocab_size, gpt2.block_size, gpt2.activation) == (50257, 1024, "gelu_tanh")
    # the hand count (checked against models below) gives GPT-2 small's famous 124M parameters ...
    assert gpt2_count(V=50257, T=1024, L=12, C=768, n_head=12) == 124_439_808
    # ... and a one-layer GPT-2 with a small vocabulary, cheap to build, agrees with it
    one_layer = GPT(GPTConfig.preset("gpt2", vocab_size=101, block_size=32, n_layer=1))
    assert one_layer.num_parameters() == gpt2_count(V=101, T=32, L=1, C=768, n_head=12)


def test_preset_errors_list_what_is_allowed():
    with pytest.raises(ValueError, match=r"unknown preset 'gpt-3'; choose one of 'gpt-nano', 'gpt-micro'"):
        GPTConfig.preset("gpt-3")
    with pytest.raises(ValueError, match=r"pass vocab_size=\.\.\. and block_size=\.\.\."):
        GPTConfig.preset("gpt-nano")
    with pytest.raises(ValueError, match=r"GPTConfig has no field n_layers"):
        GPTConfig.preset("gpt-nano", vocab_size=5, block_size=8, n_layers=2)


# --- shapes, loss, parameters -----------------------------------------------------------------


def test_forward_gives_logits_at_every_position_and_the_cross_entropy():
    model = tiny()
    x, y = ids(3, 10), ids(3, 10, seed=1)
    logits, loss = model(x)
    assert logits.shape == (3, 10, 23) and loss is None
    logits, loss = model(x, y)
    torch.testing.assert_close(loss, F.cross_entropy(logits.reshape(-1, 23), y.reshape(-1)))
    assert abs(loss.item() - math.log(23)) < 0.1  # small init: close to a uniform guess
    assert model.last_loss_parts["lm"] == loss and model.last_loss_parts["aux"] == 0
    y[:, :5] = -1  # ignored positions do not count
    _, loss_ignoring = model(x, y)
    torch.testing.assert_close(loss_ignoring, F.cross_entropy(logits[:, 5:].reshape(-1, 23), y[:, 5:].reshape(-1)))


def gpt2_count(V, T, L, C, n_kv_head=None, n_head=2, tied=True, bias=True, pos="learned", norm="pre"):
    """Hand count: embeddings, then per layer 4 attention matrices, the 4x MLP and two LayerNorms."""
    kv = C if n_kv_head is None else n_kv_head * (C // n_head)
    b = 1 if bias else 0
    attention = 2 * C * C + 2 * C * kv + b * (2 * C + 2 * kv)  # q, out: C x C; k, v: C x kv
    mlp = 8 * C * C + b * 5 * C
    norms = (2 if bias else 1) * C
    total = V * C + L * (attention + mlp + 2 * norms)
    total += T * C if pos == "learned" else 0
    total += norms if norm == "pre" else 0  # ln_f
    total += 0 if tied else V * C
    return total


@pytest.mark.parametrize("overrides", [
    dict(), dict(tie_weights=False), dict(n_kv_head=1), dict(bias=False), dict(pos="rope"), dict(norm="post"),
], ids=["gpt2", "untied", "mqa", "no-bias", "rope", "post-ln"])
def test_parameter_counts_match_the_hand_formula(overrides):
    model = tiny(**overrides)
    tied = overrides.get("tie_weights", True)
    hand = dict(n_kv_head=overrides.get("n_kv_head"), tied=tied, bias=overrides.get("bias", True),
                pos=overrides.get("pos", "learned"), norm=overrides.get("norm", "pre"))
    expected = gpt2_count(V=23, T=16, L=2, C=16, **hand)
    assert model.num_parameters() == expected == sum(p.numel() for p in model.parameters())
    counts = model.parameter_counts()
    assert sum(counts.values()) == expected
    assert counts["position"] == (16 * 16 if hand["pos"] == "learned" else 0)
    assert counts["head"] == (0 if tied else 23 * 16)
    # non-embedding: drop the position table, and the token table unless it doubles as lm_head
    assert model.num_parameters(non_embedding=True) == expected - counts["position"] - (0 if tied else 23 * 16)


def test_tied_weights_share_one_storage():
    tied, untied = tiny(), tiny(tie_weights=False)
    assert tied.wte.weight is tied.lm_head.weight
    assert tied.wte.weight.data_ptr() == tied.lm_head.weight.data_ptr()
    assert untied.wte.weight.data_ptr() != untied.lm_head.weight.data_ptr()
    with torch.no_grad():
        tied.lm_head.weight[3].zero_()
    assert torch.all(tied.wte.weight[3] == 0)  # one matrix, two uses


def test_residual_projections_get_the_smaller_gpt2_init():
    model = tiny(n_embd=64, n_layer=8, n_head=4)
    expected = 0.02 / math.sqrt(2 * 8)
    for block in model.blocks:
        assert abs(block.attn.out_proj.weight.std().item() / expected - 1) < 0.1
        assert abs(block.mlp.proj.weight.std().item() / expected - 1) < 0.1
        assert abs(block.attn.q_proj.weight.std().item() / 0.02 - 1) < 0.1
        assert torch.all(block.attn.q_proj.bias == 0)


def test_flops_per_token_is_6n_plus_attention():
    model = tiny()
    N = model.num_parameters(non_embedding=True)
    assert model.estimate_flops_per_token() == 6 * N + 12 * 2 * 16 * 16
    assert model.estimate_flops_per_token(T=4) == 6 * N + 12 * 2 * 4 * 16


# --- causality, attention maps ------------------------------------------------------------------


@pytest.mark.parametrize("pos", POS_TYPES)
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_future_tokens_do_not_change_earlier_logits(pos, norm):
    model = tiny(pos=pos, norm=norm)
    x = ids(2, 12)
    x_changed = x.clone()
    x_changed[:, 7:] = (x[:, 7:] + 1) % 23
    with torch.no_grad():
        logits, logits_changed = model(x)[0], model(x_changed)[0]
    torch.testing.assert_close(logits[:, :7], logits_changed[:, :7], atol=1e-6, rtol=0)
    assert not torch.allclose(logits[:, 7:], logits_changed[:, 7:])


def test_attention_maps_are_causal_and_what_the_recorder_sees():
    model = tiny(n_layer=3, n_head=4, n_embd=16)
    x = ids(2, 9)
    maps = model.attention_maps(x)
    assert maps.shape == (3, 2, 4, 9, 9)
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 2, 4, 9))
    assert torch.all(maps.triu(diagonal=1) == 0)  # nobody looks ahead
    with record_attention(model) as rec:
        model(x)
    torch.testing.assert_close(maps, torch.stack(rec.weights))
    assert model.blocks[0].attn.fused  # the fast path is back on afterwards


# --- KV cache and generation --------------------------------------------------------------------


@pytest.mark.parametrize("pos", POS_TYPES)
@pytest.mark.parametrize("n_kv_head", [None, 1])
def test_kv_cached_logits_equal_full_recomputation(pos, n_kv_head):
    model = tiny(pos=pos, n_kv_head=n_kv_head)
    x = ids(2, 11)
    caches = [KVCache() for _ in range(2)]
    with torch.no_grad():
        full, _ = model(x)
        model(x[:, :6], caches=caches)  # prefill
        for t in range(6, 11):  # then one token at a time
            step, _ = model(x[:, t:t + 1], caches=caches)
            torch.testing.assert_close(step[:, -1], full[:, t], **ATOL)
    assert caches[0].length == 11


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_use_cache_changes_speed_not_tokens(pos):
    model = tiny(pos=pos)
    prompt = ids(2, 5)
    # 30 new tokens pass block_size=16: the window slides and the cache is rebuilt each step
    greedy = model.generate(prompt, 30, temperature=0)
    assert torch.equal(greedy, model.generate(prompt, 30, temperature=0, use_cache=False))
    sampled = model.generate(prompt, 30, generator=torch.Generator().manual_seed(7), top_k=10)
    assert torch.equal(sampled, model.generate(prompt, 30, generator=7, top_k=10, use_cache=False))
    assert greedy.shape == sampled.shape == (2, 35) and torch.equal(greedy[:, :5], prompt)


def test_greedy_is_deterministic_and_seeds_reproduce_samples():
    model = tiny()
    prompt = ids(1, 3)
    assert torch.equal(model.generate(prompt, 12, temperature=0), model.generate(prompt, 12, temperature=0))
    a = model.generate(prompt, 12, temperature=1.5, generator=1)
    assert torch.equal(a, model.generate(prompt, 12, temperature=1.5, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(a, model.generate(prompt, 12, temperature=1.5, generator=2))
    torch.manual_seed(0)  # without a generator, torch's global random state decides
    b = model.generate(prompt, 12, temperature=1.5)
    torch.manual_seed(0)
    assert torch.equal(b, model.generate(prompt, 12, temperature=1.5))


def test_generate_greedy_follows_the_argmax_and_restores_training_mode():
    model = tiny(dropout=0.5).train()
    prompt = ids(2, 4)
    out = model.generate(prompt, 6, temperature=0, repetition_penalty=1.3)
    assert model.training  # generate switches dropout off only while it runs
    model.eval()
    x = prompt
    with torch.no_grad():
        for _ in range(6):  # the plain loop, with the CTRL repetition penalty written out
            logits = model(x)[0][:, -1].clone()
            for b in range(2):
                seen = x[b].unique()
                s = logits[b, seen]
                logits[b, seen] = torch.where(s > 0, s / 1.3, s * 1.3)
            x = torch.cat((x, logits.argmax(-1, keepdim=True)), dim=1)
    assert torch.equal(out, x)


def test_prompt_longer_than_block_size_is_cropped_by_generate_and_refused_by_forward():
    model = tiny()
    long_prompt = ids(1, 40)
    for use_cache in (True, False):
        out = model.generate(long_prompt, 5, temperature=0, use_cache=use_cache)
        cropped = model.generate(long_prompt[:, -16:], 5, temperature=0)
        assert torch.equal(out[:, :40], long_prompt) and torch.equal(out[:, 40:], cropped[:, 16:])
    with pytest.raises(ValueError, match=r"T=40 tokens exceed block_size=16.*crop the input to its last 16"):
        model(long_prompt)
    caches = [KVCache() for _ in range(2)]
    model(long_prompt[:, :10], caches=caches)
    with pytest.raises(ValueError, match=r"10 cached \+ 7 new tokens exceed block_size=16"):
        model(long_prompt[:, :7], caches=caches)


@pytest.mark.parametrize("bad, message", [
    (torch.tensor([[1, 23]]), r"token id 23, outside the vocabulary 0..22"),
    (torch.tensor([[-1, 2]]), r"token id -1, outside the vocabulary"),
    (torch.zeros(1, 0, dtype=torch.long), r"empty \(T=0\)"),
    (torch.zeros(0, 3, dtype=torch.long), r"no sequences \(B=0\)"),
    (torch.tensor([1, 2, 3]), r"must be a \(B, T\) tensor.*unsqueeze\(0\)"),
    (torch.tensor([[1.0, 2.0]]), r"integer token ids"),
    ([[1, 2]], r"must be a \(B, T\) tensor"),
])
def test_bad_token_ids_raise_before_the_embedding(bad, message):
    model = tiny()
    with pytest.raises(ValueError, match=message):
        model(bad)
    with pytest.raises(ValueError, match=message):
        model.generate(bad, 3)
    if isinstance(bad, torch.Tensor) and bad.dim() == 2 and bad.numel():
        with pytest.raises(ValueError, match=message):
            model.attention_maps(bad)


def test_bad_targets_caches_and_settings_raise():
    model = tiny()
    x = ids(2, 5)
    with pytest.raises(ValueError, match=r"targets must have the same shape as idx, \(2, 5\)"):
        model(x, x[:, :4])
    with pytest.raises(ValueError, match=r"targets must be token ids 0..22"):
        model(x, x + 23)
    with pytest.raises(ValueError, match=r"list of 2 KVCache"):
        model(x, caches=[KVCache()])
    with pytest.raises(ValueError, match=r"max_new_tokens=-1 must be at least 0"):
        model.generate(x, -1)
    with pytest.raises(ValueError, match=r"temperature=-1 must be at least 0"):
        model.generate(x, 2, temperature=-1)
    with pytest.raises(ValueError, match=r"config must be a GPTConfig"):
        GPT(dict(vocab_size=5))
    assert torch.equal(model.generate(x, 0), x)


# --- training -------------------------------------------------------------------------------------


def test_a_tiny_model_overfits_one_batch():
    model = tiny().train()
    x, y = ids(4, 16, seed=1), ids(4, 16, seed=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    steps = 0
    while steps < 200:
        _, loss = model(x, y)
        if loss.item() < 0.1:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
    assert loss.item() < 0.1, f"loss {loss.item():.3f} after {steps} steps"


def test_mixture_of_experts_adds_the_weighted_aux_loss():
    pytest.importorskip("gptlab.moe")
    from gptlab.moe import MoE, moe_parameter_counts

    model = tiny(n_experts=4, top_k=2, aux_loss_weight=0.5)
    assert all(isinstance(block.mlp, MoE) for block in model.blocks)
    x, y = ids(2, 8), ids(2, 8, seed=1)
    logits, loss = model(x, y)
    lm = F.cross_entropy(logits.reshape(-1, 23), y.reshape(-1))
    aux = sum(block.mlp.aux_loss for block in model.blocks)
    torch.testing.assert_close(loss, lm + 0.5 * aux)
    torch.testing.assert_close(model.last_loss_parts["aux"], aux.detach())
    torch.testing.assert_close(model.aux_loss, aux.detach())  # what the Trainer logs
    assert model.parameter_counts()["mlp"] == 2 * moe_parameter_counts(16, 4, 2)["total"]
    prompt = ids(1, 4)
    assert torch.equal(model.generate(prompt, 15, temperature=0), model.generate(prompt, 15, temperature=0,
                                                                                 use_cache=False))


# --- devices --------------------------------------------------------------------------------------


def test_model_runs_trains_and_generates_on_every_device(device):
    model = tiny(pos="rope", n_kv_head=1).to(device)
    x, y = ids(2, 8, device=device), ids(2, 8, seed=1, device=device)
    logits, loss = model(x, y)
    loss.backward()
    assert logits.device.type == device.type and model.wte.weight.grad is not None
    out = model.generate(x, 4, temperature=0)
    assert out.device.type == device.type and out.shape == (2, 12)
    assert torch.equal(out.cpu(), model.cpu().generate(x.cpu(), 4, temperature=0))


# --- Hugging Face GPT-2 -------------------------------------------------------------------------

HF_CONFIGS = [
    dict(n_layer=2, n_head=2, n_embd=32, vocab_size=97, n_positions=64),
    dict(n_layer=3, n_head=4, n_embd=48, vocab_size=50, n_positions=32),
    dict(n_layer=1, n_head=1, n_embd=16, vocab_size=11, n_positions=40, tie_word_embeddings=False),
    dict(n_layer=2, n_head=8, n_embd=64, vocab_size=128, n_positions=48, activation_function="gelu"),
]


def random_hf_gpt2(seed=0, **kwargs):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(attn_pdrop=0.0, resid_pdrop=0.0, embd_pdrop=0.0, bos_token_id=0,
                                     eos_token_id=0, **kwargs)
    torch.manual_seed(seed)
    hf = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # bigger, non-default weights (LayerNorms included) so every mapping matters
        for p in hf.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return hf


@pytest.mark.parametrize("kwargs", HF_CONFIGS, ids=["2x2x32", "3x4x48", "untied", "exact-gelu"])
def test_from_huggingface_gives_gpt2s_logits_and_greedy_text(kwargs):
    hf = random_hf_gpt2(**kwargs)
    model = GPT.from_huggingface(hf).eval()
    assert model.config.tie_weights == kwargs.get("tie_word_embeddings", True)
    V = kwargs["vocab_size"]
    x = ids(3, 20, V=V)
    with torch.no_grad():
        expected = hf(x).logits
        logits, _ = model(x)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)

    prompt = x[:, :5]
    ours = model.generate(prompt, 20, temperature=0)
    theirs = prompt
    with torch.no_grad():
        for _ in range(20):
            theirs = torch.cat((theirs, hf(theirs).logits[:, -1].argmax(-1, keepdim=True)), dim=1)
    assert torch.equal(ours, theirs)


def test_from_huggingface_refuses_what_it_cannot_copy():
    hf = random_hf_gpt2(n_layer=1, n_head=2, n_embd=8, vocab_size=7, n_positions=8, layer_norm_epsilon=1e-6)
    with pytest.raises(ValueError, match=r"layer_norm_epsilon=1e-06 is not supported"):
        GPT.from_huggingface(hf)
    with pytest.raises(ValueError, match=r"supports transformers.GPT2LMHeadModel, transformers.LlamaForCausalLM"):
        GPT.from_huggingface(tiny())


# --- the modern recipe (lesson 15): norm_type, activation="swiglu", mlp_hidden, rope_base, qkv_bias ----


def test_modern_fields_build_the_modules_they_name():
    from gptlab.block import RMSNorm, SwiGLU

    m = tiny(norm_type="rmsnorm", norm_eps=1e-6, activation="swiglu", pos="rope", rope_base=500.0,
             bias=False, qkv_bias=True, tie_weights=False, n_kv_head=1)
    block = m.blocks[0]
    assert isinstance(block.ln_1, RMSNorm) and isinstance(block.ln_2, RMSNorm) and isinstance(m.ln_f, RMSNorm)
    assert block.ln_1.eps == 1e-6
    assert isinstance(block.mlp, SwiGLU) and block.mlp.d_hidden == round(8 * 16 / 3)  # 43
    assert block.attn.q_proj.bias is not None and block.attn.k_proj.bias is not None
    assert block.attn.out_proj.bias is None and block.mlp.gate.bias is None
    assert block.attn.rope.base == 500.0
    # RoPE's angle for the slowest pair at position 1 is base^(-(hs-2)/hs); hs = 8
    torch.testing.assert_close(block.attn.rope.cos[1, 3], torch.tensor(math.cos(500.0 ** (-6 / 8))))
    assert tiny(mlp_hidden=20).blocks[0].mlp.fc.out_features == 20


def test_swiglu_at_8_3_width_has_the_parameters_of_a_4x_gelu_mlp():
    C = 48  # 8/3 * 48 = 128 exactly
    gelu = tiny(n_embd=C, n_head=4, bias=False).parameter_counts()["mlp"]
    swiglu = tiny(n_embd=C, n_head=4, bias=False, activation="swiglu").parameter_counts()["mlp"]
    assert gelu == swiglu == 2 * 2 * C * 4 * C


def test_llama_presets_follow_the_recipe_and_train():
    for name, shape in (("llama-micro", "gpt-micro"), ("llama-mini", "gpt-mini")):
        c = GPTConfig.preset(name, vocab_size=65, block_size=32)
        g = GPTConfig.preset(shape, vocab_size=65, block_size=32)
        assert (c.n_layer, c.n_head, c.n_embd) == (g.n_layer, g.n_head, g.n_embd)
        assert (c.norm_type, c.activation, c.pos, c.bias, c.tie_weights) == ("rmsnorm", "swiglu", "rope", False, False)
        assert c.n_kv_head < c.n_head
        assert c.kv_cache_per_token() == g.kv_cache_per_token() * c.n_kv_head // c.n_head
    torch.manual_seed(0)
    m = GPT(GPTConfig.preset("llama-micro", vocab_size=11, block_size=16))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    x = torch.randint(0, 11, (4, 16))
    first = None
    for _ in range(20):
        _, loss = m(x[:, :-1], x[:, 1:])
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first - 0.5


@pytest.mark.parametrize("extra", [dict(), dict(n_experts=4, top_k=2)], ids=["dense", "moe"])
def test_modern_model_kv_cache_gives_the_tokens_of_recomputing(extra):
    m = tiny(norm_type="rmsnorm", activation="swiglu", pos="rope", bias=False, qkv_bias=True, n_kv_head=1,
             tie_weights=False, **extra)
    prompt = torch.tensor([[1, 2, 3]])
    with_cache = m.generate(prompt, 12, temperature=0, use_cache=True)
    without = m.generate(prompt, 12, temperature=0, use_cache=False)
    assert torch.equal(with_cache, without)


def test_record_attention_and_parameter_counts_work_on_the_modern_model():
    m = tiny(norm_type="rmsnorm", activation="swiglu", pos="rope", bias=False, n_kv_head=1)
    maps = m.attention_maps(torch.tensor([[1, 2, 3, 4]]))
    assert maps.shape == (2, 1, 2, 4, 4)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 1, 2, 4))
    assert sum(m.parameter_counts().values()) == m.num_parameters()


def test_kv_cache_per_token_is_two_vectors_per_kv_head_per_layer():
    c = GPTConfig(vocab_size=10, block_size=8, n_layer=3, n_head=4, n_embd=32, n_kv_head=2)
    assert c.kv_cache_per_token() == 2 * 3 * 2 * 8 * 2
    assert c.kv_cache_per_token(bytes_per_value=4) == 2 * 3 * 2 * 8 * 4
    # and it is what a real KVCache holds after one token, in float16
    m = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=3, n_head=4, n_embd=32, n_kv_head=2)).half()
    caches = [KVCache() for _ in range(3)]
    with torch.no_grad():
        m(torch.tensor([[1]]), caches=caches)
    held = sum(c_.k.numel() * c_.k.element_size() + c_.v.numel() * c_.v.element_size() for c_ in caches)
    assert held == c.kv_cache_per_token()


def hand_count(c: dict) -> int:
    """Parameters of a Llama-style model, written out by hand from the architecture."""
    C, L, V, H = c["n_embd"], c["n_layer"], c["vocab_size"], c["mlp_hidden"]
    hs = C // c["n_head"]
    kv = c["n_kv_head"] * hs
    attn = C * C + 2 * C * kv + C * C + (C + 2 * kv if c.get("qkv_bias") else 0)
    mlp = 3 * C * H
    E = c.get("n_experts", 0)
    if E:
        mlp = E * mlp + C * E  # experts + router
    return V * C * 2 + L * (attn + mlp + 2 * C) + C  # untied embeddings, two norms per block, final norm


def test_real_configurations_match_the_published_counts_and_a_hand_count():
    from gptlab.model import REAL_CONFIGS, real_configurations

    rows = {r["name"]: r for r in real_configurations()}
    assert set(rows) == {"GPT-2 small", "Llama-2-7B", "Llama-3-8B", "Qwen2.5-7B", "Mixtral-8x7B"}
    exact = {"GPT-2 small": 124_439_808, "Llama-2-7B": 6_738_415_616, "Llama-3-8B": 8_030_261_248,
             "Qwen2.5-7B": 7_615_616_512, "Mixtral-8x7B": 46_702_792_704}  # the checkpoints' own totals
    for name, r in rows.items():
        assert r["params"] == exact[name]
        assert abs(r["params"] - r["published"]) / r["published"] < 0.005
        if name != "GPT-2 small":
            assert r["params"] == hand_count(REAL_CONFIGS[name][0])
    assert abs(rows["Mixtral-8x7B"]["active_params"] - 12.9e9) / 12.9e9 < 0.005
    kib = {name: r["kv_cache_per_token"] / 1024 for name, r in rows.items()}
    assert kib == {"GPT-2 small": 36, "Llama-2-7B": 512, "Llama-3-8B": 128, "Qwen2.5-7B": 56, "Mixtral-8x7B": 128}


def test_count_parameters_equals_a_real_model():
    from gptlab.model import count_parameters

    c = GPTConfig(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=16, activation="swiglu", n_experts=4)
    assert count_parameters(c) == GPT(c).num_parameters()
    with pytest.raises(TypeError, match="config must be a GPTConfig"):
        count_parameters(dict(n_layer=2))


MODERN_BAD = [
    (dict(norm_type="batchnorm"), r"norm_type.*'layernorm', 'rmsnorm'"),
    (dict(norm_eps=-1e-5), r"norm_eps"),
    (dict(mlp_hidden=0), r"mlp_hidden"),
    (dict(activation="relu"), r"activation.*swiglu"),
    (dict(rope_base=1.0), r"rope_base"),
    (dict(qkv_bias="yes"), r"qkv_bias"),
    (dict(pos="rope", n_embd=18, n_head=2), r"pos='rope' needs an even head size"),
    (dict(n_experts=4, activation="gelu_tanh"), r"MoE experts use the exact GELU or SwiGLU"),
]


@pytest.mark.parametrize("overrides,message", MODERN_BAD, ids=[str(o) for o, _ in MODERN_BAD])
def test_modern_fields_reject_bad_values_naming_them(overrides, message):
    values = dict(vocab_size=23, block_size=16, n_layer=2, n_head=2, n_embd=16)
    with pytest.raises(ValueError, match=message):
        GPTConfig(**{**values, **overrides})


def test_kv_cache_per_token_rejects_bad_bytes():
    c = GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8)
    with pytest.raises(ValueError, match="bytes_per_value"):
        c.kv_cache_per_token(0)
