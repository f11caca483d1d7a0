"""Hints for lesson 14 (tokens), from a nudge to a stronger pointer."""

HINTS = {
    "14.1": ["Section 1 printed how many bytes one Chinese character and one ASCII letter take in UTF-8.",
             "Count the characters of each kind: three Chinese ones (the full-width comma is one of them) "
             "and three Latin letters."],
    "14.2": ["Start as section 2 did, from the text's UTF-8 bytes. The merges dict keeps the order in which "
             "the merges were learned, and that order matters: a later merge can join an earlier one's id.",
             "Take the merges one at a time, in order; for each, rewrite the whole list as section 2's inner "
             "loop did (when the pair is found, emit the new id and skip both). Return the list at the end."],
    "14.3": ["A merge is learned because a pair is frequent in the training text. How many frequent pairs "
             "can 30,000 characters offer to 1,744 merges?",
             "Read the small tokenizer's last tokens, which the cell prints: would held-out text contain them "
             "often? A merge that held-out text never uses saves it nothing."],
    "14.4": ["Section 6 gives the formula; the ratio of tokens to characters is the tokens per character.",
             "First turn the loss per token into bits per token (section 6 says how to change the unit), "
             "then ask how many tokens one character costs on average."],
}
