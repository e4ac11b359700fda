"""PDFs from Django templates, rendered by WeasyPrint without ever touching the network, and
never for longer than settings.PDF_RENDER_TIMEOUT_SECONDS.

Every PDF gets the house stylesheet (static/css/pdf.css: A4, fonts, footer), parsed once per
process: parsing compiles its selectors, which would otherwise cost a tenth of a second per
PDF. A template may link more files (an image, a font) with ``{% static %}``: relative links
resolve against SITE_URL, and the URL fetcher answers those under STATIC_URL from the local
static files (the finders, then the collected files). It refuses every other URL, so a PDF
loads nothing from the internet, whatever an answer or a template says.

Bounded work. What people type reaches PDFs, and WeasyPrint's cost of breaking a word that
is wider than its line grows with the square of the word's length (a 20,000-character word
took 4 s on its own, 12 s in a table cell; 40,000 characters 37 s). So before layout every
run of more than ``LONG_RUN`` characters without a space gets an invisible break
opportunity (U+200B) every ``BREAK_EVERY`` characters: the layout then breaks it like any
line of words, in linear time (the same word: 0.2 s). The house stylesheet's
``overflow-wrap: anywhere`` stays for words shorter than that in narrow cells.

Whatever else might make a layout slow, the layout runs in a forked child process with a
deadline: past it the child is killed (a thread could not be) and ``PdfRenderTimeout`` is
raised, which ``portal.middleware.PdfTimeoutMiddleware`` answers with 503 and a message, and
which is logged. The template is rendered in the calling process (it may read the database);
the child only lays out HTML and writes the PDF, and hands the bytes back through a pipe. A
child forked from a threaded server that should ever hang on a lock another thread held is
killed at the same deadline, so the caller always gets an answer.
"""

from __future__ import annotations

import functools
import logging
import mimetypes
import os
import pickle
import posixpath
import re
import select
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponse
from django.template.loader import render_to_string
from weasyprint import CSS, HTML, Document
from weasyprint.urls import URLFetcher, URLFetcherResponse

logger = logging.getLogger(__name__)


class PdfRenderTimeout(Exception):
    """A PDF took longer than settings.PDF_RENDER_TIMEOUT_SECONDS to lay out."""

    def __init__(self, what: str, seconds: float):
        self.what, self.seconds = what, seconds
        super().__init__(f"{what} took longer than {seconds:g} s to render")


class PdfRenderError(Exception):
    """The child that laid out a PDF failed; its error, as text."""


def base_url() -> str:
    return settings.SITE_URL.rstrip("/") + "/"


def static_prefix() -> str:
    """Where static files live under base_url(), e.g. ``http://host/static/``."""
    static = settings.STATIC_URL
    if urlsplit(static).scheme:  # a static host of its own
        return static if static.endswith("/") else static + "/"
    return base_url() + static.strip("/") + "/"


class LocalStaticFetcher(URLFetcher):
    """Serves static files from disk and refuses everything else (no network, no file://)."""

    def fetch(self, url, headers=None):
        prefix = static_prefix()
        if not url.startswith(prefix):
            raise ValueError(f"PDFs load only local static files, not {url[:200]}")
        name = unquote(urlsplit(url[len(prefix) :]).path)
        normal = posixpath.normpath(name)
        if not name or normal.startswith(("/", "..")) or normal != name.strip("/"):
            raise ValueError(f"Not a static file name: {name[:200]}")
        content = _read_static(normal)
        if content is None:
            raise ValueError(f"No static file {normal}")
        mime = mimetypes.guess_type(normal)[0] or "application/octet-stream"
        return URLFetcherResponse(url, content, {"Content-Type": mime})


def _read_static(name: str) -> bytes | None:
    found = finders.find(name)
    if found:
        with open(found, "rb") as f:
            return f.read()
    # After collectstatic the manifest gives hashed names that only the storage knows.
    if staticfiles_storage.exists(name):
        with staticfiles_storage.open(name) as f:
            return f.read()
    return None


HOUSE_STYLESHEETS = ("css/pdf.css",)


def stylesheet(name: str) -> CSS:
    """A static stylesheet, parsed once for each version of the file."""
    found = finders.find(name)
    return _parsed(name, os.stat(found).st_mtime_ns if found else 0)


@functools.lru_cache(maxsize=16)
def _parsed(name: str, version: int) -> CSS:
    content = _read_static(name)
    if content is None:
        raise FileNotFoundError(f"No static file {name}")
    return CSS(
        string=content.decode("utf-8"),
        base_url=static_prefix() + name,
        url_fetcher=LocalStaticFetcher(),
    )


# Long words ---------------------------------------------------------------------------------
LONG_RUN = 64  # a SHA-256 in hex (64 characters) is left whole
BREAK_EVERY = 32
BREAK = "\u200b"  # ZERO WIDTH SPACE: a line may break here; nothing is drawn
_LONG_RUN = re.compile(rf"[^\s\u200b]{{{LONG_RUN + 1},}}")
_NOT_TEXT = {"style", "script", "head", "title"}


