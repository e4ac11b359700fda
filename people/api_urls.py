"""People's API routes, included by name from dashboard/api_urls.py (under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from people.api import register

router = SimpleRouter()
register(router)
urlpatterns = router.urls
