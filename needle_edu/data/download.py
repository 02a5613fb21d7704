"""Fetching one file over HTTP(S), safely: stream it into a temporary file beside its destination,
check its checksum, and only then rename it into place.

So an interrupted or corrupted download never looks like a finished one. A progress bar appears
only when stderr is a terminal: in a notebook or a grader, downloading writes nothing to stderr.
"""
import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request

from tqdm import tqdm

CHUNK_SIZE = 1 << 16
USER_AGENT = "needle_edu"


class DownloadError(OSError):
    """No URL gave the file: each one failed to answer, or sent bytes that fail the checksum."""


def download(urls, destination, digests, timeout=30.0):
    """Fetch the first of ``urls`` whose content matches one of ``digests`` into ``destination``.

    A digest is written ``"algorithm:hex"``, e.g. ``"md5:8d4f..."`` or ``"sha256:b056..."``.
    ``timeout`` (seconds) bounds the connection and each read. Raises ``DownloadError``
    listing every URL tried and why it failed.
    """
    expected = [_parse_digest(digest) for digest in digests]
    if not expected:
        raise ValueError(f"download: no checksum given for {destination}; refusing to keep "
                         f"a file that cannot be verified")
    failures = []
    for url in urls:
        try:
            _fetch(url, destination, expected, timeout)
            return destination
        except (OSError, http.client.HTTPException) as error:
            failures.append(f"  {url}: {_describe(error)}")
    tried = "\n".join(failures) or "  (no URL to try)"
    raise DownloadError(f"could not download {os.path.basename(destination)}:\n{tried}")


def _parse_digest(digest):
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm not in hashlib.algorithms_available or not hex_digest:
        raise ValueError(f"checksum {digest!r} is not of the form 'md5:<hex>' or 'sha256:<hex>'")
    return algorithm, hex_digest.lower()


def _fetch(url, destination, expected, timeout):
    hashes = {algorithm: hashlib.new(algorithm) for algorithm, _ in expected}
    name = os.path.basename(destination)
    part = tempfile.NamedTemporaryFile(dir=os.path.dirname(destination), prefix=f".{name}.",
                                       suffix=".part", delete=False)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with part, urllib.request.urlopen(request, timeout=timeout) as response:
            with tqdm(total=response.length, desc=name, unit="B", unit_scale=True,
                      leave=False, disable=not sys.stderr.isatty()) as progress:
                while chunk := response.read(CHUNK_SIZE):
                    part.write(chunk)
                    for running_hash in hashes.values():
                        running_hash.update(chunk)
                    progress.update(len(chunk))
        found = {algorithm: running_hash.hexdigest() for algorithm, running_hash in hashes.items()}
        if not any(found[algorithm] == hex_digest for algorithm, hex_digest in expected):
            wanted = " or ".join(f"{algorithm}:{hex_digest}" for algorithm, hex_digest in expected)
            got = ", ".join(f"{algorithm}:{hex_digest}" for algorithm, hex_digest in found.items())
            raise DownloadError(f"checksum mismatch: got {got}, expected {wanted}")
        os.replace(part.name, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part.name)


def _describe(error):
    """One line saying why a URL failed, without urllib's nesting."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"unreachable ({error.reason})"
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__
