"""The demo's notifications: the services told people as the demo moved its records, so each
demo person already has notifications and My work items; here the older half of each
person's notifications are marked read (so the list shows both states) and the DPO chose the
daily digest (so the profile page shows a choice other than the default)."""

from django.db.models import Count

from portal import notify
from portal.models import EmailChoice, Notification


def seed(people: dict) -> None:
    counts = Notification.objects.values("recipient_id").annotate(n=Count("id"))
    for row in counts:
        older = Notification.objects.filter(recipient_id=row["recipient_id"]).order_by(
            "created_at", "pk"
        )[: row["n"] // 2]
        for notification in older:
            notify.mark_read(notification)
    notify.set_preference(user=people["dpo"], choice=EmailChoice.DAILY)
