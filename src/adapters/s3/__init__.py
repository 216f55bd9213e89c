"""File contents in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2) through boto3, keyed by their SHA-256."""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
import boto3.exceptions
import botocore.config
import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from portal_core.errors import InvalidInput, StorageError

_HASH = re.compile(r"^[0-9a-f]{64}$")
# S3's rules for a bucket name (also what MinIO, Ceph and R2 accept): 3 to 63 lowercase letters, digits, dots and
# hyphens, starting and ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CHUNK = 1 << 16
_URL_SHAPE = "PORTAL_FILE_STORAGE must look like s3://BUCKET/PREFIX (the prefix may be left out)"
# Errors the store gives for "no such object" (GET answers NoSuchKey, HEAD only a bare 404).
_MISSING = {"NoSuchKey", "404", "NotFound"}
_REFUSED = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
            "ExpiredToken", "InvalidToken", "AccountProblem"}
_UNREACHABLE = (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError,
                botocore.exceptions.HTTPClientError)


def _client_config(*, connect_timeout: float, read_timeout: float, max_attempts: int) -> botocore.config.Config:
    # Short timeouts and one retry: a download or an attach waits on this, and a store that is down should answer
    # 503 (or exit 2) within seconds, not after botocore's default minute of retries.
    return botocore.config.Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                                  retries={"max_attempts": max_attempts, "mode": "standard"})


class S3FileStorage:
    """Contents under PREFIX/ab/<sha256>. An object, once written, never changes: a second put of the same bytes
    uploads nothing. Everything boto3 or botocore raises surfaces as StorageError, worded without credentials."""

    def __init__(self, *, client: Any, bucket: str, prefix: str = "", spool_dir: str | None = None,
                 transfer: TransferConfig | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.spool_dir = spool_dir
        # At most 4 parts of 8 MB in flight while uploading (s3transfer's default is 10).
        self.transfer = transfer or TransferConfig(max_concurrency=4)

    @classmethod
    def from_url(cls, url: str, *, spool_dir: str | None = None, connect_timeout: float = 3.0,
                 read_timeout: float = 10.0, max_attempts: int = 2) -> S3FileStorage:
        """s3://BUCKET/PREFIX; credentials, region and endpoint come from boto3's usual sources (AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3, ~/.aws/...). Raises InvalidInput."""
        bucket, prefix = parse_url(url)
        config = _client_config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                                max_attempts=max_attempts)
        try:
            client = boto3.session.Session().client("s3", config=config)
        except (botocore.exceptions.BotoCoreError, ValueError) as exc:  # e.g. a malformed AWS_ENDPOINT_URL_S3
            raise InvalidInput(f"cannot set up the S3 client for {url} ({type(exc).__name__}); check "
                               "AWS_DEFAULT_REGION and AWS_ENDPOINT_URL_S3") from None
        return cls(client=client, bucket=bucket, prefix=prefix, spool_dir=spool_dir)

    def key(self, content_hash: str) -> str:
        if not _HASH.match(content_hash):
            raise StorageError("not a content hash")
        name = f"{content_hash[:2]}/{content_hash}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, stream: BinaryIO) -> tuple[str, int]:
        # Spooled to disk while hashing: the key is the hash, known only at the end, and a 100 MB file must not sit
        # in memory. The object appears whole or not at all (S3 writes and multipart completions are atomic).
        digest = hashlib.sha256()
        size = 0
        try:
            with tempfile.TemporaryFile(dir=self.spool_dir, prefix=".incoming-") as spool:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    spool.write(chunk)
                content_hash = digest.hexdigest()
                key = self.key(content_hash)
                if not self._exists(key):
                    spool.seek(0)
                    self._call(self.client.upload_fileobj, spool, self.bucket, key, Config=self.transfer)
        except OSError as exc:
            raise StorageError(f"could not store the file ({exc.strerror or type(exc).__name__})") from exc
        return content_hash, size

    def open(self, content_hash: str) -> BinaryIO:
        key = self.key(content_hash)
        # The GET is made here, not on the first read, so a missing object or an unreachable store is known before
        # any response starts (a 503 page, not a cut-off download).
        response = self._call(self.client.get_object, Bucket=self.bucket, Key=key)
        return _ObjectReader(response["Body"])  # type: ignore[return-value]

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            # Without s3:ListBucket, AWS answers a HEAD of a missing key with 403, not 404: upload anyway (the same
            # bytes again at worst), and let the upload say whether writing is refused.
            if _code(exc) in _MISSING or _code(exc) in ("403", "AccessDenied", "Forbidden"):
                return False
            raise self._error(exc) from exc
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as exc:
            raise self._error(exc) from exc
        return True

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
                boto3.exceptions.Boto3Error) as exc:
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> StorageError:
        return StorageError(describe(exc, self.bucket))


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://BUCKET/PREFIX. Raises InvalidInput."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput(_URL_SHAPE) from None
    if (parts.scheme != "s3" or not parts.hostname or parts.username or parts.password or port is not None
            or parts.query or parts.fragment or parts.netloc != parts.hostname):
        raise InvalidInput(_URL_SHAPE)
    bucket = parts.netloc
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidInput(f"{_URL_SHAPE}; {bucket!r} is not a valid bucket name (3 to 63 lowercase letters, "
                           "digits, dots and hyphens)")
    prefix = parts.path.strip("/")
    if prefix and any(segment in ("", ".", "..") for segment in prefix.split("/")):
        raise InvalidInput(f"{_URL_SHAPE}; the prefix {prefix!r} has an empty, '.' or '..' part")
    return bucket, prefix


def _code(exc: botocore.exceptions.ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def describe(exc: BaseException, bucket: str) -> str:
    """What went wrong, for a person: the bucket and the kind of failure, never a key, secret or signature (botocore's
    own messages may quote request details, so none is passed on)."""
    if isinstance(exc, boto3.exceptions.S3UploadFailedError) and exc.__context__ is not None:
        exc = exc.__context__  # upload_file wraps the ClientError without chaining it explicitly
    if isinstance(exc, botocore.exceptions.ClientError):
        code = _code(exc)
        if code in _MISSING:
            return "the file's contents are missing from the store"
        if code == "NoSuchBucket":
            return f"the file store has no bucket {bucket!r}"
        if code in _REFUSED:
            return f"the file store refused access to bucket {bucket!r} ({code}); check its credentials"
        return f"the file store failed ({code})"
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return "the file store has no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, botocore.exceptions.EndpointResolutionError):
        return "the file store's address is not usable; check AWS_ENDPOINT_URL_S3 and AWS_DEFAULT_REGION"
    if isinstance(exc, _UNREACHABLE):
        return f"the file store for bucket {bucket!r} cannot be reached ({type(exc).__name__})"
    return f"the file store failed ({type(exc).__name__})"


class _ObjectReader(io.RawIOBase):
    """An object's body, read in the chunks the caller asks for (send_file: 8 KB at a time), never whole.

    Not seekable and without a fileno, so neither werkzeug nor gunicorn tries to stat, seek or sendfile it.
    """

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        try:
            data: bytes = self._body.read(None if size is None or size < 0 else size)
        except (botocore.exceptions.BotoCoreError, OSError, ValueError) as exc:
            # The response may already be under way: the server cuts it short, and the log says why.
            raise StorageError(f"reading the file from the store failed ({type(exc).__name__})") from exc
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()  # the connection is dropped if unread: a 304 never downloads the rest
        super().close()

