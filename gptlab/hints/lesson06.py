"""Hints for lesson 06 (multi-head attention), from a nudge to a stronger pointer."""

HINTS = {
    "6.1": ["Every head gets an equal share of d_model's dimensions.",
            "Divide d_model by the number of heads (integer division)."],
    "6.2": ["Section 2 split q into heads in two steps: one regroups each token's C numbers, one moves an axis.",
            "First view x as (B, T, n_head, C // n_head); then swap the T axis and the head axis."],
    "6.3": ["With n_kv_head = 4 and head_dim = 768 / 12, each of k_proj and v_proj maps 768 inputs to "
            "n_kv_head x head_dim outputs.",
            "A Linear from 768 to 256 holds 768 x 256 weights plus 256 biases; there are two of them."],
    "6.4": ["Section 4: the cache keeps a key and a value vector per layer, per K/V head, per token.",
            "Multiply 2 (K and V), the layers, the K/V heads (MQA: 1), the tokens, head_dim and 2 bytes; "
            "then divide by 2**20."],
    "6.5": ["How many bytes do the weights of one layer take (about 12 x d_model² float32 numbers)? "
            "How many does an 80-token cache take?",
            "When the weights are most of the bytes, shrinking the cache 8-fold barely changes the total."],
}
