"""Hints for lesson 04 (queries, keys and values), from a nudge to a stronger pointer."""

HINTS = {
    "4.1": ["SelfAttention holds one matrix per role, with no biases.",
            "Each of the three matrices maps d_model = 24 numbers to d_head = 16."],
    "4.2": ["Section 2 did it in four lines: project, score, softmax, average.",
            "Project x three times; the scores are queries times keys transposed, divided by the square root "
            "of d_head (the number of columns of W_q); softmax each row; the weights times the values."],
    "4.3": ["Cross-attention: one row of weights per query token, one column per context token.",
            "Section 3 printed the weights' shape for 5 queries and 7 keys."],
    "4.4": ["Write the score q_i · k_j as (x_i W_q R)(x_j W_k R)ᵀ and multiply it out.",
            "(A R)(B R)ᵀ = A R Rᵀ Bᵀ, and R Rᵀ = I."],
}
