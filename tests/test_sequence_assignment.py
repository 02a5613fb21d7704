"""Assignment a07 (sequence models): its language model, its figures, its student build and its notebook.

The course model itself (release, grading of correct, blank and wrong submissions, leaks) is
proved for a07 with every other assignment in test_course_pipeline.py.
"""
import numpy as np
import pytest

from needle_edu import Tensor, init, optim
from needle_edu.data.text import Corpus, batchify
from needle_edu.models import language_model as lm


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
