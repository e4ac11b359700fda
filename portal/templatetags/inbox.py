"""The navigation bar's unread count: one COUNT per request, kept on the request."""

from django import template

from portal import notify

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context) -> int:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    if not hasattr(request, "_unread_notifications"):
        request._unread_notifications = notify.unread_count(user)
    return request._unread_notifications
