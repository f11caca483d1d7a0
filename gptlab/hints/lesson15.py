"""Hints for lesson 15 (from GPT-2 to Llama and Qwen), from a nudge to a stronger pointer."""

HINTS = {
    "15.1": ["SwiGLU has three Linear layers and, in the Llama recipe, no biases.",
             "gate and up each map d_model to d_hidden; down maps d_hidden back to d_model. Count the "
             "weights of one and multiply."],
    "15.2": ["Section 4's formula: two vectors (a key and a value) per KV head, per layer, per token.",
             "head_dim = 8192 / 64; multiply 2 x layers x KV heads x head_dim x 2 bytes, then divide by 1024."],
    "15.3": ["What do fewer key/value heads take away from a model this small, and what do they leave?",
             "The cache shrinks by n_head / n_kv_head exactly; the loss moves by about as much as one seed "
             "differs from another (section 7's ranges). Compare the two printed losses."],
}
