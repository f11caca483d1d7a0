"""Hints for lesson 12 (from GPT to ChatGPT in miniature), from a nudge to a stronger pointer."""

HINTS = {
    "12.1": ["Section 4 wrote the Bradley-Terry loss for one pair as -log σ(r_chosen - r_rejected).",
             "σ(x) = 1 / (1 + e^(-x)); here the difference is 2.0 - 0.5. math.exp and math.log are enough."],
    "12.2": ["Section 6: DPO's implicit reward of an answer is β times how much more log-probability the policy "
             "gives it than the reference does.",
             "Work out β(π_c - ref_c) - β(π_r - ref_r) first, then apply the same -log σ(...) as in 12.1."],
    "12.3": ["Section 3's mask is True on the tokens the model must learn to produce: the answer and its stop.",
             "One character is one token. Count the characters of the answer, then add the newline that ends it."],
    "12.4": ["Section 3 trained on N_DEMOS demonstrations; here you train the same base model on far fewer.",
             "Fewer examples cover fewer of the words and tasks the test asks about. Write your word, then run "
             "the cell below it: it prints both accuracies and checks your prediction."],
}
