"""Hints for lesson 03 (attention is a weighted average), from a nudge to a stronger pointer."""

HINTS = {
    "3.1": ["In 'the cat and the dog sat', cat is row 1 of X and dog is row 4.",
            "A dot product multiplies two vectors element by element and adds the products (torch.dot does it)."],
    "3.2": ["Section 3's formula with one row only: the scores are the dot products of q with every row of x.",
            "Scores of shape (T,) from x and q; a softmax over them; then the weights times x gives one vector."],
    "3.3": ["Property (1) assumed vectors of equal length. What happens to x_cat · x_dog when x_dog is 3 times longer?",
            "Compare 3 × (x_cat · x_dog), with x_cat · x_dog from exercise 3.1, against x_cat · x_cat = 4."],
    "3.4": ["Section 6 worked because each word's vector was the same wherever the word stood. Is that still so?",
            "Only a word at the same position in both sentences keeps its vector; but an output mixes all "
            "three vectors."],
}
