"""The Bengio MLP language model: shapes, loss, training, and a corpus where it beats every n-gram."""
import math
import random

import pytest
import torch
import torch.nn.functional as F

from gptlab.neural_lm import MLPLanguageModel, make_windows, perplexity, train_mlp_lm
from gptlab.ngram import EOS_ID, NGramLM
from gptlab.sampling import generate


@pytest.fixture(autouse=True)
def one_thread():
    """These matrices are tiny: one thread is as fast, and immune to oversubscribed shared CPUs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def agreement_corpus(n_sentences, seed):
    """'a3 f7 f1 b3': the last word agrees with the first, across two random fillers.

    An n-gram model with n <= 3 cannot see the first word when it predicts the last; with n = 4
    it sees it, but only inside the exact triple (a, f, f'), most of which a small corpus never
    shows. A model with embeddings can learn 'the token three back decides' once for all fillers.
    """
    rng = random.Random(seed)
    return [[f"a{i}", f"f{rng.randrange(12)}", f"f{rng.randrange(12)}", f"b{i}"]
            for i in (rng.randrange(10) for _ in range(n_sentences))]


TRAIN, HELDOUT = agreement_corpus(1500, seed=0), agreement_corpus(300, seed=1)


def windows(lm, sentences, T):
    # </s> is both the end marker to predict and the padding in front, as in makemore
    return make_windows([lm.encode(s, end=True) for s in sentences], T, pad_id=EOS_ID)


def test_forward_shapes_and_loss_is_cross_entropy(device):
    torch.manual_seed(0)
    model = MLPLanguageModel(vocab_size=11, context_size=3, d_embd=4, d_hidden=8).to(device)
    idx = torch.randint(0, 11, (5, 3), device=device)
    targets = torch.randint(0, 11, (5,), device=device)
    logits, loss = model(idx, targets)
    assert logits.shape == (5, 11) and loss.shape == ()
    assert torch.allclose(loss, F.cross_entropy(logits, targets))
    assert model(idx)[1] is None
    # by hand: look up, concatenate the three vectors, tanh layer, output layer
    concat = torch.cat([model.wte.weight[idx[:, t]] for t in range(3)], dim=1)          # (5, 12)
    hidden = torch.tanh(concat @ model.hidden.weight.T + model.hidden.bias)
    expected = hidden @ model.lm_head.weight.T + model.lm_head.bias
    assert torch.allclose(logits, expected, atol=1e-6)


def test_starts_near_uniform():
    torch.manual_seed(0)
    model = MLPLanguageModel(50, 4, 8, 32)
    _, loss = model(torch.randint(0, 50, (256, 4)), torch.randint(0, 50, (256,)))
    assert abs(loss.item() - math.log(50)) < 0.1


def test_make_windows_by_hand():
    X, Y = make_windows([[5, 6, 7], [8]], context_size=2, pad_id=0)
    assert X.tolist() == [[0, 0], [0, 5], [5, 6], [0, 0]]      # the second sentence starts afresh
    assert Y.tolist() == [5, 6, 7, 8]
    assert X.dtype == Y.dtype == torch.long
    X1, Y1 = make_windows(torch.tensor([5, 6, 7]), context_size=3, pad_id=1)
    assert X1.tolist() == [[1, 1, 1], [1, 1, 5], [1, 5, 6]] and Y1.tolist() == [5, 6, 7]
    assert make_windows([5, 6, 7], 3, 1)[0].tolist() == X1.tolist()


def test_training_lowers_the_loss_reproducibly(device):
    lm = NGramLM(1).fit(TRAIN)
    X, Y = windows(lm, TRAIN, 3)

    def run():
        torch.manual_seed(0)
        model = MLPLanguageModel(len(lm.vocab), 3, 8, 32)
        return model, train_mlp_lm(model, X, Y, steps=60, batch_size=64, lr=1e-2, device=device,
                                   generator=0, progress=False)

    model, losses = run()
    assert len(losses) == 60
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.5
    assert next(model.parameters()).device.type == device.type
    assert losses == pytest.approx(run()[1], rel=1e-4)          # same seed, same curve


def test_perplexity_is_exp_of_mean_cross_entropy():
    torch.manual_seed(0)
    model = MLPLanguageModel(7, 2, 4, 8)
    X, Y = torch.randint(0, 7, (100, 2)), torch.randint(0, 7, (100,))
    with torch.no_grad():
        expected = math.exp(F.cross_entropy(model(X)[0], Y).item())
    assert perplexity(model, X, Y, batch_size=30) == pytest.approx(expected, rel=1e-5)


def test_mlp_beats_every_ngram_on_a_structured_corpus():
    best_ngram = min(
        NGramLM(n, smoothing, k=k).fit(TRAIN).perplexity(HELDOUT)
        for n in (1, 2, 3, 4, 5)
        for smoothing, k in (("kneser-ney", 1.0), ("add-k", 0.01), ("add-k", 0.1), ("laplace", 1.0)))
    lm = NGramLM(1).fit(TRAIN)
    X, Y = windows(lm, TRAIN, 3)
    Xv, Yv = windows(lm, HELDOUT, 3)
    torch.manual_seed(0)
    model = MLPLanguageModel(len(lm.vocab), context_size=3, d_embd=8, d_hidden=64)
    train_mlp_lm(model, X, Y, steps=400, batch_size=128, lr=1e-2, generator=0, progress=False)
    mlp = perplexity(model, Xv, Yv)
    ideal = math.exp((math.log(10) + 2 * math.log(12)) / 5)  # first word and fillers random, the rest certain
    assert ideal < mlp < 0.9 * best_ngram, (mlp, best_ngram)


def test_generation_through_the_generic_sampler():
    lm = NGramLM(1).fit(TRAIN)
    torch.manual_seed(0)
    model = MLPLanguageModel(len(lm.vocab), 3, 8, 32).eval()
    logits = model.next_token_logits([lm.token_to_id["a1"]], pad_id=EOS_ID)
    assert logits.shape == (len(lm.vocab),)
    window = torch.tensor([[EOS_ID, EOS_ID, lm.token_to_id["a1"]]])
    assert torch.allclose(logits, model(window)[0][0])
    ids = generate(lambda ids: model.next_token_logits(ids, EOS_ID), [], 6, generator=1, stop_token=EOS_ID)
    assert ids == generate(lambda ids: model.next_token_logits(ids, EOS_ID), [], 6, generator=1, stop_token=EOS_ID)
    assert 1 <= len(ids) <= 6 and all(0 <= i < len(lm.vocab) for i in ids)


@pytest.mark.parametrize("kwargs,match", [
    (dict(vocab_size=0), "vocab_size=0 must be at least 1"),
    (dict(context_size=0), "context_size=0 must be at least 1"),
    (dict(activation="relu"), "activation='relu' is not supported"),
    (dict(dropout=1.0), "dropout=1 must be less than 1"),
])
def test_bad_model_arguments(kwargs, match):
    args = dict(vocab_size=5, context_size=2, d_embd=4, d_hidden=8) | kwargs
    with pytest.raises(ValueError, match=match):
        MLPLanguageModel(**args)


def test_bad_training_arguments():
    model = MLPLanguageModel(5, 2, 4, 8)
    X, Y = torch.zeros(4, 2, dtype=torch.long), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="steps=0 must be at least 1"):
        train_mlp_lm(model, X, Y, steps=0, progress=False)
    with pytest.raises(ValueError, match="lr=0 must be greater than 0"):
        train_mlp_lm(model, X, Y, steps=1, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="they must match"):
        train_mlp_lm(model, X, Y[:3], steps=1, progress=False)
    with pytest.raises(ValueError, match="context_size=2"):
        model(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="token_ids is empty"):
        make_windows([[], []], 2, 0)


def test_train_mlp_lm_is_the_hand_written_loop_of_lesson_01():
    """Lesson 01 §9.4 writes the loop by hand (lookup, tanh, dropout, cross-entropy, AdamW, cosine) and
    claims train_mlp_lm gives the same losses and weights on the same seeds."""
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randint(0, 20, (300, 3), generator=g), torch.randint(0, 20, (300,), generator=g)
    steps, batch_size, lr = 12, 32, 2e-2

    torch.manual_seed(0)
    hand = MLPLanguageModel(20, 3, d_embd=8, d_hidden=16, dropout=0.5)
    batches = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(hand.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=lr / 10)
    hand_losses = []
    for _ in range(steps):
        batch = torch.randint(0, X.size(0), (batch_size,), generator=batches)
        x = hand.wte.weight[X[batch]].reshape(batch_size, -1)
        h = F.dropout(torch.tanh(x @ hand.hidden.weight.T + hand.hidden.bias), p=0.5, training=True)
        loss = F.cross_entropy(h @ hand.lm_head.weight.T + hand.lm_head.bias, Y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        hand_losses.append(loss.item())

    torch.manual_seed(0)
    packaged = MLPLanguageModel(20, 3, d_embd=8, d_hidden=16, dropout=0.5)
    losses = train_mlp_lm(packaged, X, Y, steps=steps, batch_size=batch_size, lr=lr, device="cpu", generator=0,
                          progress=False)
    assert losses == pytest.approx(hand_losses, rel=1e-5)
    assert hand_losses[-1] < hand_losses[0]
    for a, b in zip(hand.parameters(), packaged.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
