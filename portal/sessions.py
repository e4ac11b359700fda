"""Sessions in the database, as Django's ``db`` engine keeps them, read with written SQL.

Every signed-in request reads its session first. Django's engine asks the ORM for the row
(``Session.objects.get(session_key=..., expire_date__gt=now)``), and building and compiling
that query took longer than running it (issue 19). This engine sends the same condition as one
written statement; saving, creating and deleting are Django's own (SESSION_ENGINE).
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        key = self.session_key  # None for a malformed key (SessionBase checks it)
        if key is None:
            return None
        model = self.model
        meta = model._meta
        sql = (
            f'SELECT "{meta.get_field("session_data").column}" FROM "{meta.db_table}" '
            f'WHERE "{meta.pk.column}" = %s AND "{meta.get_field("expire_date").column}" > %s'
        )
        connection = connections[router.db_for_read(model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(sql, [key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # expired or unknown: a new key if the session is saved
            return None
        return model(session_key=key, session_data=row[0])
