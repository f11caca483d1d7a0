"""gptlab.exercises: verdicts, lenient comparison, hints on request; gptlab._notebook: out-of-order cells."""
import os
import re
from pathlib import Path

import nbformat
import pytest
import torch

from gptlab import _notebook, exercises
from gptlab.exercises import answers_match, check_answer, check_function, hint, hints_for, register_hints

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(autouse=True)
def _fresh_hints():
    saved_extra, saved_revealed = dict(exercises._EXTRA_HINTS), dict(exercises._REVEALED)
    yield
    exercises._EXTRA_HINTS.clear()
    exercises._EXTRA_HINTS.update(saved_extra)
    exercises._REVEALED.clear()
    exercises._REVEALED.update(saved_revealed)


def test_check_answer_right_wrong_and_not_attempted(capsys):
    assert check_answer("a", 0.30000001, 0.3) is True
    assert check_answer("b", 0.4, 0.3) is False
    assert "not quite; you gave 0.4" in capsys.readouterr().out
    assert check_answer("c", ..., 0.3) is None
    assert "not attempted" in capsys.readouterr().out


def test_checkers_never_print_a_hint_only_say_how_to_ask(capsys):
    register_hints({"98.1": ["count the pairs, not the words", "look at bigrams[('the', 'cat')]"]})
    assert check_answer("98.1 pairs", ..., 3) is None
    out = capsys.readouterr().out
    assert "count the pairs" not in out and "hint('98.1')" in out
    assert check_answer("98.1 pairs", 4, 3) is False
    out = capsys.readouterr().out
    assert "count the pairs" not in out and "hint('98.1')" in out
    # a hint passed to the checker is registered, not printed
    assert check_answer("98.2 x", ..., 1, hint="think about zero") is None
    assert "think about zero" not in capsys.readouterr().out
    assert hints_for("98.2") == ["think about zero"]


def test_hint_reveals_one_more_hint_per_call(capsys):
    register_hints({"98.3": ["first nudge", "stronger pointer"]})
    assert hint("98.3") == "first nudge"
    assert "hint 1 of 2" in capsys.readouterr().out
    assert hint("98.3") == "stronger pointer"
    assert hint("98.3") == "stronger pointer"  # stays on the last one
    assert hint("98.3", level=1) == "first nudge"
    assert hint("98.3 with its name") == "stronger pointer"
    capsys.readouterr()
    assert hint("98.3", level=7) is None
    assert "level must be an integer from 1 to 2" in capsys.readouterr().out
    assert hint("97.9") is None
    assert "no hint" in capsys.readouterr().out
    assert hint("") is None  # never raises


def test_exercise_without_hints_does_not_offer_one(capsys):
    assert check_answer("96.1 lonely", ..., 1) is None
    assert "hint(" not in capsys.readouterr().out


@pytest.mark.parametrize("answer, expected", [
    ((3, 7), [3, 7]), ([3, 7], (3, 7)), ("CPU", "cpu"), (" cpu ", "cpu"), ("cuda", torch.device("cuda")),
    (0.714, 5 / 7), (0.71, 5 / 7), (59, 58.634), (58.6, 58.634), (42.0, 42), (42, 42.0),
    (torch.tensor(2.5), 2.5), ([1.0, 2.0], torch.tensor([1.0, 2.0])), ({"b", "a"}, {"a", "b"}),
    (["a", "b"], {"b", "a"}), ({"x": 0.714}, {"x": 5 / 7}), (True, True), (float("nan"), float("nan")),
])
def test_equivalent_answers_are_accepted(answer, expected):
    assert answers_match(answer, expected)


@pytest.mark.parametrize("answer, expected", [
    (0.7, 5 / 7),          # one significant digit is a guess, not a rounding
    (0.715, 5 / 7),        # rounded wrongly
    (0.72, 5 / 7),
    (60, 58.634), (40, 42), (1, True), (True, 1), ("cpux", "cpu"), ([3, 7, 1], (3, 7)),
    (torch.ones(2), torch.ones(3)), ({"x": 1}, {"y": 1}), (object(), 1.0), ("abc", torch.ones(2)),
    (float("nan"), 1.0), ([3], 3),
])
def test_wrong_answers_are_rejected(answer, expected):
    assert not answers_match(answer, expected)


def test_check_answer_with_accept_function(capsys):
    is_even = lambda x: x % 2 == 0  # noqa: E731
    assert check_answer("95.1 even", 4, accept=is_even) is True
    assert check_answer("95.1 even", 3, accept=is_even, wrong="an even number, please") is False
    assert "an even number, please" in capsys.readouterr().out
    assert check_answer("95.1 even", "x", accept=is_even) is False  # raising counts as wrong
    assert "raised TypeError" in capsys.readouterr().out


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
    assert check_function("sq", 3, cases) is False


