"""gptlab: the package the course's notebooks stand on.

One module per idea of the course, in the order the lessons meet them:

- ``data``, ``tokenizers``: corpora (offline) and text <-> token ids          (lessons 01, 10)
- ``ngram``, ``neural_lm``: counting language models and the first neural LM  (lesson 01)
- ``sampling``: from next-token scores to generated text                      (lesson 02)
- ``attention``, ``dot_product_scaling`` (why q·k is divided by sqrt(d)), ``positional``, ``block``:
  attention to the transformer block                                          (lessons 03-09)
- ``model``, ``train``: a GPT and a training loop that knows nothing about it  (lesson 10)
- ``scaling_laws``: bigger models, lower loss (the other "scaling")            (lesson 10)
- ``moe``: mixture of experts                                                  (lesson 11)
- ``plotting`` (matplotlib figures) and ``widgets`` (ipywidgets explorers over them)
- ``i18n``: the course in Chinese too (``gptlab.set_language("zh_CN")``, ``python -m gptlab.i18n``)

Submodules are imported on first use: ``import gptlab`` stays fast, and
``from gptlab.attention import MultiHeadAttention`` reads the file whose name says what it holds.
"""
from importlib import import_module

from . import _notebook
from .device import available_devices, describe_device, fastest_num_threads, pick_device
from .i18n import get_language, set_language

_notebook.install()  # inside Jupyter: a cell run too early says which cell to run first

__version__ = "0.1.0"

_SUBMODULES = ("data", "tokenizers", "ngram", "neural_lm", "sampling", "attention", "dot_product_scaling",
               "positional", "block", "diagnostics", "model", "train", "scaling_laws", "moe", "exercises",
               "plotting", "widgets", "device",
               # lessons 12-15 (each module arrives with its lesson)
               "pretrained", "alignment", "quantization", "serving", "distributed")

__all__ = ["available_devices", "describe_device", "fastest_num_threads", "pick_device", "set_language", "get_language",
           *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gptlab' has no attribute {name!r}")
