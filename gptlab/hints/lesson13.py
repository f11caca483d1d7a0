"""Hints for lesson 13 (quantization and serving), from a nudge to a stronger pointer."""

HINTS = {
    "13.1": ["Section 9 counted this for Llama 2 70B: a key and a value per head per layer, per token.",
             "Multiply: 2 (k and v) x layers x key/value heads x head size x bytes per number (bf16: 2)."],
    "13.2": ["Section 2 did it for one row: qmax from the bits, a scale from the largest |w|, then round.",
             "For a matrix take the largest |w| of each row (amax over dim=1, keeping the dimension so that "
             "it broadcasts), and divide every weight of the row by its row's scale before rounding."],
    "13.3": ["Memory alone: the weights plus every user's KV cache must fit in the GPUs' memory together.",
             "serving_memory(...) gives the total in bytes for a batch of users; GPUS['H100'].memory is one "
             "GPU's; round the quotient up, since a GPU comes whole."],
    "13.4": ["Section 5's picture: which weights decide a row's scale, and what happens to the small ones?",
             "With groups, each group of 16 inputs gets its own scale from its own largest weight. Does a "
             "finer grid for most weights raise or lower the error?"],
}
