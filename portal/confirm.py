"""Confirmation pages for destructive or rare actions (issue 18): retiring, rolling back,
revoking. The page says what the action changes; only its POST, which carries ``confirm=1``,
acts. A POST without it (an old bookmarked form, a script posting the page's form directly)
is answered with the confirmation page, so nothing changes in one click.

The kill switch (registry/views/use_cases.py) was the first of these and keeps its own page.
"""

from collections.abc import Iterable, Sequence

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def confirmed(request: HttpRequest) -> bool:
    """Whether this is the confirmation page's own POST."""
    return request.method == "POST" and request.POST.get("confirm") == "1"


def confirm_page(
    request: HttpRequest,
    *,
    question: str,
    crumbs: Sequence[tuple[str, str]],
    crumb: str,
    changes: Iterable[str],
    action: str,
    button: str,
    cancel: str,
    subject: str = "",
    hidden: Sequence[tuple[str, object]] = (),
    reason_label: str = "",
    reason_error: str = "",
    style: str = "danger",
    status: int = 200,
) -> HttpResponse:
    """The confirmation page (templates/portal/confirm.html); a reason typed is kept."""
    return render(
        request,
        "portal/confirm.html",
        {
            "question": question,
            "crumbs": crumbs,
            "crumb": crumb,
            "subject": subject,
            "changes": list(changes),
            "action": action,
            "hidden": hidden,
            "reason_label": reason_label,
            "reason": request.POST.get("reason", "") if request.method == "POST" else "",
            "reason_error": reason_error,
            "button": button,
            "style": style,
            "cancel": cancel,
        },
        status=status,
    )
