"""The API's base viewset and exception handler (settings.REST_FRAMEWORK names it).

Apart from portal/api.py because DRF imports the default permission class while it loads its
own views module: that module must not import rest_framework.views.
"""

from rest_framework import mixins, views, viewsets

from portal.api import as_api_error
from portal.idempotency import idempotent


def exception_handler(exc, context):
    """DRF's handler, after turning a service's django exceptions into the API's."""
    return views.exception_handler(as_api_error(exc), context)


class RecordViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List and read records through a selector (``get_queryset``), under the named rules.

    Add ``mixins.CreateModelMixin`` / ``UpdateModelMixin`` or ``@action`` methods that call
    the services; there is no DELETE unless a viewset adds one (records are kept).

    Every ``create`` a subclass has (its own or a mixin's) honours an ``Idempotency-Key``
    header (portal/idempotency.py), so a client may retry it safely.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        create = getattr(cls, "create", None)
        if create is not None:
            cls.create = idempotent(create)
