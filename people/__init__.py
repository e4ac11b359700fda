"""People and business units without the Django admin: invitations, roles, units,
deactivation (docs/users/admin.md). On top of the app graph, beside dashboard and devtools."""
