"""Recording as things happen: history rows, the registered append-only rows, and permission
changes (roles granted or taken away, object permissions), each in the transaction that
made it."""

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_save
from guardian.models import GroupObjectPermission, UserObjectPermission
from simple_history.signals import (
    post_create_historical_m2m_records,
    post_create_historical_record,
)

from portal.ledger import chain
from portal.ledger import sources as ledger_sources

PERMISSION = "permission"


def register(
    model, *, kind: str, subject: ledger_sources.Subject, append_only: bool = True
) -> None:
    """Record every row ``model`` gains; the database keeps it append-only unless told not."""
    ledger_sources.register(model, kind=kind, subject=subject, append_only=append_only)
    post_save.connect(
        _record_created, sender=model, dispatch_uid=f"ledger:{model._meta.label_lower}"
    )


def _record_created(sender, instance, created, raw=False, **kwargs) -> None:
    if created and not raw:
        chain.record(instance, actor_id=_actor_of(instance))


def _actor_of(instance) -> int | None:
    for name in (
        "actor_id",
        "signed_by_id",
        "asked_by_id",
        "moved_by_id",
        "created_by_id",
        "history_user_id",
    ):
        value = getattr(instance, name, None)
        if value is not None:
            return value
    return None


def _record_history(sender, history_instance, **kwargs) -> None:
    chain.record(history_instance)


def _m2m_snapshot_written(sender, created_rows, history_instance, field, **kwargs) -> None:
    """Keep, on the history row, the many-to-many snapshot simple-history just wrote for it
    (it writes each field's, then sends post_create_historical_record), so the ledger's entry
    is made from those rows rather than from reading them back (chain.record)."""
    target = ledger_sources.m2m_target_column(sender)
    written = history_instance.__dict__.setdefault(ledger_sources.M2M_WRITTEN, {})
    written[field.name] = [getattr(row, target) for row in created_rows]


def _groups_changed(sender, instance, action, pk_set, reverse, model, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    User = get_user_model()
    if reverse:  # group.user_set.add(user, ...): the instance is the group
        users, groups = sorted(pk_set or []), [instance.pk]
    else:
        users, groups = [instance.pk], sorted(pk_set or [])
    names = (
        dict(model.objects.filter(pk__in=groups).values_list("pk", "name")) if not reverse else {}
    )
    for user_id in users:
        chain.append(
            PERMISSION,
            "auth_user_groups",
            user_id,
            {
                "user": user_id,
                "action": action.removeprefix("post_"),
                "groups": groups,
                "group_names": [names.get(g, "") for g in groups] if names else [],
            },
            subject=f"{User._meta.label_lower}:{user_id}",
        )


def _object_permission(sender, instance, created=None, **kwargs) -> None:
    action = "delete" if created is None else ("grant" if created else "change")
    holder = (
        {"user": instance.user_id}
        if isinstance(instance, UserObjectPermission)
        else {"group": instance.group_id}
    )
    chain.append(
        PERMISSION,
        sender._meta.db_table,
        instance.pk,
        {
            "action": action,
            **holder,
            "permission": instance.permission_id,
            "content_type": instance.content_type_id,
            "object_pk": instance.object_pk,
        },
        subject=f"object:{instance.content_type_id}:{instance.object_pk}",
    )


def connect() -> None:
    post_create_historical_m2m_records.connect(
        _m2m_snapshot_written, dispatch_uid="ledger:history-m2m"
    )
    post_create_historical_record.connect(_record_history, dispatch_uid="ledger:history")
    User = get_user_model()
    m2m_changed.connect(
        _groups_changed, sender=User.groups.through, dispatch_uid="ledger:user-groups"
    )
    for model in (UserObjectPermission, GroupObjectPermission):
        label = model._meta.label_lower
        post_save.connect(_object_permission, sender=model, dispatch_uid=f"ledger:{label}:save")
        post_delete.connect(_object_permission, sender=model, dispatch_uid=f"ledger:{label}:delete")
