"""Assignment a07 (sequence models): its language model, its figures, its student build and its notebook.

The course model itself (release, grading of correct, blank and wrong submissions, leaks) is
proved for a07 with every other assignment in test_course_pipeline.py.
"""
import io
from pathlib import Path

import numpy as np
import pytest
from assignment_checks import check_nbgrader_source, check_student_build, printed_number, read_source, run_quick

from needle_edu import Tensor, course, init, nn, optim
from needle_edu.data.text import Corpus, batchify
from needle_edu.models import language_model as lm
from needle_edu.viz.sequence import gradient_by_distance, lstm_gates, plot_lstm_gates, plot_perplexity

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "a07_sequence_models" / "a07_sequence_models.md"
PIECES = ["LSTMCell.forward", "RNNCell.forward", "batchify", "get_batch", "run_layers", "train_epoch"]


# ------------------------------------------------------------------ the language model

def tiny_corpus():
    return Corpus("abcd" * 100, "abcd" * 20, "abcd" * 5, level="char")


@pytest.mark.parametrize("seq_model", ["lstm", "rnn"])
def test_the_language_model_learns_a_periodic_text_and_continues_it(seq_model):
    corpus = tiny_corpus()
    init.manual_seed(0)
    model = lm.LanguageModel(len(corpus.dictionary), 8, 16, num_layers=2, seq_model=seq_model, device="cpu")
    logits, state = model(Tensor(np.zeros((3, 2)), device="cpu"))
    assert logits.shape == (6, len(corpus.dictionary))
    assert [s.shape for s in (state if seq_model == "lstm" else [state])] == [(2, 2, 16)] * (2 if seq_model == "lstm" else 1)
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    batches = batchify(corpus.train, 4)
    first = lm.train_epoch(model, batches, 10, optimizer, clip=1.0, device="cpu", max_windows=2)
    for _ in range(2):
        last = lm.train_epoch(model, batches, 10, optimizer, clip=1.0, device="cpu")
    valid = lm.evaluate(model, batchify(corpus.valid, 2), 10, device="cpu")
    assert last < 0.2 * first and lm.perplexity(valid) < 1.5, (first, last, valid)
    text = lm.generate(model, corpus, "ab", 10, temperature=0.5, seed=0, device="cpu")
    assert text == "ab" + "cdab" * 2 + "cd"


def test_detaching_keeps_the_values_and_cuts_the_graph():
    x = Tensor(np.ones((2, 3)), device="cpu")
    h, c = (x * 2.0, x * 3.0)
    h2, c2 = lm.detach_state((h, c))
    assert h2.op is None and not h2.requires_grad and c2.op is None
    np.testing.assert_array_equal(c2.numpy(), c.numpy())
    assert lm.detach_state(None) is None and lm.detach_state(h).op is None


def test_generation_samples_with_temperature():
    corpus = tiny_corpus()
    init.manual_seed(1)
    model = lm.LanguageModel(len(corpus.dictionary), 4, 8, device="cpu")  # untrained: near uniform
    hot = [lm.generate(model, corpus, "a", 30, temperature=100.0, seed=seed, device="cpu") for seed in (0, 1)]
    cold = [lm.generate(model, corpus, "a", 30, temperature=0.01, seed=seed, device="cpu") for seed in (0, 1)]
    assert hot[0] != hot[1] and cold[0] == cold[1]  # near uniform draws differ; near argmax ones do not
    with pytest.raises(ValueError, match="temperature must be > 0"):
        lm.generate(model, corpus, "a", 3, temperature=0)


# ------------------------------------------------------------------ the figures

def test_the_gradient_reaches_further_back_in_an_lstm_with_open_forget_gates():
    init.manual_seed(0)
    rnn = nn.RNN(4, 8, device="cpu", dtype="float64")
    lstm = nn.LSTM(4, 8, device="cpu", dtype="float64")
    lstm.cells[0].bias.data = Tensor(np.r_[np.zeros(8), np.full(8, 6.0), np.zeros(16)], device="cpu", dtype="float64",
                                     requires_grad=False)  # forget gates held open
    distances, rnn_norms = gradient_by_distance(rnn, steps=30)
    _, lstm_norms = gradient_by_distance(lstm, steps=30)
    np.testing.assert_array_equal(distances, np.arange(30)[::-1])
    assert rnn_norms[0] < 1e-6 * rnn_norms[-1]  # 29 steps back: vanished
    assert lstm_norms[0] > 1e-3 * lstm_norms[-1]


