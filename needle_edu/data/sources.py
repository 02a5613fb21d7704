"""Where a data set's files live on disk, and how to fetch them when they live nowhere yet.

A ``DataSource`` names a data set's files; ``locate`` searches, in order, the ``root=`` argument,
the ``NEEDLE_EDU_DATA`` environment variable, the folders of a Debian package that ships the data
and the per-user cache. Each data set has its own folder inside a data root
(``<root>/fashion-mnist``), since MNIST and Fashion-MNIST use the same file names.
"""
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .download import DownloadError, download

DATA_ENV = "NEEDLE_EDU_DATA"
MIRROR_ENV = "NEEDLE_EDU_DATA_MIRROR"
DPKG_INFO = "/var/lib/dpkg/info"


@dataclass(frozen=True)
class DataSource:
    """A data set's files, split by split, and the places that may hold or serve them.

    File names are those the mirrors serve (``.gz``); on disk the uncompressed file is accepted
    too. A checksum is ``"md5:<hex>"`` or ``"sha256:<hex>"``; a file may have several (one per
    known packaging of the same data). A mirror is a base URL; ``{name}`` in it becomes ``name``.
    """

    name: str
    title: str
    splits: Mapping[str, tuple[str, ...]]
    checksums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    mirrors: tuple[str, ...] = ()
    package: str | None = None
    package_folders: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()

    def files(self, split):
        if split not in self.splits:
            raise ValueError(f"{self.title} has the splits {', '.join(map(repr, self.splits))}; "
                             f"got {split!r}")
        return self.splits[split]


@dataclass(frozen=True)
class Place:
    """A folder that may hold a data set, and why it is searched."""

    folder: Path
    origin: str


def cache_root():
    """The per-user cache: ``$XDG_CACHE_HOME/needle_edu``, by default ``~/.cache/needle_edu``."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "needle_edu"


def places(source, root=None):
    """Every folder searched for ``source``, in order of preference."""
    searched = []
    if root is not None:
        searched.append(Place(Path(root) / source.name, "root argument"))
    if os.environ.get(DATA_ENV):
        searched.append(Place(Path(os.environ[DATA_ENV]) / source.name, DATA_ENV))
    searched += [Place(folder, f"Debian package {source.package}")
                 for folder in package_folders(source)]
    searched.append(Place(cache_root() / source.name, "per-user cache"))
    return searched


def package_folders(source, dpkg_info=DPKG_INFO):
    """The package's known folders; where none exists, the folders dpkg's file list shows."""
    known = [Path(folder) for folder in source.package_folders]
    if source.package is None or any(folder.is_dir() for folder in known):
        return known
    first_file = next(iter(source.splits.values()))[0]
    return known + dpkg_listed_folders(source.package, first_file, dpkg_info)


def dpkg_listed_folders(package, file_name, dpkg_info=DPKG_INFO):
    """Folders that dpkg's record of the installed ``package`` lists as holding ``file_name``."""
    records = [*Path(dpkg_info).glob(f"{package}.list"), *Path(dpkg_info).glob(f"{package}:*.list")]
    return [Path(line).parent
            for record in records
            for line in record.read_text(errors="replace").splitlines()
            if Path(line).name == file_name]


def stored_file(folder, file_name):
    """The path of ``file_name`` in ``folder``, compressed or not, or ``None``."""
    for candidate in (file_name, file_name.removesuffix(".gz")):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def locate(source, split, root=None, download=False, mirror=None, checksums=None, timeout=30.0):
    """The paths of ``split``'s files, from the first place that holds them all.

    Where no place does and ``download`` is true, fetch them into ``download_folder(source, root)``
    (see ``fetch``); otherwise raise ``FileNotFoundError`` listing every place searched.
    """
    file_names = source.files(split)
    searched = places(source, root)
    for place in searched:
        paths = [stored_file(place.folder, name) for name in file_names]
        if all(paths):
            return paths
    if not download:
        raise FileNotFoundError(_not_found_message(source, split, searched, root))
    return fetch(source, split, root, mirror, checksums, timeout)


def download_folder(source, root=None):
    """Where downloads go: the ``root`` argument, else ``NEEDLE_EDU_DATA``, else the cache."""
    data_root = root if root is not None else os.environ.get(DATA_ENV) or cache_root()
    return Path(data_root) / source.name


def mirror_urls(source, file_name, mirror=None):
    """The URLs to try for ``file_name``: ``mirror`` (one base URL or several), else the base URL
    in ``NEEDLE_EDU_DATA_MIRROR``, else the data set's own mirrors."""
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV) or source.mirrors
    bases = [mirror] if isinstance(mirror, str) else list(mirror)
    return [f"{base.format(name=source.name).rstrip('/')}/{file_name}" for base in bases]


def fetch(source, split, root=None, mirror=None, checksums=None, timeout=30.0):
    """Download ``split``'s missing files into the download folder, each checked against its
    checksum (``checksums`` maps file names to digests; by default the data set's own)."""
    folder = download_folder(source, root)
    folder.mkdir(parents=True, exist_ok=True)
    known_checksums = source.checksums if checksums is None else checksums
    paths = []
    for name in source.files(split):
        path = stored_file(folder, name)
        if path is None:
            path = folder / name
            digests = known_checksums.get(name, ())
            try:
                download(mirror_urls(source, name, mirror), path,
                         [digests] if isinstance(digests, str) else digests, timeout)
            except DownloadError as error:
                raise DownloadError(f"{source.title}: {error}\nCheck the network, or name a "
                                    f"mirror with mirror= or {MIRROR_ENV}.") from None
        paths.append(path)
    return paths


def _not_found_message(source, split, searched, root):
    names = ", ".join(source.files(split))
    lines = [f"{source.title}: no folder holds the {split!r} files ({names}; "
             f"uncompressed also accepted). Searched:"]
    lines += [f"  {place.folder}  ({place.origin})" for place in searched]
    if not os.environ.get(DATA_ENV):
        lines.append(f"  ({DATA_ENV} is not set; it may name a data root)")
    lines.append("To get the data:")
    if source.package:
        lines.append(f"  - install the Debian package: apt-get install {source.package}")
    lines.append(f"  - pass download=True to fetch it into {download_folder(source, root)}")
    lines.append("  - or put the files in one of the folders above")
    return "\n".join(lines)
