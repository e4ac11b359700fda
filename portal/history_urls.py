from django.urls import path

from portal import history

urlpatterns = [
    path("audit/", history.audit_log, name="audit-log"),
    path("<slug:model>/<int:pk>/", history.record_history, name="history"),
]
