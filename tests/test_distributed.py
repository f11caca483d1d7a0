"""Data-parallel training (gptlab/distributed.py, Trainer under torchrun, scripts/train_gpt.py), on CPU with gloo."""
import importlib.util
import json
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch

import gptlab.distributed as gd
import gptlab.train
from gptlab.distributed import DistInfo, backend_for, env_info, shard
from gptlab.train import Trainer, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "train_gpt.py"
ARGS = ["--preset", "tiny", "--steps", "6", "--threads", "1", "--no-progress"]


def load_script():
    spec = importlib.util.spec_from_file_location("train_gpt", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_process_run():
    """The reference: the script's run in this process, no process group, the same global batch."""
    script = load_script()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, _, train_config, train_ids, val_ids = script.build(script.parse_args(ARGS))
        trainer = Trainer(model, train_config, train_ids, val_ids)
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    return trainer


def test_two_gloo_processes_end_with_the_weights_and_losses_of_one(tmp_path):
    out = tmp_path / "two.pt"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT),
           *ARGS, "--device", "cpu", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = [json.loads(line[len("RESULT "):]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(results) == 1 and results[0]["world_size"] == 2  # only rank 0 reports
    assert done.stdout.count("preset tiny:") == 1

    reference = one_process_run()
    model = load_script().build(load_script().parse_args(ARGS))[0]
    checkpoint = load_checkpoint(out, model)
    for name, weight in reference.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], weight, rtol=0, atol=1e-5, msg=name)
    two, one = checkpoint["trainer"]["history"], reference.history
    assert two["steps"] == one.steps == list(range(1, 7))
    assert two["train_loss"] == pytest.approx(one.train_loss, abs=1e-5)  # averaged over both processes
    assert two["grad_norm"] == pytest.approx(one.grad_norm, abs=1e-5)
    assert two["tokens_seen"] == one.tokens_seen  # the global batch, counted once
    assert two["eval_steps"] == one.eval_steps and two["val_loss"] == pytest.approx(one.val_loss, abs=1e-5)
    assert checkpoint["config"]["model"]["n_embd"] == 32 and checkpoint["config"]["train"]["batch_size"] == 8


def test_a_batch_that_the_processes_cannot_split_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(gd, "setup", lambda device: (DistInfo(rank=0, world_size=2), torch.device("cpu")))
    script = load_script()
    model, _, train_config, train_ids, val_ids = script.build(script.parse_args([*ARGS, "--batch-size", "7"]))
    with pytest.raises(ValueError, match=r"batch_size=7 is the global batch and must split evenly over the 2 "
                                         r"processes; use a multiple of 2, e.g. 6 or 8"):
        Trainer(model, train_config, train_ids, val_ids)
    assert gptlab.train.distributed is gd


def test_rank_1_trains_on_its_slice_and_neither_evaluates_nor_saves(monkeypatch, tmp_path):
    """Pretend to be rank 1 of 2 (no group: DDP and the loss all-reduce are stubbed out)."""
    monkeypatch.setattr(gd, "setup", lambda device: (DistInfo(rank=1, world_size=2, local_rank=1),
                                                     torch.device("cpu")))
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", lambda model, device_ids=None: model)
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda tensor: tensor.mul_(2))  # both ranks equal
    script = load_script()
    model, _, cfg, train_ids, val_ids = script.build(script.parse_args(ARGS))
    seen, events = [], []
    forward = model.forward
    model.forward = lambda x, y=None: (seen.append(x.shape), forward(x, y))[1]
    trainer = Trainer(model, cfg, train_ids, val_ids, callbacks=[lambda t, e: events.append(e)])
    trainer.fit()
    assert seen == [(4, 32)] * 6  # half of the global batch of 8, and no evaluation batches
    assert trainer.history.eval_steps == [] and events == []  # rank 0 evaluates and runs the callbacks
    assert trainer.history.tokens_seen[-1] == 6 * 8 * 32
    assert trainer.save_checkpoint(tmp_path / "r1.pt") == tmp_path / "r1.pt" and not (tmp_path / "r1.pt").exists()


def test_shard_gives_contiguous_equal_slices():
    batch = torch.arange(12).view(6, 2)
    parts = [shard(batch, DistInfo(rank=r, world_size=3)) for r in range(3)]
    assert torch.equal(torch.cat(parts), batch) and all(p.shape == (2, 2) for p in parts)
    with pytest.raises(ValueError, match="6 rows does not split evenly over 4 processes"):
        shard(batch, DistInfo(rank=0, world_size=4))
    with pytest.raises(TypeError, match="batch="):
        shard([1, 2], DistInfo())


ENV = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


@pytest.mark.parametrize("env, expected", [
    ({}, DistInfo()),
    ({"WORLD_SIZE": "1"}, DistInfo()),
    (ENV, DistInfo(rank=1, world_size=2, local_rank=1)),
])
def test_env_info_reads_what_torchrun_sets(env, expected):
    assert env_info(env) == expected
    assert env_info(env).is_main == (expected.rank == 0) and env_info(env).enabled == (expected.world_size > 1)


@pytest.mark.parametrize("env, match", [
    ({**ENV, "WORLD_SIZE": "two"}, r"WORLD_SIZE='two' must be a whole number"),
    ({**ENV, "WORLD_SIZE": "0"}, r"WORLD_SIZE=0 must be at least 1"),
    ({k: v for k, v in ENV.items() if k != "MASTER_ADDR"}, r"WORLD_SIZE=2 is set but MASTER_ADDR not; .*torchrun"),
    ({**ENV, "RANK": "2"}, r"RANK=2 must be below WORLD_SIZE=2"),
    ({**ENV, "RANK": "-1"}, r"RANK=-1 must be at least 0"),
])
def test_env_info_bad_environment(env, match):
    with pytest.raises(ValueError, match=match):
        env_info(env)


def test_backend_for_each_device():
    assert backend_for("cpu") == "gloo" and backend_for(torch.device("cuda", 1)) == "nccl"
    with pytest.raises(ValueError, match="'cuda' \\(nccl\\) or 'cpu' \\(gloo\\)"):
        backend_for("mps")


def test_without_torchrun_setup_changes_nothing(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info, device = gd.setup(torch.device("cpu"))
    assert info == DistInfo() and device == torch.device("cpu") and not torch.distributed.is_initialized()


@pytest.mark.parametrize("fault", [KeyboardInterrupt, RuntimeError])
def test_ctrl_c_or_an_error_destroys_the_group(monkeypatch, fault):
    """Rank 0 of 2 (stubbed group): Ctrl-C or an error inside fit destroys the group, then propagates."""
    monkeypatch.setattr(gd, "setup", lambda device: (DistInfo(rank=0, world_size=2), torch.device("cpu")))
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", lambda model, device_ids=None: model)
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda tensor: tensor.mul_(2))
    destroyed = []
    monkeypatch.setattr(gd, "cleanup", lambda: destroyed.append(True))

    def fail_at_2(trainer, event):
        if event == "step" and trainer.step == 2:
            raise fault("stop")

    script = load_script()
    model, _, cfg, train_ids, val_ids = script.build(script.parse_args(ARGS))
    trainer = Trainer(model, cfg, train_ids, val_ids, callbacks=[fail_at_2])
    with pytest.raises(fault), pytest.warns(UserWarning) if fault is KeyboardInterrupt else nullcontext():
        trainer.fit()
    assert destroyed == [True] and trainer.step == 2
    assert trainer.history.interrupted == (fault is KeyboardInterrupt)
