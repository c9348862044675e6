"""What a killed download or extraction leaves is cleaned by the next run; a tar bomb stops
at the extraction cap; the offline variables turn downloads off."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest
from fakedata import make_fake_mnist

from texmnist.errors import SourceError, SourceNotFoundError
from texmnist.sources import DIGIT_SOURCES, fetch, load_digits, resolve_dtd
from texmnist.sources.claims import clean_stale
from texmnist.sources.fetch import Remote, download, safe_extract_tar

PAYLOAD = b"texmnist payload\n" * 1000
SRC = Path(__file__).resolve().parents[1]


def _killed_while(tmp_path: Path, code: str) -> None:
    """Run `code` in a child that prints "ready" when its leftover exists; SIGKILL it then."""
    script = textwrap.dedent(code)
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=SRC,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def _parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_a_killed_download_leaves_a_part_that_the_next_download_removes(tmp_path):
    served = tmp_path / "payload.bin"
    served.write_bytes(PAYLOAD)
    _killed_while(
        tmp_path,
        """
        import sys, time
        from pathlib import Path
        from texmnist import fetch

        def stall(url, remote, tmp, progress):
            tmp.write_bytes(b"half")
            print("ready", flush=True)
            time.sleep(60)

        fetch._fetch = stall
        root = Path(sys.argv[1])
        remote = fetch.Remote("payload.bin", ("file:///x",), "0" * 64, 4)
        fetch.download(remote, root / "cache", progress=False)
        """,
    )
    cache = tmp_path / "cache"
    assert len(_parts(cache)) == 1  # what SIGKILL leaves
    remote = Remote(
        "payload.bin", (served.as_uri(),), hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD)
    )
    assert download(remote, cache, progress=False).read_bytes() == PAYLOAD
    assert sorted(p.name for p in cache.iterdir()) == ["payload.bin"]


def test_a_part_that_a_live_process_holds_is_kept(tmp_path):
    live = tmp_path / ".payload.bin.abc.part"
    live.write_bytes(b"being written")
    stale = tmp_path / ".payload.bin.def.part"
    stale.write_bytes(b"left by a kill")
    other = tmp_path / ".other.bin.ghi.part"  # another file's: not this download's business
    other.write_bytes(b"x")
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        clean_stale(tmp_path, ".payload.bin.", ".part")
        assert _parts(tmp_path) == [other.name, live.name]


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_killed_extraction_leaves_a_folder_that_the_next_one_removes(tmp_path):
    archive = _archive(tmp_path / "a.tar.gz", {"dtd/images/x.jpg": os.urandom(1000)})
    _killed_while(
        tmp_path,
        """
        import sys, tarfile, time
        from pathlib import Path
        from texmnist import fetch

        extract = tarfile.TarFile.extract

        def stall(self, *args, **kwargs):
            extract(self, *args, **kwargs)
            print("ready", flush=True)
            time.sleep(60)

        tarfile.TarFile.extract = stall
        root = Path(sys.argv[1])
        fetch.safe_extract_tar(root / "a.tar.gz", root / "cache" / "dtd-r1.0.1")
        """,
    )
    cache = tmp_path / "cache"
    assert len(_parts(cache)) == 1
    dest = safe_extract_tar(archive, cache / "dtd-r1.0.1")
    assert sorted(p.name for p in cache.iterdir()) == ["dtd-r1.0.1"]
    assert (dest / "dtd/images/x.jpg").stat().st_size == 1000


def test_extraction_stops_at_the_cap(tmp_path):
    # 64 MB of zeros in a 64 kB archive: four times its size is the most it may write.
    archive = _archive(tmp_path / "bomb.tar.gz", {"dtd/ok.txt": b"ok", "dtd/big": bytes(2**26)})
    size = archive.stat().st_size
    assert size < 2**20
    with pytest.raises(SourceError) as info:
        safe_extract_tar(archive, tmp_path / "out")
    assert str(info.value) == (
        f"{archive}: refusing to extract member 'dtd/big': the members add up to more than "
        f"{4 * size} bytes, far more than the archive should hold; delete it and retry"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.tar.gz"]


def test_the_cap_lets_an_incompressible_archive_through(tmp_path):
    data = os.urandom(2**20)
    archive = _archive(tmp_path / "photos.tar.gz", {"dtd/a.jpg": data, "dtd/b.jpg": data[::-1]})
    dest = safe_extract_tar(archive, tmp_path / "out")
    assert (dest / "dtd/b.jpg").read_bytes() == data[::-1]


def _served_mnist(tmp_path: Path):
    import dataclasses

    served = make_fake_mnist(tmp_path / "server")
    files = {}
    for role, remote in DIGIT_SOURCES["mnist"].files.items():
        data = (served / remote.filename).read_bytes()
        url = (served / remote.filename).as_uri()
        files[role] = Remote(remote.filename, (url,), hashlib.sha256(data).hexdigest(), len(data))
    return dataclasses.replace(DIGIT_SOURCES["mnist"], files=files)


@pytest.mark.parametrize("variable", fetch.OFFLINE_VARIABLES)
def test_the_offline_variables_turn_downloads_off(tmp_path, online, monkeypatch, variable):
    source = _served_mnist(tmp_path)
    monkeypatch.setenv(variable, "1")
    cache = tmp_path / "cache"
    with pytest.raises(SourceNotFoundError) as info:
        load_digits(source, cache_dir=cache, progress=False)
    assert str(info.value) == (
        f"MNIST file train-images-idx3-ubyte.gz not in the cache {cache} and downloads are "
        f"off ({variable}=1); pass --mnist-dir FOLDER holding the four IDX files"
    )
    assert not cache.exists()  # not a byte fetched
    with pytest.raises(SourceNotFoundError, match=rf"downloads are off \({variable}=1\)"):
        resolve_dtd(cache_dir=tmp_path / "dtd-cache")
    monkeypatch.setenv(variable, "0")  # "0" is not offline
    assert load_digits(source, cache_dir=cache, progress=False).train_images.shape[0] == 60


def test_a_failed_download_mentions_no_download(tmp_path, online):
    import dataclasses

    src = DIGIT_SOURCES["mnist"]
    gone = (tmp_path / "nowhere").as_uri()
    files = {r: Remote(m.filename, (gone,), m.sha256, m.size) for r, m in src.files.items()}
    with pytest.raises(SourceError) as info:
        load_digits(dataclasses.replace(src, files=files), cache_dir=tmp_path, progress=False)
    assert str(info.value).endswith(
        "or pass --mnist-dir FOLDER holding the four IDX files; offline, --no-download skips "
        "the mirrors"
    )