def breakable(text: str) -> str:
    """``text`` with a break opportunity every BREAK_EVERY characters of each long word."""
    return _LONG_RUN.sub(
        lambda m: BREAK.join(
            m.group()[i : i + BREAK_EVERY] for i in range(0, len(m.group()), BREAK_EVERY)
        ),
        text,
    )


def _break_long_words(root) -> None:
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
        if element.text and tag not in _NOT_TEXT:
            element.text = breakable(element.text)
        if element.tail:  # text after the element belongs to its parent, never a <style>
            element.tail = breakable(element.tail)


# Layout in a child with a deadline --------------------------------------------------------------
@dataclass(frozen=True)
class RenderedPdf:
    content: bytes
    pages: int  # pages the chosen layout ran to (before any were dropped)
    fitted: int | None  # index of the first context that fit max_pages; None: none did


def _layout(html: str, stylesheets: list[CSS]) -> Document:
    document = HTML(string=html, base_url=base_url(), url_fetcher=LocalStaticFetcher())
    _break_long_words(document.etree_element)
    return document.render(stylesheets=stylesheets)


def _lay_out_first_fitting(
    htmls: Sequence[str], stylesheets: list[CSS], max_pages: int | None
) -> RenderedPdf:
    document = None
    for index, html in enumerate(htmls):
        document = _layout(html, stylesheets)
        if max_pages is None or len(document.pages) <= max_pages:
            return RenderedPdf(document.write_pdf(), len(document.pages), index)
    assert document is not None and max_pages is not None
    kept = document.copy(document.pages[:max_pages])
    return RenderedPdf(kept.write_pdf(), len(document.pages), None)


def run_with_deadline(job: Callable[[], Any], seconds: float, what: str) -> Any:
    """``job()`` run in a forked child, killed after ``seconds`` (PdfRenderTimeout).

    Its result comes back pickled through a pipe; an exception in the child becomes a
    PdfRenderError with its text. Without fork (or with no deadline set) it runs here.
    """
    if seconds <= 0 or not hasattr(os, "fork"):
        return job()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: lay out, hand the result back, leave without any clean-up
        code = 0
        try:
            os.close(read_fd)
            try:
                answer: tuple[str, Any] = ("ok", job())
            except BaseException as exc:  # noqa: BLE001 - every failure goes back as text
                answer, code = ("error", f"{type(exc).__name__}: {exc}"), 1
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
        finally:
            os._exit(code)  # no atexit, no closing the parent's database connections
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    poller = select.poll()  # not select(): a busy server's descriptors pass FD_SETSIZE
    poller.register(read_fd, select.POLLIN)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                os.kill(pid, signal.SIGKILL)
                logger.warning("PDF render timed out after %g s: %s", seconds, what)
                raise PdfRenderTimeout(what, seconds)
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    if not chunks:
        raise PdfRenderError(f"The PDF renderer for {what} stopped without an answer")
    status, payload = pickle.loads(b"".join(chunks))  # noqa: S301 - our own child's bytes
    if status != "ok":
        raise PdfRenderError(f"{what}: {payload}")
    return payload


def render_pdfs_until_fit(
    template_name: str,
    contexts: Sequence[dict],
    *,
    max_pages: int | None = None,
    request=None,
    stylesheets: Sequence[str] = HOUSE_STYLESHEETS,
) -> RenderedPdf:
    """The PDF of the first context whose layout runs to at most ``max_pages`` pages; if none
    does, the first ``max_pages`` pages of the last. Every template is rendered here (they
    may read the database); the layouts run in one child under the deadline."""
    htmls = [render_to_string(template_name, c, request=request) for c in contexts]
    sheets = [stylesheet(name) for name in stylesheets]  # parsed here: the cache outlives a child
    return run_with_deadline(
        lambda: _lay_out_first_fitting(htmls, sheets, max_pages),
        settings.PDF_RENDER_TIMEOUT_SECONDS,
        template_name,
    )


def render_pdf(
    template_name: str, context: dict, *, request=None, stylesheets=HOUSE_STYLESHEETS
) -> bytes:
    return render_pdfs_until_fit(
        template_name, [context], request=request, stylesheets=stylesheets
    ).content


def pdf_response(content: bytes, filename: str, inline: bool = False) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    disposition = "inline" if inline else "attachment"
    # Filenames here are references and fixed words; keep them plain ASCII for every browser.
    safe = "".join(c for c in filename if c.isascii() and (c.isalnum() or c in "-_.")) or "file.pdf"
    response["Content-Disposition"] = f'{disposition}; filename="{safe}"'
    response["Content-Length"] = str(len(content))
    # What a PDF holds is as confidential as the page it comes from: no shared cache keeps it.
    response["Cache-Control"] = "private"
    return response
