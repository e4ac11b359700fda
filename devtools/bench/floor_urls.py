"""The portal's URLs plus the floor the kill-switch poll is compared with (benchmark only).

``/bench/constant-json/`` answers a constant JSON body of the poll's size through the same
Django, the same middleware and the same gunicorn: the least a Django view can cost, so the
poll's requests per second divided by this one's says how close the poll is to the floor.
"""

import json

from django.http import HttpResponse
from django.urls import include, path

from portal import settings as deployed

FLOOR_PATH = "/bench/constant-json/"
BODY = json.dumps(
    {
        "changed_at": "2026-01-01T00:00:00+00:00",
        "enabled": True,
        "kill_switch_engaged": False,
        "lifecycle": "production",
        "poll_seconds": 10,
        "use_case": "UC-0001",
    },
    sort_keys=True,
    separators=(",", ":"),
).encode()


def constant_json(request):
    return HttpResponse(BODY, content_type="application/json")


urlpatterns = [
    path(FLOOR_PATH.strip("/") + "/", constant_json),
    path("", include(deployed.ROOT_URLCONF)),  # the portal's own URLs, all of them
]
