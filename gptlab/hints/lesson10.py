"""Hints for lesson 10 (a tiny GPT), from a nudge to a stronger pointer."""

HINTS = {
    "10.1": ["Section 2 counted one block by component: attention, MLP, two LayerNorms, each with its biases.",
             "Attention: four C x C matrices and four bias vectors of C. MLP: C x 4C and 4C x C, biases 4C and C. "
             "Each LayerNorm: a scale and a shift of C. Put C = 768 into the sum."],
    "10.2": ["Forward, a weight costs one multiply and one add per token; backward costs about twice the forward.",
             "That makes 6 FLOPs per weight per token (the 6N); attention's two products without weights "
             "(scores and the weighted sum) add 12 times layers x context x width."],
    "10.3": ["The model's logits have shape (B, T, V); which position predicts the token after the prompt?",
             "Take the last position's row for every sequence, then the index of its largest score over the "
             "vocabulary (no gradients needed)."],
    "10.4": ["Lesson 06, section 4: the cache holds one key and one value vector per layer, per head, per token.",
             "Multiply 2 (keys and values), the layers, the tokens, the heads times the head size (= n_embd) "
             "and 4 bytes per float32 number."],
    "10.5": ["Every run in section 8 knows its training FLOPs per token.",
             "Divide the biggest model's flops_per_token by the smallest's (the runs are in size order) and round."],
    "10.6": ["Think of guessing the next letter of a word you see only the end of, against seeing the whole line.",
             "The model was trained to use every character of its 64-character window; what happens to its "
             "guesses when most of that window is taken away?"],
}
