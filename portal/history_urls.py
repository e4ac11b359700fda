from django.urls import path

from portal import history

urlpatterns = [
    path("audit/", history.audit_log, name="audit-log"),
    path("audit/export.csv", history.audit_log_export, name="audit-log-export"),
    path("<slug:model>/<int:pk>/", history.record_history, name="history"),
    path("<slug:model>/<int:pk>/compare/", history.record_compare, name="history-compare"),
    path("<slug:model>/<int:pk>/export.csv", history.record_history_export, name="history-export"),
]
