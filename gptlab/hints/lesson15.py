"""Hints for lesson 15 (from GPT-2 to Llama and Qwen), from a nudge to a stronger pointer."""

HINTS = {
    "15.1": ["SwiGLU has three Linear layers and, in the Llama recipe, no biases.",
             "gate and up each map d_model to d_hidden; down maps d_hidden back to d_model. Count the "
             "weights of one and multiply."],
    "15.2": ["Section 4's formula: two vectors (a key and a value) per KV head, per layer, per token.",
             "Only the KV heads count, not the 64 query heads; head_dim is the width shared out among the query "
             "heads. The formula gives bytes; the question asks for KiB."],
    "15.3": ["What do fewer key/value heads take away from a model this small, and what do they leave?",
             "Section 7's GQA step (4 KV heads to 2) is your best evidence: how did its loss change compare with "
             "the spread between seeds in that table? Decide whether going on to 1 KV head should be different."],
}
