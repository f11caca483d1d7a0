"""Rebuild the pretrained checkpoints that ship in gptlab/checkpoints/, each with its lesson's own settings.

    python scripts/train_checkpoints.py                 # every recipe
    python scripts/train_checkpoints.py --only lesson10 # one (repeat --only for more)
    python scripts/train_checkpoints.py --list

Each recipe is a file scripts/checkpoint_recipes/<name>.py defining NAME, DESCRIPTION, LESSON and
make() -> dict: it trains the lesson's model, calls gptlab.pretrained.save and returns the metrics.
Recipes train on the CPU by default, so a rebuild reproduces the recorded numbers; --device cuda is faster.
"""
from __future__ import annotations

import argparse
import importlib.util
import inspect
import sys
import time
from pathlib import Path

RECIPES = Path(__file__).resolve().parent / "checkpoint_recipes"
sys.path.insert(0, str(RECIPES.parent.parent))  # the repository's gptlab, also when it is not installed
sys.path.insert(0, str(RECIPES))  # recipes share helpers in files whose names start with "_"


def load_recipes() -> dict:
    recipes = {}
    for path in sorted(RECIPES.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"checkpoint_recipes.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for attr in ("NAME", "DESCRIPTION", "LESSON", "make"):
            if not hasattr(module, attr):
                raise SystemExit(f"{path}: a recipe defines NAME, DESCRIPTION, LESSON and make(); {attr} is missing")
        if module.NAME in recipes:
            raise SystemExit(f"{path}: NAME {module.NAME!r} is already used by another recipe")
        recipes[module.NAME] = module
    return recipes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", metavar="NAME", help="rebuild only this checkpoint (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the recipes and exit")
    parser.add_argument("--device", default=None, help="train on this device (default: each recipe's, the CPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    args = parser.parse_args(argv)

    recipes = load_recipes()
    if args.list:
        for name, module in recipes.items():
            print(f"{name:<24} lesson {module.LESSON:>2}  {module.DESCRIPTION}")
        return 0
    names = args.only or list(recipes)
    unknown = [n for n in names if n not in recipes]
    if unknown:
        print(f"no recipe named {', '.join(map(repr, unknown))}; recipes: {', '.join(recipes)}", file=sys.stderr)
        return 2
    import torch

    from gptlab import pretrained

    if args.threads:
        torch.set_num_threads(args.threads)
    for name in names:
        make = recipes[name].make
        kwargs = {"device": args.device} if args.device and "device" in inspect.signature(make).parameters else {}
        print(f"== {name}: {recipes[name].DESCRIPTION}", flush=True)
        start = time.perf_counter()
        metrics = make(**kwargs)
        seconds = time.perf_counter() - start
        loaded = pretrained.load(name, device="cpu")  # checks the hash and that the weights fit
        files = [pretrained.CHECKPOINT_DIR / f"{name}{ext}" for ext in (".pt", ".json")]
        sizes = ", ".join(f"{f.name} {f.stat().st_size / 2**20:.2f} MB" for f in files)
        shown = ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        print(f"   {seconds:.0f} s; {loaded.model.num_parameters():,} parameters; {sizes}; {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