def test_check_function_never_raises_on_missing_or_broken_cases(capsys):
    assert check_function("sq", lambda x: x, None) is None
    assert "no test cases" in capsys.readouterr().out
    assert check_function("sq", lambda x: x, [42]) is None
    assert "(args, expected)" in capsys.readouterr().out
    assert check_function("sq", lambda x: [x, x], [((2,), (2, 2))]) is True  # a list for a tuple


# ------------------------------------------------------------------------------------------
# The lessons' exercises: every id has hints, no hint is printed by a cell, no hint is the answer


def _cells(path):
    return nbformat.read(path, as_version=4).cells


def _exercise_ids(path):
    ids = []
    for cell in _cells(path):
        if cell.cell_type == "code":
            ids += re.findall(r"check_(?:answer|function)\(\s*[\"'](\d+\.\d+)", cell.source)
    return ids


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_exercise_of_a_lesson_has_a_hint_kept_out_of_sight(path):
    ids = _exercise_ids(path)
    assert ids, f"{path.name} has no self-checking exercise"
    for ex_id in ids:
        assert hints_for(ex_id), f"{path.name}: exercise {ex_id} has no hint in gptlab/hints"
    for cell in _cells(path):
        if cell.cell_type == "code" and re.search(r"check_(answer|function)\(", cell.source):
            assert not re.search(r"\bhint\s*=", cell.source), \
                f"{path.name}: a checker call carries its hint in plain sight: {cell.source[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_no_hint_contains_its_solution_code(path):
    """A solution cell's `answer = <code>` must not appear inside that exercise's hints."""
    for cell in _cells(path):
        if cell.cell_type != "markdown" or "<summary>" not in cell.source:
            continue
        for ex_id, code in re.findall(r"(\d+\.\d+)\D[^`]*?`answer = ([^`]{4,})`", cell.source):
            for text in hints_for(ex_id):
                assert code.strip() not in text, f"{path.name}: hint for {ex_id} contains its answer {code!r}"


# ------------------------------------------------------------------------------------------
# Out of order: a missing name says which cell makes it


def _toy_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Lesson\n\n## 2 · The words"),
        nbformat.v4.new_code_cell("import torch\n# the words\nwords = ['mat', 'sofa']\nfor i, w in enumerate(words):\n"
                                  "    pass"),
        nbformat.v4.new_markdown_cell("## 3 · A function"),
        nbformat.v4.new_code_cell("%matplotlib inline\ndef count(x):\n    return len(x)"),
        nbformat.v4.new_code_cell("print(count(words), wordz)"),
    ]
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    return path


def test_where_defined_finds_the_cell_and_its_section(tmp_path):
    path = _toy_notebook(tmp_path)
    found = _notebook.where_defined(str(path), "words")
    assert found == {"cell": 1, "line": "words = ['mat', 'sofa']", "section": "2 · The words"}
    assert _notebook.where_defined(str(path), "count")["section"] == "3 · A function"
    assert _notebook.where_defined(str(path), "w")["cell"] == 1
    assert _notebook.where_defined(str(path), "wordz") is None
    assert _notebook.where_defined(str(tmp_path / "missing.ipynb"), "words") is None
    message = _notebook.missing_name_message("words", str(path))
    assert "`words` is not defined yet" in message and '"2 · The words"' in message
    assert "Run All Above" in message
    assert _notebook.missing_name_message("words", None) is None


def test_a_real_kernel_says_which_cell_to_run_first(tmp_path):
    """In a Jupyter kernel started for the notebook, an early cell's NameError names the cell."""
    jupyter_client = pytest.importorskip("jupyter_client")
    path = _toy_notebook(tmp_path)
    km = jupyter_client.KernelManager(kernel_name="python3")
    env = {**os.environ, "JPY_SESSION_NAME": str(path)}
    km.start_kernel(env=env, cwd=str(tmp_path))
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        outputs = []
        kc.execute_interactive("import gptlab", timeout=60)
        kc.execute_interactive("print(len(words))", timeout=60, output_hook=outputs.append)
        errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
        assert errors, "the cell should still stop Run All with an error"
        text = "\n".join(errors[0]["traceback"])
        assert "`words` is not defined yet" in text and "2 · The words" in text
        outputs.clear()
        kc.execute_interactive("print(wordz)", timeout=60, output_hook=outputs.append)
        errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
        assert errors and errors[0]["ename"] == "NameError"
        assert "not defined yet" not in "\n".join(errors[0]["traceback"])  # a typo gets Python's own error
        kc.stop_channels()
    finally:
        km.shutdown_kernel(now=True)


def test_install_outside_a_running_ipython_does_nothing():
    IPython = pytest.importorskip("IPython")
    if IPython.get_ipython() is None:
        assert _notebook.install() is False