def test_gradient_norms_are_those_of_the_layer():
    init.manual_seed(1)
    rnn = nn.RNN(3, 5, device="cpu", dtype="float64")
    _, norms = gradient_by_distance(rnn, steps=4, batch=1, seed=3)
    x = np.random.default_rng(3).standard_normal((4, 1, 3))
    w, b = rnn.cells[0].weight.numpy(), rnn.cells[0].bias.numpy()
    h, hs = np.zeros((1, 5)), []
    for t in range(4):
        h = np.tanh(np.concatenate([x[t], h], axis=1) @ w + b)
        hs.append(h)
    g = np.ones((1, 5))  # d(sum of h_T)/d h_T, carried back step by step
    want = []
    for t in reversed(range(4)):
        dz = g * (1 - hs[t] ** 2)
        want.append(np.linalg.norm(dz @ w[:3].T))
        g = dz @ w[3:].T
    np.testing.assert_allclose(norms, want[::-1], rtol=1e-10)


def test_the_gate_figure_shows_the_gates_of_the_models_cell():
    corpus = tiny_corpus()
    init.manual_seed(2)
    model = lm.LanguageModel(len(corpus.dictionary), 4, 6, device="cpu", dtype="float64")
    gates = lstm_gates(model, corpus, "abca", units=6)
    assert {k: v.shape for k, v in gates.items()} == {k: (4, 6) for k in ("input", "forget", "output", "c")}
    cell = model.seq_model.cells[0]
    x0 = model.embedding.weight.numpy()[corpus.dictionary.word2idx["a"]]
    z = np.concatenate([x0, np.zeros(6)]) @ cell.weight.numpy() + cell.bias.numpy()
    np.testing.assert_allclose(gates["forget"][0], 1 / (1 + np.exp(-z[6:12])), rtol=1e-10)
    _, state = model(Tensor(np.array([[0.0], [1.0], [2.0], [0.0]]), device="cpu", dtype="float64"))
    np.testing.assert_allclose(gates["c"][-1], state[1].numpy()[0, 0], rtol=1e-10)
    fig = plot_lstm_gates(model, corpus, "abca", units=6)
    assert len(fig.axes) == 8 and [t.get_text() for t in fig.axes[3].get_xticklabels()] == list("abca")
    fig.savefig(io.BytesIO(), format="png")
    history = {"seconds": [1, 2], "windows": [50, 100], "train_perplexity": [20, 10], "valid_perplexity": [15, 9]}
    lines = plot_perplexity(history, baseline=27.0, target=8.0).axes[0].get_lines()
    np.testing.assert_allclose(lines[1].get_ydata(), [15, 9])
    assert len(lines) == 4


# ------------------------------------------------------------------ the student build

def test_a07_pieces_are_the_intended_ones():
    assert course.pieces("a07") == PIECES


def test_the_student_build_stubs_the_a07_pieces_and_keeps_the_rest(tmp_path):
    setup = """
        from needle_edu import nn, Tensor
        from needle_edu.data import text
        from needle_edu.models import language_model
        x = Tensor(np.ones((2, 3)), requires_grad=False)
    """
    rest = """
        corpus = text.Corpus("ab ab", "ab", "b", level="char")  # not a piece of a07: the reference works
        assert len(corpus.dictionary) == 4
    """
    check_student_build(NOTEBOOK, PIECES, tmp_path, REPO, setup,
                        ["nn.RNNCell(3, 2)(x)", "nn.LSTMCell(3, 2)(x)", "text.batchify(np.arange(10), 2)",
                         "text.get_batch(np.ones((4, 2)), 0, 2)", "nn.LSTM(3, 2)(Tensor(np.ones((2, 1, 3))))",
                         "language_model.train_epoch(language_model.LanguageModel(4, 2, 2), np.ones((4, 2)), 2, None)"],
                        rest)


# ------------------------------------------------------------------ the notebook

def test_the_notebook_is_a_valid_nbgrader_source():
    check_nbgrader_source(read_source(NOTEBOOK),
                          ["answer_truncated_bptt", "batching", "lstm_cell", "rnn_cell", "run_layers", "train_epoch"],
                          hidden_cells=5, total=60)


@pytest.mark.slow
def test_the_source_notebook_runs_and_the_lstm_learns(tmp_path):
    printed = run_quick(NOTEBOOK, tmp_path, timeout=600, images=3)  # perplexity, gradient by distance, gates
    assert printed_number("validation perplexity computed in numpy", printed) <= 12.0, printed
    assert "--- temperature 0.8 ---\nROMEO:\n" in printed
