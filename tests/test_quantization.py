import math

import pytest
import torch

from gptlab import data
from gptlab.model import GPT, GPTConfig
from gptlab.quantization import (
    QuantizedLinear,
    QuantizedTensor,
    gptq_quantize,
    layer_errors,
    model_nbytes,
    quantize_absmax,
    quantize_model,
)
from gptlab.tokenizers import CharTokenizer

# ------------------------------------------------------------------------------------------------
# round-to-nearest


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [None, 8])
def test_codes_on_grid_and_error_within_half_step(bits, group_size):
    torch.manual_seed(bits)
    w = torch.randn(6, 32) * torch.rand(6, 1) * 3
    q = quantize_absmax(w, bits=bits, group_size=group_size)
    qmax = 2 ** (bits - 1) - 1
    assert q.codes.dtype == torch.int8 and q.codes.shape == w.shape
    assert int(q.codes.abs().max()) == qmax  # the largest weight of each group lands on ±qmax
    assert torch.equal(q.codes.float(), q.codes.float().round())
    step = q.scale.repeat_interleave(32 if group_size is None else group_size, dim=1)
    assert ((q.dequantize() - w).abs() <= step / 2 + 1e-6).all()


def test_rtn_matches_a_plain_python_count():
    w = [[0.5, -1.0, 0.26, 0.0], [2.0, 1.0, -0.49, 0.9]]
    q = quantize_absmax(torch.tensor(w), bits=3)  # qmax = 3
    for r, row in enumerate(w):
        scale = max(abs(x) for x in row) / 3
        assert math.isclose(q.scale[r, 0].item(), scale, rel_tol=1e-6)
        assert q.codes[r].tolist() == [round(x / scale) for x in row]


def test_group_scales_are_per_group():
    w = torch.cat([torch.full((1, 4), 0.1), torch.full((1, 4), 10.0)], dim=1)
    q = quantize_absmax(w, bits=4, group_size=4)
    assert q.scale.shape == (1, 2)
    assert torch.allclose(q.dequantize(), w)  # each group holds a constant: exact


def test_nbytes_hand_count():
    w = torch.randn(10, 24)
    # 240 codes x 4 bits = 120 bytes; 10 rows x 3 groups of 8 scales x 4 bytes = 120 bytes
    assert quantize_absmax(w, bits=4, group_size=8).nbytes == 120 + 120
    # 240 x 3 bits = 720 bits = 90 bytes; 10 per-row float32 scales = 40 bytes
    assert quantize_absmax(w, bits=3).nbytes == 90 + 40
    # 7 codes x 3 bits = 21 bits: 3 bytes (rounded up to whole bytes), 1 scale
    assert quantize_absmax(torch.randn(1, 7), bits=3).nbytes == 3 + 4


# ------------------------------------------------------------------------------------------------
# GPTQ


@pytest.mark.parametrize("group_size", [None, 16, 64])
def test_gptq_with_identity_hessian_is_round_to_nearest(group_size):
    torch.manual_seed(0)
    W = torch.randn(12, 64)
    g = gptq_quantize(W, torch.eye(64), bits=4, group_size=group_size, block_size=24)
    r = quantize_absmax(W, bits=4, group_size=group_size)
    assert torch.equal(g.codes, r.codes)
    assert torch.equal(g.scale, r.scale)


def _obs_reference(W, H, bits, damp):
    """GPTQ written the way the paper's equation 3 states it: after each column, drop it from H^-1 (no Cholesky)."""
    W = W.clone().double()
    n = W.size(1)
    H = H.double() + damp * torch.mean(torch.diag(H.double())) * torch.eye(n, dtype=torch.float64)
    Hinv = torch.linalg.inv(H)
    qmax = 2 ** (bits - 1) - 1
    scale = (W.abs().amax(dim=1) / qmax)
    codes = torch.zeros_like(W)
    for i in range(n):
        q = torch.clamp(torch.round(W[:, i] / scale), -qmax, qmax)
        codes[:, i] = q
        err = (W[:, i] - q * scale) / Hinv[i, i]
        W[:, i:] -= err[:, None] * Hinv[i, i:][None, :]
        Hinv = Hinv - Hinv[:, i:i + 1] @ Hinv[i:i + 1, :] / Hinv[i, i]  # forget input i
    return codes


def test_gptq_matches_the_papers_update_rule():
    torch.manual_seed(1)
    mix = torch.randn(16, 16)
    X = torch.randn(400, 16) @ mix  # correlated inputs
    W = torch.randn(8, 16)
    H = 2 * X.T @ X / 400
    g = gptq_quantize(W, H, bits=3, group_size=None, block_size=5)
    ref = _obs_reference(W, H, bits=3, damp=0.01)
    assert (g.codes.double() == ref).float().mean() > 0.97  # a rounding tie may flip a code or two


def test_gptq_beats_rtn_on_correlated_inputs():
    torch.manual_seed(2)
    X = torch.randn(500, 32) @ torch.randn(32, 32)
    W = torch.randn(16, 32)
    H = 2 * X.T @ X / 500
    err = {name: (X @ (W - q.dequantize()).T).norm().item()
           for name, q in (("rtn", quantize_absmax(W, 4)), ("gptq", gptq_quantize(W, H, 4, group_size=None)))}
    assert err["gptq"] < 0.8 * err["rtn"]


def test_gptq_dead_inputs_get_zero_weights():
    X = torch.randn(100, 8)
    X[:, 3] = 0.0
    q = gptq_quantize(torch.randn(4, 8), X.T @ X, bits=4, group_size=None)
    assert (q.codes[:, 3] == 0).all()


