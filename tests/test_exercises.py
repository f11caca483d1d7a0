import torch

from gptlab.exercises import check_answer, check_function


def test_check_answer_right_wrong_and_not_attempted(capsys):
    assert check_answer("a", 0.30000001, 0.3) is True
    assert check_answer("b", 0.4, 0.3, hint="add them") is False
    assert "Hint: add them" in capsys.readouterr().out
    assert check_answer("c", ..., 0.3) is None
    assert "not attempted" in capsys.readouterr().out


def test_check_answer_tensors_compare_shape_and_values():
    x = torch.tensor([1.0, 2.0])
    assert check_answer("t", x.clone(), x) is True
    assert check_answer("t", x[:1], x) is False
    assert check_answer("t", [1.0, 2.0], x) is True


def test_check_answer_never_raises_on_strange_answers():
    assert check_answer("odd", object(), 1.0) is False
    assert check_answer("odd", "abc", torch.ones(2)) is False


def test_check_function_reports_exceptions_and_wrong_cases(capsys):
    cases = [((2,), 4), ((3,), 9)]
    assert check_function("sq", lambda x: x * x, cases) is True
    assert check_function("sq", lambda x: x + x, cases) is False
    assert "returned 6" in capsys.readouterr().out
    assert check_function("sq", lambda x: 1 / 0, cases) is False

    def todo(x):
        raise NotImplementedError

    assert check_function("sq", todo, cases) is None
    assert check_function("sq", ..., cases) is None
