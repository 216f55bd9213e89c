"""S3FileStorage against a real S3 API server on loopback (moto's server mode), configured through boto3's own
AWS_* variables: contents keyed by SHA-256 under the prefix and stored once, downloads through the portal with the
same headers as from a folder, a 503 page and a one-line `portal file attach` failure when the bucket cannot be
reached, and a 100 MB download through a real `portal serve` worker whose peak memory barely moves.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
import requests

from adapters.filesystem import LocalFileStorage
from adapters.s3 import S3FileStorage, describe
from adapters.sqlalchemy.migrate import upgrade
from entrypoints.bootstrap import build_services
from entrypoints.demo import demo_seed
from entrypoints.settings import ConfigurationError, Settings
from portal_core import companies, file_sharing
from portal_core.errors import InvalidInput, StorageError
from portal_core.seed import load_seed
from tests.support.served_portal import served_portal_process
from tests.support.smtp import SmtpServer, code_in, free_port
from tests.support.tcp_proxy import TcpProxy

from .conftest import postgres_base_url, postgres_schema
from .files_fixtures import FilesPortal, SignedIn, csrf_of, make_files_portal, recorded_code
from .test_cli import EXAMPLE, write

moto_server = pytest.importorskip("moto.server")

PORTAL = str(Path(sys.executable).parent / "portal")
SECRET_ACCESS_KEY = "never-print-this-secret-0123456789"  # a fake, looked for in every message
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FAIL_FAST_SECONDS = 5.0
MB = 1 << 20


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """boto3's usual variables for this test (and the subprocesses it starts); nothing from ~/.aws."""
    values = {"AWS_ACCESS_KEY_ID": "AKIATESTING0000", "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
              "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": s3_endpoint,
              "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
              "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
              "AWS_EC2_METADATA_DISABLED": "true"}  # never ask 169.254.169.254 for credentials
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def bucket(aws: dict[str, str]) -> str:
    name = f"portal-{secrets.token_hex(4)}"
    _s3().create_bucket(Bucket=name)
    return name


def _s3() -> Any:
    """A client of its own, from the environment as it is now (boto3's default session would cache it)."""
    return boto3.session.Session().client("s3")


def _keys(bucket: str) -> list[str]:
    listed = _s3().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def _closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"  # bound and released: nothing listens there


# ---- the adapter on its own


def test_put_and_open_round_trip_keyed_by_sha256_under_the_prefix(bucket: str) -> None:
    storage = S3FileStorage.from_url(f"s3://{bucket}/tenants/falcon/")
    data = os.urandom(3 * MB + 17)
    digest = hashlib.sha256(data).hexdigest()
    assert storage.put(io.BytesIO(data)) == (digest, len(data))
    assert _keys(bucket) == [f"tenants/falcon/{digest[:2]}/{digest}"]

    with storage.open(digest) as stream:
        chunks = iter(lambda: stream.read(64 * 1024), b"")
        received = list(chunks)
    assert b"".join(received) == data and max(map(len, received)) <= 64 * 1024
    with storage.open(digest) as stream:
        assert stream.read() == data

    empty = storage.put(io.BytesIO(b""))
    assert empty == (hashlib.sha256(b"").hexdigest(), 0)
    with storage.open(empty[0]) as stream:
        assert stream.read() == b""


def test_the_same_contents_are_stored_once(bucket: str) -> None:
    storage = S3FileStorage.from_url(f"s3://{bucket}/portal")
    digest, _ = storage.put(io.BytesIO(b"quarterly report"))
    key = f"portal/{digest[:2]}/{digest}"
    # Mark the stored object: if a second put uploaded again, the mark would be gone.
    _s3().put_object(Bucket=bucket, Key=key, Body=b"quarterly report", Metadata={"mark": "first"})
    assert storage.put(io.BytesIO(b"quarterly report")) == (digest, 16)
    assert _keys(bucket) == [key]
    assert _s3().head_object(Bucket=bucket, Key=key)["Metadata"] == {"mark": "first"}

    no_prefix = S3FileStorage.from_url(f"s3://{bucket}")
    assert no_prefix.put(io.BytesIO(b"quarterly report"))[0] == digest
    assert _keys(bucket) == sorted([key, f"{digest[:2]}/{digest}"])


