"""LocalFileStorage on a real folder: content-addressed, atomic, and deaf to the names clients will see."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from adapters.filesystem import LocalFileStorage
from adapters.memory import FixedClock, InMemoryStore, InMemoryUnitOfWork, SeededRandomness
from portal_core import file_sharing
from portal_core.errors import StorageError
from portal_core.model.company import Company
from portal_core.model.documents import Job, JobStatus


class Exploding(io.RawIOBase):
    """A stream that hands out some bytes and then fails, as a dropped upload or a bad disk would."""

    def __init__(self, good: bytes, error: BaseException) -> None:
        self._good = good
        self._error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        if self._good:
            n = min(len(buffer), len(self._good))
            buffer[:n] = self._good[:n]
            self._good = self._good[n:]
            return n
        raise self._error


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_stores_under_the_sha256_and_open_reads_it_back(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    data = os.urandom(200_000)
    digest, size = storage.put(io.BytesIO(data))
    assert digest == hashlib.sha256(data).hexdigest() and size == len(data)
    assert _files(tmp_path) == [tmp_path / digest[:2] / digest]
    with storage.open(digest) as stream:
        assert stream.read() == data


def test_the_same_contents_twice_are_one_blob(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    first = storage.put(io.BytesIO(b"same"))
    assert storage.put(io.BytesIO(b"same")) == first
    assert len(_files(tmp_path)) == 1


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), KeyboardInterrupt()])
def test_a_failed_write_leaves_no_temporary_file_and_no_blob(tmp_path: Path, error: BaseException) -> None:
    storage = LocalFileStorage(tmp_path)
    with pytest.raises(StorageError if isinstance(error, OSError) else KeyboardInterrupt):
        storage.put(io.BufferedReader(Exploding(b"x" * 100_000, error)))
    assert _files(tmp_path) == []


def test_a_full_disk_is_a_storage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalFileStorage(tmp_path)

    def no_space(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StorageError, match="No space left"):
        storage.put(io.BytesIO(b"data"))
    assert _files(tmp_path) == []


def test_missing_contents_are_a_storage_error(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    with pytest.raises(StorageError):
        storage.open(hashlib.sha256(b"never stored").hexdigest())


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "ABC", "0" * 63, "/" + "0" * 64, "0" * 64 + "/.."])
def test_only_a_content_hash_is_ever_a_path(tmp_path: Path, bad: str) -> None:
    with pytest.raises(StorageError):
        LocalFileStorage(tmp_path).open(bad)


@pytest.mark.parametrize("name", ['Q3 report "final".pdf', "../../etc/passwd", "/etc/shadow", "..\\..\\boot.ini",
                                  "تقرير.pdf", "résumé 😀.txt", "a/b/c.txt", ".hidden", "con.txt", "x" * 255])
def test_names_never_touch_the_path(tmp_path: Path, name: str) -> None:
    root = tmp_path / "store"
    storage = LocalFileStorage(root)
    uow = InMemoryUnitOfWork(InMemoryStore())
    randomness = SeededRandomness(3)
    with uow:
        uow.companies.add(Company(id="c1", name="Globex", link_token="t" * 32, portal_enabled=True))
        uow.jobs.add(Job(id="j1", company_id="c1", title="Job", status=JobStatus.IN_PROGRESS, ref="j1"))
        uow.commit()
    data = name.encode()
    file = file_sharing.attach_file(uow, storage=storage, clock=FixedClock(), randomness=randomness, job_ref="j1",
                                    name=name,
                                    content_type="application/octet-stream", stream=io.BytesIO(data))
    assert file.name == name
    digest = hashlib.sha256(data).hexdigest()
    assert _files(tmp_path) == [root / digest[:2] / digest]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
