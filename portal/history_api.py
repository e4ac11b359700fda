"""History endpoints of the REST API (filled in by the history work)."""

urlpatterns: list = []