def test_store_failures_are_storage_errors_naming_no_credentials(bucket: str, aws: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    storage = S3FileStorage.from_url(f"s3://{bucket}/portal")
    failures: list[StorageError] = []
    with pytest.raises(StorageError, match="missing from the store") as missing:
        storage.open("0" * 64)
    failures.append(missing.value)
    with pytest.raises(StorageError, match="not a content hash"):
        storage.open("../../etc/passwd")
    nowhere = S3FileStorage.from_url("s3://no-such-bucket-here/portal")
    with pytest.raises(StorageError, match="no bucket 'no-such-bucket-here'") as no_bucket:
        nowhere.put(io.BytesIO(b"data"))
    failures.append(no_bucket.value)
    with pytest.raises(StorageError, match="no bucket") as no_bucket_open:
        nowhere.open("0" * 64)
    failures.append(no_bucket_open.value)

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", _closed_endpoint())
    unreachable = S3FileStorage.from_url(f"s3://{bucket}/portal")
    for attempt in (lambda: unreachable.put(io.BytesIO(b"data")), lambda: unreachable.open("0" * 64)):
        started = time.monotonic()
        with pytest.raises(StorageError, match="cannot be reached") as down:
            attempt()
        assert time.monotonic() - started < FAIL_FAST_SECONDS
        failures.append(down.value)

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StorageError, match="no credentials") as no_credentials:
        S3FileStorage.from_url(f"s3://{bucket}/portal").open("0" * 64)
    failures.append(no_credentials.value)

    for failure in failures:
        assert SECRET_ACCESS_KEY not in str(failure) and aws["AWS_ACCESS_KEY_ID"] not in str(failure)


@pytest.mark.parametrize(("code", "expected"), [
    ("AccessDenied", "refused access to bucket 'files'"), ("SignatureDoesNotMatch", "refused access"),
    ("InvalidAccessKeyId", "refused access"), ("SlowDown", "failed (SlowDown)"),
])
def test_refusals_are_worded_without_the_store_s_own_message(code: str, expected: str) -> None:
    # moto's server does not check signatures, so the refusals are built here, as botocore would raise them.
    error = botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": f"The request signature for {SECRET_ACCESS_KEY} ..."}}, "GetObject")
    message = describe(error, "files")
    assert expected in message and SECRET_ACCESS_KEY not in message


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "s3://Upper-Case/x", "s3://ab/x", "s3://bucket:9000/x",
                                 "s3://key:secret@bucket/x", "s3://bucket/x?region=eu", "s3://bucket/a//b",
                                 "s3://bucket/../x", "S3 bucket", "https://bucket.s3.amazonaws.com/x"])
def test_a_malformed_url_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(InvalidInput, match="s3://BUCKET/PREFIX") as refused:
        S3FileStorage.from_url(url)
    assert "secret" not in str(refused.value)


def test_the_composition_root_chooses_the_bucket_only_when_asked(bucket: str, tmp_path: Path) -> None:
    base = {"database_url": "memory://", "file_dir": str(tmp_path / "files")}
    assert isinstance(build_services(Settings.from_env({}, **base)).files, LocalFileStorage)
    from_env = Settings.from_env({"PORTAL_FILE_STORAGE": f"s3://{bucket}/portal", "PORTAL_DATABASE_URL": "memory://"})
    chosen = build_services(from_env).files
    assert isinstance(chosen, S3FileStorage) and (chosen.bucket, chosen.prefix) == (bucket, "portal")
    with pytest.raises(ConfigurationError, match="s3://BUCKET/PREFIX, not gs://") as refused:
        build_services(Settings.from_env({}, **base, file_storage="gs://user:hunter2@bucket/x"))
    assert "hunter2" not in str(refused.value)


# ---- through the portal


def _portal(tmp_path: Path, **settings: str) -> tuple[FilesPortal, SignedIn]:
    portal = make_files_portal(tmp_path / "files", **settings)
    homer = portal.sign_in("globex", "homer@globex.example", recorded_code(portal.sender))
    return portal, homer


FILE_HEADERS = ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control", "Content-Disposition",
                "X-Content-Type-Options", "Content-Security-Policy", "Accept-Ranges", "Content-Range")


