"""Hints for lesson 09 (masking), from a nudge to a stronger pointer."""

HINTS = {
    "9.1": ["The mask blocks every entry strictly above the diagonal.",
            "Count them row by row: 9 + 8 + ... + 1."],
    "9.2": ["Section 3: build the lower triangle of a boolean matrix of ones, then hide what lies above it.",
            "Fill the blocked scores with minus infinity before the softmax over the last dimension."],
    "9.3": ["How many keys may the query at position 3 look at, once the mask hides the future?",
            "Equal scores give equal weights, and the weights of a row sum to 1."],
    "9.4": ["Which queries may look at key 6?",
            "Those at positions j with 6 <= j; the others never see the changed token."],
}
HINTS["9.5"] = ["Section 6's heat map: where did the cheater learn to look?",
                "With the mask on, the character it learned to copy is hidden. Did it ever learn to predict?"]
