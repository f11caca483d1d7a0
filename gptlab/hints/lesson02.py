"""Hints for lesson 02 (autoregressive generation), from a nudge to a stronger pointer."""

HINTS = {
    "2.1": ["T = 0.3 sharpens the distribution: the favourite word's share grows a lot, but the others "
            "keep a little probability.",
            "Greedy falls into a loop and never leaves; a cooled sampler follows greedy most of the time. "
            "How long does it stay in a loop before an unlikely draw takes it out?"],
    "2.2": ["Temperature comes first: compute softmax(log p / 2) for the four tokens, then apply top-p 0.8.",
            "Dividing log p by 2 turns each p into its square root; renormalise so they sum to 1, then add them "
            "up from the largest until the running sum reaches 0.8, counting the tokens you needed."],
    "2.3": ["Only token 0 is penalised, and its shifted logit is negative.",
            "Section 5.1: a negative logit is multiplied by θ, not divided. Penalise it, then take the softmax "
            "of the three logits."],
    "2.4": ["The logit of each used word is log p, a negative number, so the penalty multiplies it by θ.",
            "θ · log p is the log of p raised to the power θ. Divide the two words' new values."],
    "2.5": ["At a tiny temperature every word but the top two gets e^(-(its gap) / T), which is 0 for all purposes.",
            "For two words, softmax(logits / T) gives the leader 1 / (1 + e^(-gap / T)); the gap is printed in 7.4."],
}
