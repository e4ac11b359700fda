"""django-simple-history's ``Model.history``, with its manager class made once per model.

The library's descriptor builds a new manager class on every read of ``Model.history`` or
``instance.history`` (``Manager.from_queryset``, which walks the queryset class with
``inspect.getmembers``): about half a millisecond, paid by every save of a tracked record
(the history row is written through that manager) and every history read. ``keep`` replaces
each such descriptor with one that builds the class once and hands out managers of it, as
the library's own would.
"""

from django.apps import apps
from simple_history.manager import HistoryDescriptor


class KeptHistoryDescriptor(HistoryDescriptor):
    def __init__(self, descriptor: HistoryDescriptor) -> None:
        super().__init__(
            descriptor.model, manager=descriptor.manager_class, queryset=descriptor.queryset_class
        )
        self.manager = self.manager_class.from_queryset(self.queryset_class)

    def __get__(self, instance, owner):
        return self.manager(self.model, instance)


def keep() -> int:
    """Replace every model's history descriptors (the tracked models' ``history`` and the
    history models' many-to-many ones); how many were replaced."""
    kept = 0
    for model in apps.get_models():
        for name, value in list(vars(model).items()):
            if type(value) is HistoryDescriptor:
                setattr(model, name, KeptHistoryDescriptor(value))
                kept += 1
    return kept
