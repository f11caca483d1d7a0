"""Hints for lesson 11 (mixture of experts), from a nudge to a stronger pointer."""

HINTS = {
    "11.1": ["A token runs the router and its top_k experts, nothing else; count one expert first.",
             "One expert: two Linear layers, 64 -> 256 and 256 -> 64, each with a bias. "
             "The router: a 64 x 8 matrix without bias. Add the router to two experts."],
    "11.2": ["Section 2 did this in two steps: keep the k best probabilities of each row, then divide them "
             "by their row sum.",
             "Tensor.topk(k, dim=-1) gives the values and their indices; torch.zeros_like(...).scatter(-1, "
             "indices, values) writes values into a zero matrix at those columns."],
    "11.3": ["Section 3 defined f (each expert's share of the assignments) and P (the router's "
             "mean probability for it).",
             "Here every assignment went to one expert, so only one of the four products f_i * P_i is not zero."],
    "11.4": ["First compute the capacity of one expert from section 8's formula.",
             "capacity = ceil(capacity_factor x tokens x top_k / n_experts); every assignment beyond it is dropped."],
    "11.5": ["The model learned to expect a mix of two experts per token, with gates that sum to 1.",
             "With top_k=1 each token gets its best expert's output at gate 1 and loses the second expert's "
             "contribution that training relied on. Does a model usually do better on inputs unlike training?"],
}
