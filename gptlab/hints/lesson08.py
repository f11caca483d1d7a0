"""Hints for lesson 08 (position), from a nudge to a stronger pointer."""

HINTS = {
    "8.1": ["Column 1 belongs to the first pair of columns (i = 0): is it a sin or a cos?",
            "The first pair turns at speed 1/10000^0 = 1, so its angle at position 2 is 2 radians."],
    "8.2": ["A learned position table is an nn.Embedding with one row per position.",
            "It holds num_positions x d_model numbers; GPT-2 has 1024 positions and width 768."],
    "8.3": ["With RoPE the score of a query at m and a key at n depends only on one number made from m and n.",
            "Which pairs (m, n) in the list share the same m - n as the first one?"],
    "8.4": ["Without positions the model sees a sequence and its shuffles as the same bag of tokens: "
            "it must give them all one answer.",
            "For each bag, one sequence in four is sorted: which single answer is right most often, and how often?"],
    "8.5": ["Section 3: the even columns hold sin, the odd ones cos, of the angle pos x omega_i.",
            "omega_i = 1 / 10000^(2i/d) for pair i; build a (T, 1) column of positions and a (d/2,) row of speeds."],
}
HINTS["8.6"] = ["The cosine similarity of two codes is the average, over the pairs, of cos(offset x speed).",
                "Slow pairs give about 1 at either width; with fewer fast pairs, their cosines average out less."]
