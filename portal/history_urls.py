from django.urls import path

from portal.history import views

urlpatterns = [
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/export.csv", views.audit_log_export, name="audit-log-export"),
    path("<slug:model>/<int:pk>/", views.record_history, name="history"),
    path("<slug:model>/<int:pk>/compare/", views.record_compare, name="history-compare"),
    path("<slug:model>/<int:pk>/export.csv", views.record_history_export, name="history-export"),
]