# ------------------------------------------------------------------------------------------------
# a trained GPT


@pytest.fixture(scope="module")
def trained():
    """A small char GPT trained for a few seconds on Shakespeare, and validation / calibration windows."""
    text = data.load_text("shakespeare")[:200_000]
    tok = CharTokenizer().fit(text)
    ids = torch.tensor(tok.encode(text))
    train, val = ids[:180_000], ids[180_000:]
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=64))
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(120):
        ix = torch.randint(len(train) - 33, (16,), generator=g)
        x = torch.stack([train[i:i + 32] for i in ix])
        y = torch.stack([train[i + 1:i + 33] for i in ix])
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    windows = val[:33 * 64].view(64, 33)
    calibration = train[:32 * 32].view(32, 32)
    return model, windows, calibration


def _val_loss(model, windows):
    with torch.no_grad():
        return model(windows[:, :-1], windows[:, 1:])[1].item()


def test_gptq_layer_error_at_most_rtn_for_every_layer(trained):
    model, _, calibration = trained
    errors = layer_errors(model, calibration, bits=4, group_size=None)
    assert len(errors) == 2 * 6  # q, k, v, out, fc, proj in each of two blocks
    for name, e in errors.items():
        assert e["gptq"] <= e["rtn"], name
    mean = {k: sum(e[k] for e in errors.values()) / len(errors) for k in ("rtn", "gptq")}
    assert mean["gptq"] < 0.8 * mean["rtn"]


def test_8_bit_rtn_barely_changes_val_loss(trained):
    model, windows, _ = trained
    q = quantize_model(model, "rtn", bits=8)
    assert abs(_val_loss(q, windows) - _val_loss(model, windows)) < 0.01


def test_quantize_model_copies_and_replaces_linears(trained):
    model, windows, calibration = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_model(model, "gptq", bits=4, group_size=16, calibration=calibration)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # original untouched
    qlinears = [m for m in q.modules() if isinstance(m, QuantizedLinear)]
    assert len(qlinears) == 12 and isinstance(q.lm_head, torch.nn.Linear)  # head left in full precision
    assert q.wte.weight is q.lm_head.weight  # the tie survives the copy
    # the forward pass equals one with the dequantized weights put back into a plain model
    plain = GPT(model.config)
    plain.load_state_dict(model.state_dict())
    for name, m in q.named_modules():
        if isinstance(m, QuantizedLinear):
            plain.get_submodule(name).weight.data = m.qweight.dequantize()
    x = windows[:2, :-1]
    assert torch.allclose(q(x)[0], plain(x)[0], atol=1e-5)
    # bytes: 4-bit codes + group scales for the linears, float32 for the rest
    lin = sum(math.ceil(m.codes.numel() * 4 / 8) + m.scale.numel() * 4 for m in qlinears)
    rest = sum(p.numel() * 4 for n, p in q.named_parameters())
    assert model_nbytes(q) == lin + rest
    assert model_nbytes(model) == sum(p.numel() * 4 for p in model.parameters())


def test_quantized_model_runs_on_device(trained, device):
    model, windows, _ = trained
    q = quantize_model(model.to(device), "rtn", bits=4)
    logits, loss = q(windows[:2, :-1].to(device), windows[:2, 1:].to(device))
    model.to("cpu")
    assert logits.device.type == device.type and torch.isfinite(loss)


# ------------------------------------------------------------------------------------------------
# bad input: a clear error naming the parameter


W8 = torch.randn(4, 8)
BAD = [
    (lambda: quantize_absmax(W8, bits=1), ValueError, "bits"),
    (lambda: quantize_absmax(W8, bits=9), ValueError, "bits"),
    (lambda: quantize_absmax(W8, bits=4.0), TypeError, "bits"),
    (lambda: quantize_absmax(W8, group_size=3), ValueError, "group_size"),
    (lambda: quantize_absmax(W8, group_size=0), ValueError, "group_size"),
    (lambda: quantize_absmax([[1.0]]), TypeError, "w"),
    (lambda: quantize_absmax(torch.randn(8)), ValueError, "w"),
    (lambda: quantize_absmax(torch.ones(2, 2, dtype=torch.long)), TypeError, "w"),
    (lambda: gptq_quantize(W8, torch.eye(4)), ValueError, "H"),
    (lambda: gptq_quantize(W8, "eye"), TypeError, "H"),
    (lambda: gptq_quantize(W8, torch.eye(8), group_size=5), ValueError, "group_size"),
    (lambda: gptq_quantize(W8, torch.eye(8), bits=12, group_size=None), ValueError, "bits"),
    (lambda: gptq_quantize(W8, torch.eye(8), group_size=None, damp=-1.0), ValueError, "damp"),
    (lambda: quantize_model("model"), TypeError, "model"),
]


@pytest.mark.parametrize("call, error, name", BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_input_names_the_parameter(call, error, name):
    with pytest.raises(error, match=rf"\b{name}\b"):
        call()


def test_bad_model_arguments(trained):
    model, _, _ = trained
    for kwargs, name in ((dict(method="awq"), "method"), (dict(method="gptq"), "calibration"),
                         (dict(bits=4, group_size=48), "group_size"), (dict(bits=0), "bits"),
                         (dict(method="gptq", calibration=torch.randn(2, 4)), "calibration")):
        with pytest.raises(ValueError, match=name):
            quantize_model(model, **kwargs)


def test_repr_is_one_line():
    text = repr(quantize_absmax(torch.randn(3, 8), bits=4, group_size=4))
    assert "\n" not in text and "bits=4" in text
    assert isinstance(quantize_absmax(torch.randn(2, 2)), QuantizedTensor)
