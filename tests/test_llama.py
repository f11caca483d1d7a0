"""GPT.from_huggingface with Llama and Qwen2: random small models built with transformers (offline)
are the independent reference for logits, greedy decoding with the KV cache, and parameter counts."""
import pytest
import torch

transformers = pytest.importorskip("transformers")

from gptlab.model import GPT  # noqa: E402


def random_hf(kind: str, seed: int = 0, **kwargs):
    """A randomly initialised LlamaForCausalLM or Qwen2ForCausalLM (no download)."""
    torch.manual_seed(seed)
    values = dict(hidden_size=32, intermediate_size=72, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=61, max_position_embeddings=64, rms_norm_eps=1e-6,
                  eos_token_id=None, bos_token_id=None, pad_token_id=None)
    values.update(kwargs)
    if kind == "llama":
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**values))
    else:
        model = transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**values))
        with torch.no_grad():  # HF initialises biases to 0; make them matter
            for layer in model.model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                    proj.bias.normal_(std=0.3)
    with torch.no_grad():  # RMSNorm weights start at 1; perturb them so a mixed-up norm would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.2)
    return model.eval()


SHAPES = [
    ("llama", dict()),  # GQA, untied
    ("llama", dict(tie_word_embeddings=True)),
    ("llama", dict(num_key_value_heads=1, rope_theta=500000.0)),  # MQA, Llama-3's base
    ("llama", dict(hidden_size=48, num_attention_heads=6, num_key_value_heads=6, num_hidden_layers=3,
                   intermediate_size=128, rms_norm_eps=1e-5)),  # MHA
    ("qwen2", dict()),
    ("qwen2", dict(tie_word_embeddings=True, num_key_value_heads=1, rope_theta=1e6)),
    ("qwen2", dict(hidden_size=64, num_attention_heads=4, num_key_value_heads=2, intermediate_size=96)),
]
IDS = ["llama-gqa", "llama-tied", "llama-mqa", "llama-mha", "qwen2-gqa", "qwen2-tied-mqa", "qwen2-wide"]


@pytest.mark.parametrize("kind,kwargs", SHAPES, ids=IDS)
def test_logits_parameters_and_greedy_tokens_equal_hugging_faces(kind, kwargs):
    hf = random_hf(kind, **kwargs)
    ours = GPT.from_huggingface(hf).eval()
    c = ours.config
    assert (c.norm_type, c.activation, c.pos, c.bias) == ("rmsnorm", "swiglu", "rope", False)
    assert c.qkv_bias is (kind == "qwen2")
    assert c.tie_weights is bool(kwargs.get("tie_word_embeddings", False))
    assert ours.num_parameters() == sum(p.numel() for p in hf.parameters())

    idx = torch.randint(0, 61, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = hf(idx).logits
    logits, _ = ours(idx)
    torch.testing.assert_close(logits, theirs, atol=1e-4, rtol=0)

    prompt = idx[:2, :6]
    with torch.no_grad():
        expected = hf.generate(prompt, max_new_tokens=20, do_sample=False, min_new_tokens=20)
    got = ours.generate(prompt, 20, temperature=0, use_cache=True)
    assert torch.equal(got, expected)


def test_load_keeps_working_after_the_copy():
    hf = random_hf("llama")
    ours = GPT.from_huggingface(hf)
    with torch.no_grad():
        hf.model.embed_tokens.weight.zero_()  # a copy, not a view: changing HF's model changes nothing
    assert ours.wte.weight.abs().sum() > 0


UNSUPPORTED = [
    ("llama", dict(hidden_act="gelu"), r"hidden_act='gelu' is not supported"),
    ("llama", dict(attention_bias=True), r"attention_bias=True is not supported"),
    ("llama", dict(mlp_bias=True), r"mlp_bias=True is not supported"),
    ("llama", dict(head_dim=16), r"head_dim=16 .* hidden_size=32"),
    ("llama", dict(rope_scaling={"rope_type": "linear", "factor": 2.0}), r"rope_type='linear'"),
    ("qwen2", dict(use_sliding_window=True, sliding_window=8), r"use_sliding_window=True is not supported"),
]


@pytest.mark.parametrize("kind,kwargs,message", UNSUPPORTED, ids=[m.split(" ")[0] for _, _, m in UNSUPPORTED])
def test_refuses_configurations_it_cannot_reproduce(kind, kwargs, message):
    hf = random_hf(kind, num_hidden_layers=1, **kwargs)
    with pytest.raises(ValueError, match=message):
        GPT.from_huggingface(hf)


def test_an_unsupported_architecture_names_the_supported_ones():
    config = transformers.MistralConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=1, vocab_size=11)
    hf = transformers.MistralForCausalLM(config)
    with pytest.raises(ValueError, match=r"supports transformers.GPT2LMHeadModel, transformers.LlamaForCausalLM, "
                                         r"transformers.Qwen2ForCausalLM.*MistralForCausalLM \(model_type='mistral'\)"):
        GPT.from_huggingface(hf)
    # the body without its head is not enough either
    with pytest.raises(ValueError, match=r"LlamaModel \(model_type='llama'\)"):
        GPT.from_huggingface(random_hf("llama", num_hidden_layers=1).model)
    with pytest.raises(ValueError, match=r"got str"):
        GPT.from_huggingface("meta-llama/Llama-3-8B")
