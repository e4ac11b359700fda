"""PDFs from Django templates, rendered by WeasyPrint without ever touching the network.

Every PDF gets the house stylesheet (static/css/pdf.css: A4, fonts, footer), parsed once per
process: parsing compiles its selectors, which would otherwise cost a tenth of a second per
PDF. A template may link more files (an image, a font) with ``{% static %}``: relative links
resolve against SITE_URL, and the URL fetcher answers those under STATIC_URL from the local
static files (the finders, then the collected files). It refuses every other URL, so a PDF
loads nothing from the internet, whatever an answer or a template says.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import posixpath
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponse
from django.template.loader import render_to_string
from weasyprint import CSS, HTML, Document
from weasyprint.urls import URLFetcher, URLFetcherResponse


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


def render_document(
    template_name: str, context: dict, *, request=None, stylesheets=HOUSE_STYLESHEETS
) -> Document:
    """The laid-out document, for callers that need its pages before writing it."""
    html = render_to_string(template_name, context, request=request)
    return HTML(string=html, base_url=base_url(), url_fetcher=LocalStaticFetcher()).render(
        stylesheets=[stylesheet(name) for name in stylesheets]
    )


def render_pdf(
    template_name: str, context: dict, *, request=None, stylesheets=HOUSE_STYLESHEETS
) -> bytes:
    return render_document(
        template_name, context, request=request, stylesheets=stylesheets
    ).write_pdf()


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
