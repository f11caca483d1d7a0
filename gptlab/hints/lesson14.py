"""Hints for lesson 14 (tokens), from a nudge to a stronger pointer."""

HINTS = {
    "14.1": ["Section 1 printed how many bytes one Chinese character and one ASCII letter take in UTF-8.",
             "Count the characters of each kind: three Chinese ones (the full-width comma is one of them) "
             "and three Latin letters."],
    "14.2": ["Walk through the list with an index; at each position look at the element and the next one.",
             "When the two equal the pair, append new_id and jump two places; otherwise append the element "
             "and move one place. Section 2's loop does this."],
    "14.3": ["A merge is learned because a pair is frequent in the training text. What is frequent in a few "
             "scenes of one play that is rare in the rest of Shakespeare?",
             "Fewer training characters: the last merges fit names and words of those scenes. On other text "
             "they are rarely used, so more of it falls back to shorter tokens."],
    "14.4": ["Section 6 gives the formula; the ratio of tokens to characters is the tokens per character.",
             "Divide the loss by ln 2 (math.log(2)) to turn nats into bits, then multiply by n_tokens / n_characters."],
}
