"""Hints for lesson 05 (scaling the dot product), from a nudge to a stronger pointer."""

HINTS = {
    "5.1": ["Each term qᵢkᵢ has variance E[qᵢ²]·E[kᵢ²].",
            "There are d independent terms, and the variances of independent terms add."],
    "5.2": ["Dividing a random number by c divides its variance by c².",
            "Which c makes (the variance from 5.1) / c² equal to 1?"],
    "5.3": ["Entry (i, j) is ∂pᵢ/∂sⱼ = pᵢ(δᵢⱼ − pⱼ).",
            "As a matrix: a diagonal matrix holding p, minus the outer product of p with itself."],
    "5.4": ["Write out diag(p) − ppᵀ for this p: only the top-left 2×2 block is non-zero.",
            "Each of those four entries is ±0.25; the norm is the square root of the sum of their squares."],
    "5.5": ["Unscaled, the scores have standard deviation √d_head. What is it at 64, and at 512?",
            "Section 4 multiplied scores of spread 1 by a factor c and printed |J| for each c: where do 8 and "
            "22.6 sit in that table?"],
}
