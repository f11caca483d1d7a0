"""Hints for lesson 01 (counting language models), from a nudge to a stronger pointer."""

HINTS = {
    "1.1": ["Pad the sentence with <s> in front and </s> at the end; there is one factor per predicted token.",
            "Each factor is count(prev, word) / count(prev) from section 4's counters. Several of them are 1/1 "
            "here: the words of 'do not like green eggs and ham' occur only once, always in that order."],
    "1.2": ["Section 6's add-k formula with the toy counts: count(i, am) = 2, count(i) = 3, V = 12.",
            "Set (2 + k) / (3 + 12 k) equal to 1/2, multiply out and solve for k."],
    "1.3": ["Perplexity is exp of the average of -log p over the predictions.",
            "-log(1/2) = log 2 and -log(1/8) = 3 log 2. Average the four values, then take exp."],
    "1.4": ["With Laplace, every token gets one extra pseudo-count after every context.",
            "A never-seen token after 'sam' gets (0 + 1) / (count(sam) + V). How many such tokens are there?"],
    "1.5": ["k trades two errors: the seen bigrams lose what the unseen ones gain.",
            "With V above a thousand, k * V pseudo-counts are added to every context's count: compare that with "
            "how often a typical context was seen in 3,000 sentences."],
}
