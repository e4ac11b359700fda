from django.urls import path

from portal.history import views
from portal.ledger import views as ledger_views

urlpatterns = [
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/export.csv", views.audit_log_export, name="audit-log-export"),
    path("audit/ledger/", ledger_views.ledger_page, name="ledger"),
    path("audit/ledger/verify_export.py", ledger_views.verifier_script, name="ledger-verifier"),
    path("<slug:model>/<int:pk>/", views.record_history, name="history"),
    path("<slug:model>/<int:pk>/compare/", views.record_compare, name="history-compare"),
    path("<slug:model>/<int:pk>/as-of/", views.record_as_of, name="history-as-of"),
    path("<slug:model>/<int:pk>/export.csv", views.record_history_export, name="history-export"),
]
