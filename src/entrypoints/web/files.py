"""The Files section: the files on the client's jobs and invoices, viewed inline where that is safe, or downloaded.

View and download only. The routes declare GET alone, so any POST, PUT, PATCH or DELETE is answered 405 by the
router itself (CSRFProtect skips a request that matched no endpoint, so it never turns these into 400).
"""

from __future__ import annotations

import re
import unicodedata
from typing import BinaryIO
from urllib.parse import quote

from flask import render_template, request, send_file
from flask.typing import ResponseReturnValue

from entrypoints.web.portal import portal_blueprint, requested_page, signed_in, viewer
from entrypoints.web.refusals import client_ip
from entrypoints.web.services import portal_services
from portal_core import file_sharing
from portal_core.model.files import File

blueprint = portal_blueprint("files", __name__)

# What a browser may render in place without running anything of the file's: everything else (HTML and SVG above
# all, which can carry script) is always a download.
INLINE_TYPES = {"application/pdf": "application/pdf", "image/png": "image/png", "image/jpeg": "image/jpeg",
                "text/plain": "text/plain; charset=utf-8"}
# Types sent as themselves on download; anything else goes out as application/octet-stream, so no browser or
# proxy ever decides to render a file that staff labelled as HTML.
_SAFE_DOWNLOAD_TYPE = re.compile(r"^(application/(pdf|zip|json|msword|vnd\.[a-z0-9.+-]+)|image/(png|jpeg|gif|webp)|"
                                 r"text/(plain|csv)|audio/[a-z0-9.+-]+|video/[a-z0-9.+-]+)$")
# Never part of an offered name: path separators and control characters.
_PATH_OR_CONTROL = re.compile(r"[\x00-\x1f\x7f/\\]")
# The ASCII fallback keeps only what no browser reads specially (no quote, backslash, percent or semicolon).
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 ._()+,=@!#$&^`{}~\[\]-]")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")
# RFC 5987 attr-char: what may stay unencoded in filename*.
_ATTR_CHAR = "!#$&+-.^_`|~"
# Whatever a browser shows of a file runs nothing: no script, no plugin, no form.
_FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


@blueprint.get("/files")
@signed_in
def index() -> ResponseReturnValue:
    page = file_sharing.list_visible_files(portal_services().reader(), viewer(),
                                           page=requested_page())
    return render_template("files/index.html", page=page, groups=page.items, inline_types=INLINE_TYPES)


@blueprint.get("/files/<file_id>")
@signed_in
def view(file_id: str) -> ResponseReturnValue:
    return _send(file_id, download=False)


@blueprint.get("/files/<file_id>/download")
@signed_in
def download(file_id: str) -> ResponseReturnValue:
    return _send(file_id, download=True)


def _send(file_id: str, *, download: bool) -> ResponseReturnValue:
    services = portal_services()
    file, stream = file_sharing.open_visible_file(services.uow(), storage=services.files, clock=services.clock,
                                                  randomness=services.randomness, viewer=viewer(), file_id=file_id,
                                                  download=download,
                                                  ip=client_ip())
    inline = not download and file.content_type in INLINE_TYPES
    return file_response(file, stream, inline=inline)


def file_response(file: File, stream: BinaryIO, *, inline: bool) -> ResponseReturnValue:
    """Streams the contents (send_file wraps the stream; nothing is read whole), answers conditional requests."""
    if file.content_type in INLINE_TYPES:
        mimetype = INLINE_TYPES[file.content_type]
    elif _SAFE_DOWNLOAD_TYPE.match(file.content_type):
        mimetype = file.content_type
    else:
        mimetype = "application/octet-stream"
    response = send_file(stream, mimetype=mimetype, conditional=False, etag=False, max_age=0)
    response.headers["Content-Type"] = mimetype  # as chosen: werkzeug would append a second charset to text
    response.content_length = file.size
    response.set_etag(file.content_hash)
    response.last_modified = file.attached_at.replace(microsecond=0)  # HTTP dates carry whole seconds
    # Kept in the browser only, and re-checked every time: a detached file is gone on the next request.
    response.cache_control.public = False
    response.cache_control.max_age = None
    response.cache_control.private = True
    response.cache_control.no_cache = True
    response.expires = None
    response.headers["Content-Disposition"] = content_disposition(file.name, inline=inline)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if file.content_type != "application/pdf":  # Chrome's PDF viewer does not run in a sandboxed document
        response.headers["Content-Security-Policy"] = _FILE_CSP
    return response.make_conditional(request, accept_ranges=True, complete_length=file.size)


def offered_name(name: str) -> str:
    """The name offered to the browser: the staff-given name without any path, never empty, never hidden."""
    cleaned = _PATH_OR_CONTROL.sub("_", unicodedata.normalize("NFC", name)).strip().lstrip(".").strip()
    return cleaned or "download"


def ascii_fallback(name: str) -> str:
    """For the old filename= parameter: accents folded, anything that is not plainly safe replaced."""
    folded = unicodedata.normalize("NFKD", offered_name(name)).encode("ascii", "ignore").decode("ascii")
    folded = _NOT_PLAIN.sub("_", folded).strip()
    extension = _EXTENSION.search(folded)
    stem = folded[:extension.start()] if extension else folded
    if not any(ch.isalnum() for ch in stem):  # nothing of the name survived (Arabic, Chinese, ...)
        return "download" + (extension.group(0) if extension else "")
    return folded.lstrip(".")


def content_disposition(name: str, *, inline: bool) -> str:
    """RFC 6266: an ASCII filename= for old clients and the exact name in filename* (RFC 5987, UTF-8)."""
    encoded = quote(offered_name(name), safe=_ATTR_CHAR)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''{encoded}"
