"""Hints for lesson 07 (the Transformer block), from a nudge to a stronger pointer."""

HINTS = {
    "7.1": ["Take the mean and the variance over the last dimension only, keeping that dimension so "
            "that they broadcast back over x.",
            "LayerNorm uses the population variance (unbiased=False), and divides by the square root of "
            "variance plus eps."],
    "7.2": ["A LayerNorm over 64 features holds a γ and a β of 64 numbers each; a Linear holds in × out "
            "weights plus out biases.",
            "Attention has four 64 → 64 projections; the MLP goes 64 → 256 and 256 → 64."],
    "7.3": ["Section 4 writes GELU(z) as z times the standard normal CDF, and gives that CDF with erf.",
            "The CDF is one half of (1 + erf(z divided by the square root of 2))."],
    "7.4": ["Follow the residual stream down from the output in the post-LN picture of section 4.",
            "Every residual sum in a post-LN block is followed by a LayerNorm; how many sums does a block have?"],
    "7.5": ["The table: post-LN without warm-up trained with 6 blocks and stalled with 12.",
            "Your answer is a depth, 8, 10 or 12; the run prints each depth's final loss beside the plateau."],
}
