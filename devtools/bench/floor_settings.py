"""portal.settings as deployed, with the benchmark's floor view added to the URLs."""

from portal.settings import *  # noqa: F403 (everything else as deployed)

ROOT_URLCONF = "devtools.bench.floor_urls"
