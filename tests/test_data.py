"""needle_edu.data: the IDX format, the order in which data roots are searched, downloads (from a
server on 127.0.0.1, the only address these tests contact) and, where the Debian package is
installed, the real Fashion-MNIST."""
import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import socket
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from needle_edu.data import (DATA_ENV, FASHION_MNIST, FASHION_MNIST_CLASSES, MIRROR_ENV,
                             DownloadError, load_fashion_mnist, load_idx_images, load_mnist,
                             read_idx, write_idx)
from needle_edu.data.sources import dpkg_listed_folders, package_folders, stored_file

IDX_DTYPES = [np.dtype(name) for name in ("uint8", "int8", "int16", "int32", "float32", "float64")]
TRAIN_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """No data root or mirror from the caller's environment, and a cache inside tmp_path."""
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def write_split(folder, count, files=TRAIN_FILES, seed=0):
    """Write ``count`` random 28x28 images and their labels as IDX files; return the arrays."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / files[0], images)
    write_idx(folder / files[1], labels)
    return images, labels


def sha256_of(path):
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stand_in_source(tmp_path):
    """Fashion-MNIST's files, with a package folder (and a package name) of the test's own."""
    return dataclasses.replace(FASHION_MNIST, package="test-package",
                               package_folders=(str(tmp_path / "package" / "fashion-mnist"),))


# ---------------------------------------------------------------- the IDX format


@settings(max_examples=60)
@given(array=hnp.arrays(st.sampled_from(IDX_DTYPES),
                        hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)),
       compressed=st.booleans())
def test_idx_round_trip(tmp_path_factory, array, compressed):
    path = tmp_path_factory.mktemp("idx") / ("array.idx.gz" if compressed else "array.idx")
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compressed
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()  # bit for bit, NaN and -0.0 included


@pytest.mark.parametrize("dtype, code", list(zip(IDX_DTYPES, [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E])))
def test_idx_layout_is_the_published_one(tmp_path, dtype, code):
    array = np.arange(6, dtype=dtype).reshape(2, 3)
    write_idx(tmp_path / "a.idx", array)
    header = bytes([0, 0, code, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    big_endian_data = array.astype(dtype.newbyteorder(">")).tobytes()
    assert (tmp_path / "a.idx").read_bytes() == header + big_endian_data


def test_idx_read_gives_native_writable_arrays(tmp_path):
    write_idx(tmp_path / "a.idx", np.array([1, -2, 300], dtype=">i4"))
    back = read_idx(tmp_path / "a.idx")
    assert back.dtype.isnative and back.flags.writeable
    assert back.tolist() == [1, -2, 300]


VALID = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
MALFORMED = {
    "bad magic": (b"\x01\x00" + VALID[2:], "bad magic number"),
    "unknown type": (VALID[:2] + b"\x07" + VALID[3:], "unknown type code 0x07"),
    "zero dimensions": (VALID[:3] + b"\x00", "zero dimensions"),
    "short magic": (b"\x00\x00", "truncated header"),
    "short sizes": (VALID[:10], "truncated header"),
    "truncated data": (VALID[:-1], "truncated data"),
    "size mismatch": (VALID[:7] + b"\x09" + VALID[8:], "truncated data"),
    "trailing garbage": (VALID + b"\x00\x00", "trailing garbage"),
    "empty": (b"", "truncated header"),
}


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", MALFORMED)
def test_idx_malformed_files_raise_naming_the_file(tmp_path, case, compressed):
    content, complaint = MALFORMED[case]
    path = tmp_path / ("bad.idx.gz" if compressed else "bad.idx")
    path.write_bytes(gzip.compress(content) if compressed else content)
    with pytest.raises(ValueError, match=complaint) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_idx_damaged_gzip_raises_naming_the_file(tmp_path):
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(gzip.compress(VALID)[:-6])
    with pytest.raises(ValueError, match="damaged gzip") as error:
        read_idx(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("array, error", [(np.zeros(3, np.int64), TypeError),
                                          (np.zeros(3, bool), TypeError),
                                          (np.float32(1.0), ValueError)])
def test_write_idx_refuses_what_idx_cannot_hold(tmp_path, array, error):
    with pytest.raises(error, match="write_idx"):
        write_idx(tmp_path / "a.idx", array)


# ---------------------------------------------------------------- where the files are found


def test_roots_are_searched_argument_then_env_then_package_then_cache(tmp_path, monkeypatch):
    source = stand_in_source(tmp_path)
    # A different image count in each place shows which place was read.
    write_split(tmp_path / "argument" / "fashion-mnist", 20)
    write_split(tmp_path / "env" / "fashion-mnist", 21)
    write_split(tmp_path / "package" / "fashion-mnist", 22)
    write_split(tmp_path / "xdg-cache" / "needle_edu" / "fashion-mnist", 23)
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))

    def count(root=None):
        return len(load_idx_images(source, "train", root=root)[1])

    assert count(root=tmp_path / "argument") == 20
    assert count() == 21
    monkeypatch.delenv(DATA_ENV)
    assert count() == 22
    source = dataclasses.replace(source, package_folders=())
    assert count() == 23


def test_a_place_must_hold_every_file_of_the_split(tmp_path):
    write_split(tmp_path / "argument" / "fashion-mnist", 20)
    (tmp_path / "argument" / "fashion-mnist" / TRAIN_FILES[1]).unlink()
    write_split(tmp_path / "package" / "fashion-mnist", 22)
    assert len(load_idx_images(stand_in_source(tmp_path), root=tmp_path / "argument")[1]) == 22


def test_uncompressed_files_are_accepted(tmp_path):
    folder = tmp_path / "data" / "mnist"
    uncompressed = [name.removesuffix(".gz") for name in TEST_FILES]
    images, labels = write_split(folder, 20, files=uncompressed)
    loaded_images, loaded_labels = load_mnist("test", root=tmp_path / "data", normalize=False,
                                              flatten=False)
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)


def test_not_found_lists_every_place_and_how_to_get_the_data(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as error:
        load_idx_images(stand_in_source(tmp_path), "test", root=tmp_path / "argument")
    message = str(error.value)
    for folder, origin in [("argument", "root argument"), ("env", DATA_ENV),
                           ("package", "Debian package test-package"),
                           ("xdg-cache/needle_edu", "per-user cache")]:
        assert f"{tmp_path / folder / 'fashion-mnist'}  ({origin})" in message
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "apt-get install test-package" in message and "download=True" in message


def test_not_found_says_when_the_environment_variable_is_unset(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{DATA_ENV} is not set"):
        load_mnist()


def test_package_folder_falls_back_to_dpkg_file_list(tmp_path):
    dpkg_info = tmp_path / "dpkg-info"
    dpkg_info.mkdir()
    elsewhere, other = tmp_path / "elsewhere", tmp_path / "other"
    (dpkg_info / "test-package.list").write_text(
        f"/.\n{elsewhere}\n{elsewhere}/train-images-idx3-ubyte.gz\n{other}/README\n")
    source = stand_in_source(tmp_path)
    assert package_folders(source, dpkg_info) == [*map(Path, source.package_folders), elsewhere]
    (tmp_path / "package" / "fashion-mnist").mkdir(parents=True)
    assert package_folders(source, dpkg_info) == [*map(Path, source.package_folders)]


def test_loader_options_and_bad_arguments(tmp_path):
    images, labels = write_split(tmp_path / "fashion-mnist", 20)
    flat, flat_labels = load_fashion_mnist(root=tmp_path)
    assert flat.dtype == np.float32 and flat.shape == (20, 784)
    assert flat_labels.dtype == np.uint8 and flat_labels.shape == (20,)
    np.testing.assert_array_equal(flat * 255, images.reshape(20, -1).astype(np.float32))
    raw, _ = load_fashion_mnist(root=tmp_path, normalize=False, flatten=False)
    assert raw.dtype == np.uint8 and raw.shape == (20, 28, 28)
    with pytest.raises(ValueError, match="'train', 'test'"):
        load_fashion_mnist("validation", root=tmp_path)


@pytest.mark.parametrize("labels, complaint", [(np.zeros(19, np.uint8), "expected 20 uint8"),
                                               (np.full(20, 10, np.uint8), "label 10")])
def test_labels_that_do_not_fit_the_images_are_refused(tmp_path, labels, complaint):
    write_split(tmp_path / "mnist", 20)
    write_idx(tmp_path / "mnist" / TRAIN_FILES[1], labels)
    with pytest.raises(ValueError, match=complaint):
        load_mnist(root=tmp_path)


# ---------------------------------------------------------------- downloads from 127.0.0.1


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        """The default logs each request to stderr."""


@pytest.fixture
def mirror(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a temporary folder: yields (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def served_split(folder, files=TEST_FILES, count=20):
    """Fixture files on the server and the checksums that vouch for them."""
    arrays = write_split(folder, count, files=files)
    return arrays, {name: sha256_of(folder / name) for name in files}


def test_download_then_load(tmp_path, mirror, closed_port_url):
    served, url = mirror
    (images, labels), checksums = served_split(served)
    loaded = load_mnist("test", root=tmp_path / "data", download=True, mirror=url,
                        checksums=checksums, normalize=False, flatten=False)
    np.testing.assert_array_equal(loaded[0], images)
    np.testing.assert_array_equal(loaded[1], labels)
    downloaded = sorted(path.name for path in (tmp_path / "data" / "mnist").iterdir())
    assert downloaded == sorted(TEST_FILES)
    # Now present, the files are read from disk: the dead mirror is never asked.
    again = load_mnist("test", root=tmp_path / "data", download=True, mirror=closed_port_url)
    np.testing.assert_array_equal(again[1], labels)


def test_download_into_the_cache_from_the_mirror_variable(tmp_path, mirror, monkeypatch):
    served, url = mirror
    (_, labels), _ = served_split(served / "mnist")
    checksums = {name: "md5:" + hashlib.md5((served / "mnist" / name).read_bytes()).hexdigest()
                 for name in TEST_FILES}
    monkeypatch.setenv(MIRROR_ENV, url + "{name}/")
    _, loaded_labels = load_mnist("test", download=True, checksums=checksums)
    np.testing.assert_array_equal(loaded_labels, labels)
    assert stored_file(tmp_path / "xdg-cache" / "needle_edu" / "mnist", TEST_FILES[0])


def test_download_tries_the_next_mirror_after_a_404(tmp_path, mirror):
    served, url = mirror
    _, checksums = served_split(served / "good")
    load_mnist("test", root=tmp_path, download=True, mirror=[url + "missing/", url + "good/"],
               checksums=checksums)


def test_checksum_mismatch_raises_and_leaves_nothing(tmp_path, mirror):
    served, url = mirror
    _, checksums = served_split(served)
    checksums[TEST_FILES[0]] = "sha256:" + "0" * 64
    with pytest.raises(DownloadError, match="checksum mismatch"):
        load_mnist("test", root=tmp_path / "data", download=True, mirror=url, checksums=checksums)
    assert list((tmp_path / "data" / "mnist").iterdir()) == []


def test_missing_file_on_the_server_is_a_clear_error(tmp_path, mirror):
    _, url = mirror
    with pytest.raises(DownloadError) as error:
        load_mnist("test", root=tmp_path, download=True, mirror=url,
                   checksums={name: "sha256:" + "0" * 64 for name in TEST_FILES})
    assert f"{url}t10k-images-idx3-ubyte.gz: HTTP 404" in str(error.value)


def test_download_without_a_checksum_is_refused(tmp_path, mirror):
    served, url = mirror
    served_split(served)
    with pytest.raises(ValueError, match="no checksum"):
        load_mnist("test", root=tmp_path / "data", download=True, mirror=url, checksums={})
    assert list((tmp_path / "data" / "mnist").iterdir()) == []


def test_unreachable_server_fails_fast(tmp_path, closed_port_url):
    started = time.perf_counter()
    with pytest.raises(DownloadError, match="unreachable") as error:
        load_mnist("test", root=tmp_path, download=True, mirror=closed_port_url, timeout=2)
    assert time.perf_counter() - started < 5
    assert closed_port_url in str(error.value) and MIRROR_ENV in str(error.value)


def test_silent_server_times_out(tmp_path):
    with socket.socket() as silent:  # listens, so connecting succeeds, but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        started = time.perf_counter()
        with pytest.raises(DownloadError, match="timed out"):
            load_mnist("test", root=tmp_path, download=True, mirror=url, timeout=0.3,
                       checksums={name: "sha256:" + "0" * 64 for name in TEST_FILES})
        assert time.perf_counter() - started < 5


# ---------------------------------------------------------------- output


def test_normal_use_writes_nothing_to_stderr(tmp_path, mirror, capfd):
    served, url = mirror
    _, checksums = served_split(served)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_mnist("test", root=tmp_path, download=True, mirror=url, checksums=checksums)
        load_mnist("test", root=tmp_path)
    assert capfd.readouterr().err == ""


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_shown_on_a_terminal(tmp_path, mirror, monkeypatch):
    served, url = mirror
    _, checksums = served_split(served)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    load_mnist("test", root=tmp_path, download=True, mirror=url, checksums=checksums)
    assert "t10k-images-idx3-ubyte.gz" in terminal.getvalue()


# ---------------------------------------------------------------- the real Fashion-MNIST

PACKAGE_FOLDER = Path(FASHION_MNIST.package_folders[0])
needs_package = pytest.mark.skipif(
    not all(stored_file(PACKAGE_FOLDER, name) for name in TRAIN_FILES + TEST_FILES),
    reason="Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist")


@needs_package
def test_real_fashion_mnist_training_set():
    started = time.perf_counter()
    images, labels = load_fashion_mnist("train")
    seconds = time.perf_counter() - started
    assert images.shape == (60000, 784) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [6000] * len(FASHION_MNIST_CLASSES)
    assert seconds < 10, f"loading the training set took {seconds:.2f} s"


@needs_package
def test_real_fashion_mnist_test_set():
    images, labels = load_fashion_mnist("test", normalize=False, flatten=False)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 255
    assert np.bincount(labels).tolist() == [1000] * len(FASHION_MNIST_CLASSES)


@needs_package
def test_real_fashion_mnist_files_match_the_known_checksums():
    for name in TRAIN_FILES + TEST_FILES:
        assert sha256_of(PACKAGE_FOLDER / name) in FASHION_MNIST.checksums[name]
    if Path("/var/lib/dpkg/info/dataset-fashion-mnist.list").exists():
        assert dpkg_listed_folders("dataset-fashion-mnist", TRAIN_FILES[0]) == [PACKAGE_FOLDER]
