"""portal.settings as deployed, with the benchmark's floors added (devtools.bench.floor_urls):
a view in the URLs, and a constant answer before Django, inside the deployed shortcuts."""

from portal.settings import *  # noqa: F403 (everything else as deployed)
from portal.settings import WSGI_SHORTCUTS

ROOT_URLCONF = "devtools.bench.floor_urls"
WSGI_SHORTCUTS = [*WSGI_SHORTCUTS, "devtools.bench.floor_urls.ConstantShortcut"]
