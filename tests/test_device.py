"""Device choice (CUDA, then MPS, then CPU) and the CPU thread count that is measured, not guessed."""
from __future__ import annotations

import types

import pytest
import torch

import gptlab.device
from gptlab.device import (
    available_devices,
    describe_device,
    describe_thread_timing,
    fastest_num_threads,
    pick_device,
    pick_training_threads,
)


def test_pick_device_prefers_cuda_then_mps_then_cpu():
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device().type == expected
    assert pick_device("cpu") == torch.device("cpu")
    assert torch.device("cpu") in available_devices()


def test_pick_device_names_what_is_available_when_asked_for_the_impossible():
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available here"):
            pick_device("cuda")
    with pytest.raises(ValueError, match="not supported"):
        pick_device("meta")


def test_describe_device_says_threads_on_cpu():
    n = torch.get_num_threads()
    assert describe_device(torch.device("cpu")) == f"cpu: {n} thread{'' if n == 1 else 's'}"


@pytest.fixture
def restore_threads(monkeypatch):
    before = torch.get_num_threads()
    # a fake clock, so the timing tests do not depend on how busy the machine is: only the
    # steps of _sleep_by_threads move it
    clock = [0.0]
    fake_time = types.SimpleNamespace(perf_counter=lambda: clock[0],
                                      sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    monkeypatch.setattr(gptlab.device, "time", fake_time)
    yield
    torch.set_num_threads(before)


def _sleep_by_threads(seconds: dict[int, float]):
    """A step whose duration depends only on the current thread count (a stand-in for real work)."""
    seen = []

    def step():
        seen.append(torch.get_num_threads())
        gptlab.device.time.sleep(seconds[torch.get_num_threads()])

    return step, seen


def test_fastest_num_threads_picks_the_clearly_faster_count(restore_threads):
    step, seen = _sleep_by_threads({1: 0.02, 2: 0.005})
    best, timings = fastest_num_threads(step, candidates=[1, 2], rounds=2, calls=1)
    assert best == 2 and torch.get_num_threads() == 2
    assert timings[1] > timings[2]
    assert sorted(set(seen)) == [1, 2] and len(seen) == 2 + 2 * 2  # a warm-up each, then 2 rounds of 1 call


def test_fastest_num_threads_keeps_fewer_threads_unless_more_are_clearly_faster(restore_threads):
    torch.set_num_threads(1)
    step, _ = _sleep_by_threads({1: 0.01, 2: 0.0097})  # 3% faster: within the 10% margin
    best, _ = fastest_num_threads(step, candidates=[1, 2], rounds=1, calls=1)
    assert best == 1


def test_fastest_num_threads_can_leave_the_setting_alone(restore_threads):
    torch.set_num_threads(1)
    step, _ = _sleep_by_threads({1: 0.02, 2: 0.001})
    best, _ = fastest_num_threads(step, candidates=[1, 2], rounds=1, calls=1, apply=False)
    assert best == 2 and torch.get_num_threads() == 1


def test_fastest_num_threads_restores_the_setting_when_the_step_fails(restore_threads):
    torch.set_num_threads(1)

    def broken():
        raise RuntimeError("shape mismatch in the step")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        fastest_num_threads(broken, candidates=[1, 2])
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(candidates=[0, 1]), "candidates"),
    (dict(candidates=[]), "candidates"),
    (dict(rounds=0), "rounds"),
    (dict(calls=1.5), "calls"),
])
def test_fastest_num_threads_rejects_bad_settings(kwargs, message, restore_threads):
    with pytest.raises(ValueError, match=message):
        fastest_num_threads(lambda: None, **kwargs)


def test_fastest_num_threads_needs_a_function(restore_threads):
    with pytest.raises(ValueError, match="step must be a function"):
        fastest_num_threads(torch.zeros(3))


def test_describe_thread_timing_says_which_won_and_by_how_much():
    assert describe_thread_timing(1, {1: 0.057, 2: 1.558}) == \
        "training on 1 CPU thread: one step 57 ms; 27.3x slower with 2"
    assert describe_thread_timing(2, {1: 0.056, 2: 0.040}) == \
        "training on 2 CPU threads: one step 40 ms; 1.4x slower with 1"
    # a count that was faster but not by the margin is reported as such, not as slower
    assert "1.05x faster with 2, within the margin" in describe_thread_timing(1, {1: 0.042, 2: 0.040})
    assert describe_thread_timing(1, {1: 0.01}) == "training on 1 CPU thread: one step 10 ms"
    with pytest.raises(ValueError, match="best=3"):
        describe_thread_timing(3, {1: 0.01})


def test_pick_training_threads_leaves_the_model_unchanged(restore_threads):
    from gptlab.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    line = pick_training_threads(model, torch.randint(0, 11, (2, 9)), candidates=[1], rounds=1, calls=1)
    assert line.startswith("training on 1 CPU thread: one step ")
    assert torch.get_num_threads() == 1
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="batch must be"):
        pick_training_threads(model, torch.randint(0, 11, (9,)))