def test_downloads_from_a_bucket_answer_exactly_as_from_a_folder(bucket: str, tmp_path: Path) -> None:
    s3_portal, s3_homer = _portal(tmp_path / "s3", file_storage=f"s3://{bucket}/portal")
    local_portal, local_homer = _portal(tmp_path / "local")
    assert not (tmp_path / "s3" / "files").exists()  # the bucket, not a folder
    body = os.urandom(MB) + PDF
    files = [(portal.attach(body, name="Q3 report «final».pdf", content_type="application/pdf", job="globex-j1"),
              homer) for portal, homer in ((s3_portal, s3_homer), (local_portal, local_homer))]
    digest = hashlib.sha256(body).hexdigest()
    assert f"portal/{digest[:2]}/{digest}" in _keys(bucket)

    def headers(response: object) -> dict[str, str | None]:
        return {name: response.headers.get(name) for name in FILE_HEADERS}  # type: ignore[attr-defined]

    answers: list[list[dict[str, str | None]]] = []
    for file, homer in files:
        with homer.stream(f"/files/{file.id}") as inline:
            assert inline.status_code == 200 and inline.is_streamed
            assert inline.data == body
        download = homer.get(f"/files/{file.id}/download")
        assert download.status_code == 200 and download.data == body
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert download.headers["ETag"] == f'"{digest}"'
        unchanged = homer.get(f"/files/{file.id}/download", headers={"If-None-Match": f'"{digest}"'})
        assert unchanged.status_code == 304 and unchanged.data == b""
        ranged = homer.get(f"/files/{file.id}/download", headers={"Range": "bytes=1048576-1048583"})
        assert ranged.status_code == 206 and ranged.data == body[MB:MB + 8]
        answers.append([headers(inline), headers(download), headers(unchanged), headers(ranged)])
    assert answers[0] == answers[1]


def _unavailable(homer: SignedIn, file_id: str) -> None:
    for path in (f"/files/{file_id}", f"/files/{file_id}/download"):
        started = time.monotonic()
        response = homer.get(path)
        assert time.monotonic() - started < FAIL_FAST_SECONDS
        assert response.status_code == 503
        assert "That file is unavailable right now" in response.text and "Traceback" not in response.text
        assert "<html" in response.text.lower() and response.headers["Content-Type"].startswith("text/html")
    assert homer.get("/files").status_code == 200  # the list is in the database: still there


