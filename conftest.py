"""pytest settings for the whole repository (package tests and notebooks alike).

One compute thread per process: the course's models are tiny, and on a shared 2-core machine
PyTorch's threads then mostly wait for each other (a training step measured 15x slower with two
threads under load than with one). Set before any kernel starts, so nbval's notebook kernels
inherit it. A learner's own Jupyter session keeps PyTorch's default.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
