"""Assignment a08 (Transformers): its figures, its language model, its student build and its notebook.

The course model itself (release, grading of correct, blank and wrong submissions, leaks) is
proved for a08 with every other assignment in test_course_pipeline.py.
"""
import io
from pathlib import Path

import numpy as np
import pytest
from assignment_checks import check_nbgrader_source, check_student_build, printed_number, read_source, run_quick

from needle_edu import Tensor, course, init, optim
from needle_edu.data.text import Corpus
from needle_edu.models import language_model
from needle_edu.models.transformer_lm import TransformerLM
from needle_edu.nn.transformer import sinusoidal_encoding
from needle_edu.viz.attention import plot_attention_maps, plot_learning_curves, plot_positional_encoding

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "a08_transformers" / "a08_transformers.md"
PIECES = ["MultiHeadAttention.attend", "TransformerLayer.block", "causal_mask", "merge_heads",
          "scaled_dot_product_attention", "sinusoidal_encoding", "split_heads"]


def ids(values):
    return Tensor(np.asarray(values, dtype="float32"), device="cpu", requires_grad=False)


# ------------------------------------------------------------------ figures

def test_attention_maps_show_every_head_of_every_layer():
    rng = np.random.default_rng(0)
    weights = [rng.random((1, 3, 4, 4)), rng.random((3, 4, 4))]
    fig = plot_attention_maps(weights, "abcd")
    shown = [ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()]
    assert len(shown) == 6
    np.testing.assert_allclose(shown[4], weights[1][1])  # layer 2, head 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("abcd")
    fig.savefig(io.BytesIO(), format="png")


def test_positional_encoding_figure_shows_the_table_and_its_dot_products():
    table = sinusoidal_encoding(16, 8)
    fig = plot_positional_encoding(table)
    image, similarity = (ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images())
    np.testing.assert_allclose(image, table)
    np.testing.assert_allclose(similarity, table @ table.T)
    fig.savefig(io.BytesIO(), format="png")


def test_learning_curves_put_both_models_on_one_axis():
    histories = {"Transformer": {"seconds": [1, 2], "train_perplexity": [9, 7], "valid_perplexity": [8, 6]},
                 "LSTM": {"seconds": [1, 2], "train_perplexity": [10, 9], "valid_perplexity": [9.5, 8.5]}}
    fig = plot_learning_curves(histories)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4
    np.testing.assert_allclose(lines[2].get_ydata(), [9.5, 8.5])
    assert "6.00" in lines[0].get_label()
    fig.savefig(io.BytesIO(), format="png")


# ------------------------------------------------------------------ the language model

def test_transformer_lm_speaks_the_language_model_interface():
    init.manual_seed(0)
    model = TransformerLM(11, d_model=8, num_heads=2, num_layers=2, max_len=6, device="cpu")
    x = ids(np.arange(10).reshape(5, 2) % 11)
    logits, state = model(x)
    assert logits.shape == (10, 11) and state.shape == (5, 2)
    # The next call sees the state as context: with it, the logits are those of the whole sequence's end.
    more = ids([[3, 4]])
    continued, state = model(more, state)
    whole, _ = model(ids(np.r_[x.numpy(), more.numpy()]))
    np.testing.assert_allclose(continued.numpy(), whole.numpy()[-2:], rtol=1e-5, atol=1e-6)
    assert state.shape == (5, 2)  # at most max_len - 1 tokens of context
    with pytest.raises(ValueError, match=r"TransformerLM: expected token ids \(T <= 6, batch\), got shape \(7, 2\)"):
        model(ids(np.zeros((7, 2))))
    with pytest.raises(ValueError, match="positional must be one of"):
        TransformerLM(11, positional="rotary")


def test_transformer_lm_is_causal_and_learned_positions_train():
    init.manual_seed(1)
    model = TransformerLM(7, d_model=8, num_heads=2, num_layers=1, max_len=8, positional="learned", device="cpu")
    x = np.arange(12).reshape(6, 2) % 7
    later = x.copy()
    later[4:] = (later[4:] + 3) % 7
    first, second = (model(ids(a))[0].numpy() for a in (x, later))
    np.testing.assert_array_equal(first[:8], second[:8])  # the first 4 time steps of both columns
    assert np.abs(first[8:] - second[8:]).max() > 1e-4
    weights = model.attention_weights(ids(x[:, :1]))
    assert weights[0].shape == (1, 2, 6, 6) and np.all(np.triu(weights[0][0, 0], 1) == 0)


def test_transformer_lm_learns_and_generates_a_repeating_text():
    text = "abcabd" * 400  # after "cab" comes d, after "dab" c: attention must look three characters back
    corpus = Corpus(text, text[:120], text[:60], level="char")
    init.manual_seed(2)
    model = TransformerLM(len(corpus.dictionary), d_model=32, num_heads=2, num_layers=1, max_len=10, device="cpu")
    history = language_model.train(model, corpus, 8, 10, optim.Adam(model.parameters(), lr=0.003), windows=60,
                                   windows_per_round=10, clip=1.0, device="cpu", log=None)
    assert history["train_perplexity"][-1] < 1.1 and history["valid_perplexity"][-1] < 1.6, history
    sample = language_model.generate(model, corpus, "abcabd", 40, temperature=0.2, seed=0, device="cpu")
    assert sample.startswith(text[:40]), sample


# ------------------------------------------------------------------ the student build

def test_a08_pieces_are_the_intended_ones():
    assert course.pieces("a08") == PIECES


def test_the_student_build_stubs_the_a08_pieces_and_keeps_the_rest(tmp_path):
    setup = """
        from needle_edu import nn, Tensor
        from needle_edu.nn import attention, transformer
        x = Tensor(np.ones((1, 3, 4)), device="cpu")
    """
    rest = """
        y = nn.LayerNorm(4)(Tensor(np.arange(12.0).reshape(1, 3, 4), dtype="float32"))  # not a piece: the reference works
        np.testing.assert_allclose(y.numpy()[0, 0], [-1.342, -0.447, 0.447, 1.342], atol=1e-3)
    """
    check_student_build(NOTEBOOK, PIECES, tmp_path, REPO, setup,
                        ["attention.causal_mask(3)", "attention.split_heads(x, 2)", "transformer.sinusoidal_encoding(3, 4)",
                         "nn.MultiHeadAttention(4, 2)(x)", "nn.TransformerLayer(4, 2)(x)"], rest)


# ------------------------------------------------------------------ the notebook

def test_the_notebook_is_a_valid_nbgrader_source():
    check_nbgrader_source(read_source(NOTEBOOK),
                          ["answer_attention_cost", "attention", "heads", "multi_head_attention",
                           "positional_encoding", "transformer_layer"], hidden_cells=5, total=60)


@pytest.mark.slow
def test_the_source_notebook_runs_and_the_transformer_learns(tmp_path):
    # the positional encoding, attention before and after training, the learning curves
    printed = run_quick(NOTEBOOK, tmp_path, timeout=900, images=4)
    assert printed_number("validation perplexity, measured again", printed) <= 16.5, printed
