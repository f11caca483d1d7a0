"""Hints for lesson 00 (start here), from a nudge to a stronger pointer."""

HINTS = {
    "0.1": ["Each entry of `words` is one token of the made-up vocabulary.",
            "Python's len() counts the entries of a list."],
    "0.2": ["Temperature divides every score before the softmax. Dividing by 2 halves the gaps between the scores.",
            "With smaller gaps between scores, are the probabilities more alike or less alike?"],
    "0.3": ["torch.softmax(logits, dim=0) gives the eight probabilities; they sum to 1.",
            "Sort them from largest to smallest (.sort(descending=True).values) and add up the first three."],
}