def test_a_bucket_that_cannot_be_reached_answers_503_with_the_usual_page(s3_endpoint: str, bucket: str,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = s3_endpoint.removeprefix("http://").rsplit(":", 1)
    storage = f"s3://{bucket}/portal"
    with TcpProxy(host, int(port)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{proxy.port}")
        portal, homer = _portal(tmp_path, file_storage=storage)
        file = portal.attach(PDF, name="report.pdf", content_type="application/pdf", job="globex-j1")
        assert homer.get(f"/files/{file.id}/download").data == PDF  # the worker now holds kept-alive connections

        proxy.cut()  # the store crashes: live connections are reset, new ones closed on arrival
        _unavailable(homer, file.id)
        proxy.restore()  # and comes back: no restart needed
        assert homer.get(f"/files/{file.id}/download").data == PDF

    # The same portal with its store's address now a closed port (a portal built while the store was up keeps the
    # client it made then, so the storage is rebuilt from the environment, as a restarted worker would).
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", _closed_endpoint())
    portal.services.files = S3FileStorage.from_url(storage)
    _unavailable(homer, file.id)


# ---- `portal file attach`


def _portal_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PORTAL, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_portal_file_attach_stores_in_the_bucket_or_fails_in_one_line(bucket: str, aws: dict[str, str],
                                                                      tmp_path: Path, sqlite_url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    upgrade(sqlite_url)
    env = {"PORTAL_DATABASE_URL": sqlite_url, "PORTAL_FILE_STORAGE": f"s3://{bucket}/portal",
           "PORTAL_FILE_DIR": str(tmp_path / "files"), "PORTAL_SECRET_KEY": "cli-test-secret-0123456789"}
    seeded = _portal_cli(env, "seed", write(tmp_path, EXAMPLE))
    assert seeded.returncode == 0, seeded.stderr
    upload = tmp_path / "site plan.pdf"
    upload.write_bytes(PDF)
    digest = hashlib.sha256(PDF).hexdigest()

    attached = _portal_cli(env, "file", "attach", "--job", "j1", str(upload))
    assert attached.returncode == 0, attached.stderr
    file_id = attached.stdout.strip()
    assert attached.stdout == file_id + "\n" and len(file_id) == 16
    assert f"portal/{digest[:2]}/{digest}" in _keys(bucket)
    assert not (tmp_path / "files").exists()

    def one_line(result: subprocess.CompletedProcess[str]) -> str:
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert SECRET_ACCESS_KEY not in result.stderr
        return lines[0]

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", _closed_endpoint())
    started = time.monotonic()
    line = one_line(_portal_cli(env, "file", "attach", "--job", "j1", str(upload)))
    assert time.monotonic() - started < 15  # a new Python process, boto3 loaded, and the store's own few seconds
    assert line.startswith("error: ") and "cannot be reached" in line and bucket in line

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws["AWS_ENDPOINT_URL_S3"].replace("http", "ftp", 1))
    assert "AWS_ENDPOINT_URL_S3" in one_line(_portal_cli(env, "file", "attach", "--job", "j1", str(upload)))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws["AWS_ENDPOINT_URL_S3"])
    no_bucket = one_line(_portal_cli({**env, "PORTAL_FILE_STORAGE": "s3://no-such-bucket-here/portal"},
                                     "file", "attach", "--job", "j1", str(upload)))
    assert no_bucket == "error: the file store has no bucket 'no-such-bucket-here'"
    assert "s3://BUCKET/PREFIX" in one_line(_portal_cli({**env, "PORTAL_FILE_STORAGE": "s3://a/b"},
                                                        "file", "attach", "--job", "j1", str(upload)))


# ---- a 100 MB download through a real `portal serve` worker


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return values


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _reset_peak(pid: int) -> int:
    """Resets the process's VmHWM to its current RSS (Linux clear_refs 5) and returns that RSS. Without the reset
    the current RSS is still the baseline, which can only make the measured growth larger, never smaller."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass
    return _status(pid)["VmRSS"]


@pytest.mark.postgres
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the worker's peak RSS from /proc")
def test_a_100_mb_download_streams_through_a_worker_whose_peak_rss_grows_less_than_30_mb(
        bucket: str, aws: dict[str, str], tmp_path: Path) -> None:
    big = tmp_path / "survey-scans.zip"
    block = os.urandom(MB)
    digest = hashlib.sha256()
    with big.open("wb") as out:
        for n in range(100):
            chunk = block[n:] + block[:n]  # no two megabytes alike
            digest.update(chunk)
            out.write(chunk)
    secret = secrets.token_urlsafe(32)
    with postgres_schema(postgres_base_url()) as url, SmtpServer() as smtp:
        upgrade(url)
        storage = f"s3://{bucket}/portal"
        services = build_services(Settings.from_env({}, database_url=url, secret_key=secret,
                                                    file_dir=str(tmp_path / "files"), file_storage=storage))
        try:
            load_seed(services.uow(), randomness=services.randomness, clock=services.clock, storage=services.files,
                      document=demo_seed(services.clock.now().date()))
            with big.open("rb") as stream:
                file = file_sharing.attach_file(services.uow(), storage=services.files, clock=services.clock,
                                                randomness=services.randomness,
                                                job_ref="globex-j1", name=big.name, content_type="application/zip",
                                                stream=stream)
            small = file_sharing.attach_file(services.uow(), storage=services.files, clock=services.clock,
                                             randomness=services.randomness,
                                             job_ref="globex-j1", name="note.txt", content_type="text/plain",
                                             stream=io.BytesIO(b"warm-up"))
            token = companies.get_company(services.uow(), "globex").link_token
        finally:
            services.close()
        big.unlink()
        env = {"PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": secret, "PORTAL_EMAIL_URL": smtp.url,
               "PORTAL_EMAIL_FROM": "portal@falcon.example", "PORTAL_FILE_STORAGE": storage,
               "PORTAL_INSTANCE_DIR": str(tmp_path / "instance"), **aws}
        with served_portal_process(env, workers=1, log_path=tmp_path / "serve.log") as (base, process):
            browser = requests.Session()
            home = f"{base}/p/{token}"
            page = browser.get(f"{home}/login", timeout=10)
            sent = browser.post(f"{home}/login", allow_redirects=False, timeout=10,
                                data={"email": "homer@globex.example", "csrf_token": csrf_of(page.text)})
            assert sent.status_code == 303
            code = code_in(smtp.mailbox.wait_for("homer@globex.example")[-1])
            page = browser.get(f"{home}/verify", timeout=10)
            done = browser.post(f"{home}/verify", data={"code": code, "csrf_token": csrf_of(page.text)},
                                allow_redirects=False, timeout=10)
            assert done.status_code == 303, done.text
            # The worker has loaded boto3 and opened its connections before anything is measured.
            assert browser.get(f"{home}/files/{small.id}/download", timeout=10).content == b"warm-up"

            workers = _children(process.pid)
            assert workers, "no gunicorn worker found"
            baseline = {pid: _reset_peak(pid) for pid in workers}
            received = hashlib.sha256()
            size = 0
            with browser.get(f"{home}/files/{file.id}/download", stream=True, timeout=30) as response:
                assert response.status_code == 200
                assert response.headers["Content-Length"] == str(100 * MB)
                assert response.headers["ETag"] == f'"{file.content_hash}"'
                for chunk in response.iter_content(MB):
                    received.update(chunk)
                    size += len(chunk)
            growth = {pid: _status(pid)["VmHWM"] - baseline[pid] for pid in workers}
    assert size == 100 * MB and received.hexdigest() == digest.hexdigest() == file.content_hash
    assert max(growth.values()) < 30 * MB, {pid: f"{grew / MB:.1f} MB" for pid, grew in growth.items()}
