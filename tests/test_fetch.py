"""Downloads (through real file:// URLs) and safe tar extraction."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
from pathlib import Path

import pytest

from texmnist.errors import DownloadError, SourceError
from texmnist.sources.fetch import (
    Remote,
    default_cache_dir,
    download,
    safe_extract_tar,
    verify_file,
)

PAYLOAD = b"texmnist payload\n" * 1000


def _remote(tmp_path: Path, *urls: str, data: bytes = PAYLOAD) -> Remote:
    return Remote("payload.bin", urls, hashlib.sha256(data).hexdigest(), len(data))


def _serve(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path.as_uri()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_default_cache_dir_is_inside_the_datasets_cache():
    import datasets.config

    cache = default_cache_dir()
    assert cache.name == "texmnist"
    assert cache.parent == Path(datasets.config.DOWNLOADED_DATASETS_PATH)


def test_verify_file_reasons(tmp_path):
    good = tmp_path / "good.bin"
    good.write_bytes(PAYLOAD)
    remote = _remote(tmp_path)
    assert verify_file(good, remote) is None
    short = tmp_path / "short.bin"
    short.write_bytes(PAYLOAD[:-1])
    assert "size" in verify_file(short, remote)
    flipped = tmp_path / "flipped.bin"
    flipped.write_bytes(b"X" + PAYLOAD[1:])
    assert "sha256" in verify_file(flipped, remote)
    assert "cannot read" in verify_file(tmp_path / "missing.bin", remote)


def test_download_good_file(tmp_path):
    url = _serve(tmp_path / "mirror" / "payload.bin", PAYLOAD)
    dest = tmp_path / "cache"
    path = download(_remote(tmp_path, url), dest, progress=False)
    assert path == dest / "payload.bin"
    assert path.read_bytes() == PAYLOAD
    assert _leftovers(dest) == []


def test_bad_first_mirror_falls_back_to_second(tmp_path):
    bad = _serve(tmp_path / "m1" / "payload.bin", b"Y" * len(PAYLOAD))  # right size, wrong hash
    good = _serve(tmp_path / "m2" / "payload.bin", PAYLOAD)
    dest = tmp_path / "cache"
    path = download(_remote(tmp_path, bad, good), dest, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.iterdir()) == ["payload.bin"]  # bad temp file gone


def test_oversized_and_missing_mirrors_are_skipped(tmp_path):
    big = _serve(tmp_path / "m1" / "payload.bin", PAYLOAD + b"extra")
    missing = (tmp_path / "m2" / "payload.bin").as_uri()
    good = _serve(tmp_path / "m3" / "payload.bin", PAYLOAD)
    dest = tmp_path / "cache"
    assert download(_remote(tmp_path, big, missing, good), dest, progress=False).is_file()
    assert _leftovers(dest) == []


def test_all_mirrors_fail(tmp_path):
    short = _serve(tmp_path / "m1" / "payload.bin", PAYLOAD[:100])
    missing = (tmp_path / "m2" / "payload.bin").as_uri()
    dest = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        download(
            _remote(tmp_path, short, missing),
            dest,
            progress=False,
            hint="or pass --mnist-dir FOLDER",
        )
    message = str(info.value)
    assert message.startswith("could not download payload.bin: ")
    assert short in message and missing in message
    assert "got 100 bytes" in message
    assert message.endswith("; or pass --mnist-dir FOLDER")
    assert "\n" not in message
    assert not (dest / "payload.bin").exists()
    assert _leftovers(dest) == []


def test_existing_verified_file_is_reused(tmp_path):
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / "payload.bin").write_bytes(PAYLOAD)
    # The only mirror does not exist: success proves the file was not fetched again.
    missing = (tmp_path / "nowhere" / "payload.bin").as_uri()
    path = download(_remote(tmp_path, missing), dest, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_existing_corrupt_file_is_replaced(tmp_path):
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / "payload.bin").write_bytes(b"half a download")
    url = _serve(tmp_path / "mirror" / "payload.bin", PAYLOAD)
    path = download(_remote(tmp_path, url), dest, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert _leftovers(dest) == []


def test_corrupt_existing_file_is_kept_out_of_the_way_when_mirrors_fail(tmp_path):
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / "payload.bin").write_bytes(b"half a download")
    missing = (tmp_path / "nowhere" / "payload.bin").as_uri()
    with pytest.raises(DownloadError):
        download(_remote(tmp_path, missing), dest, progress=False)
    assert _leftovers(dest) == []


# --- safe_extract_tar -------------------------------------------------------


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _file(name: str, data: bytes = b"data") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _good_members() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    folder = tarfile.TarInfo("dtd/images")
    folder.type = tarfile.DIRTYPE
    return [
        (folder, None),
        _file("dtd/images/banded/banded_0001.jpg", b"jpeg bytes"),
        _file("dtd/labels/train1.txt", b"banded/banded_0001.jpg\n"),
    ]


def test_extracts_a_good_archive(tmp_path):
    archive = _tar(tmp_path / "good.tar.gz", _good_members())
    dest = safe_extract_tar(archive, tmp_path / "out")
    assert dest == tmp_path / "out"
    assert (dest / "dtd/images/banded/banded_0001.jpg").read_bytes() == b"jpeg bytes"
    assert (dest / "dtd/labels/train1.txt").read_text() == "banded/banded_0001.jpg\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tar.gz", "out"]


def _fifo(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.FIFOTYPE
    return info, None


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        (_file("../evil"), "'..'"),
        (_file("dtd/../../evil"), "'..'"),
        (_file("/abs/evil"), "absolute path"),
        (_link("dtd/link", "/etc/passwd", tarfile.SYMTYPE), "symbolic link"),
        (_link("dtd/hard", "dtd/images/banded/banded_0001.jpg", tarfile.LNKTYPE), "hard link"),
        (_fifo("dtd/fifo"), "device or fifo"),
    ],
)
def test_refuses_dangerous_members(tmp_path, member, problem):
    # The bad member comes last, so good members were already extracted when it is met.
    archive = _tar(tmp_path / "bad.tar.gz", [*_good_members(), member])
    with pytest.raises(SourceError) as info:
        safe_extract_tar(archive, tmp_path / "out")
    message = str(info.value)
    assert str(archive) in message and member[0].name in message and problem in message
    assert "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz"]  # nothing left
    assert not (tmp_path.parent / "evil").exists()


def test_truncated_archive_leaves_nothing(tmp_path):
    # Incompressible, like DTD's JPEGs (compressible bytes would meet the extraction cap).
    big = random.Random(0).randbytes(100_000)
    good = _tar(tmp_path / "good.tar.gz", [*_good_members(), _file("dtd/big", big)])
    data = good.read_bytes()
    good.unlink()
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError) as info:
        safe_extract_tar(archive, tmp_path / "out")
    assert "corrupt or truncated" in str(info.value) and str(archive) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tar.gz"]


def test_not_an_archive(tmp_path):
    archive = tmp_path / "junk.tar.gz"
    archive.write_bytes(b"<html>not found</html>")
    with pytest.raises(SourceError, match="corrupt or truncated"):
        safe_extract_tar(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_refuses_existing_destination(tmp_path):
    archive = _tar(tmp_path / "good.tar.gz", _good_members())
    (tmp_path / "out").mkdir()
    with pytest.raises(SourceError, match="already exists"):
        safe_extract_tar(archive, tmp_path / "out")
