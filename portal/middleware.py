from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.http import JsonResponse
from django.shortcuts import render

from portal.pdf import PdfRenderTimeout


class ContentSecurityPolicyMiddleware:
    """Send the strict Content-Security-Policy from settings on every response.

    A view that needs a looser policy (none does today) sets the header itself.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class PdfTimeoutMiddleware:
    """Answer a PDF that ran past its deadline (portal/pdf.py) with 503 and a message.

    For every caller at once: the pages, the API (DRF passes on exceptions it does not know)
    and the evidence pack. portal/pdf.py has logged it already.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, PdfRenderTimeout):
            return None
        message = PDF_TIMEOUT_MESSAGE % {"seconds": exception.seconds}
        headers = {"Retry-After": "60"}
        if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
            return JsonResponse({"detail": message}, status=503, headers=headers)
        response = render(request, "portal/pdf_timeout.html", {"message": message}, status=503)
        response["Retry-After"] = headers["Retry-After"]
        return response


PDF_TIMEOUT_MESSAGE = (
    "This PDF took longer than %(seconds)g seconds to prepare, so it was stopped. "
    "Very long texts are the usual cause: shorten them, or download the page as HTML or "
    "Markdown instead, and try again in a minute."
)


# Sessions signed in before portal.access.AccessBackend name Django's ModelBackend, which is no
# longer listed: Django would then treat them as signed out.
LEGACY_SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"
SESSION_BACKEND = "portal.access.AccessBackend"


class SessionBackendUpgradeMiddleware:
    """Point a session that names ModelBackend at AccessBackend (the same person and the same
    password check, a subclass), so that an upgrade signs no one out.

    Listing ModelBackend again instead would keep those sessions too, but every failed sign-in
    would then check the password twice. Between the session and authentication middleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.session.get(BACKEND_SESSION_KEY) == LEGACY_SESSION_BACKEND:
            request.session[BACKEND_SESSION_KEY] = SESSION_BACKEND
        return self.get_response(request)
