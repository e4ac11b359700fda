"""
WSGI config for portal project.

It exposes the WSGI callable as a module-level variable named ``application``: Django's,
inside the shortcuts of settings.WSGI_SHORTCUTS (the first listed is the outermost). A
shortcut answers a few requests of its own before Django and hands every other one to it.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.utils.module_loading import import_string

from portal.startup import require_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

application = get_wsgi_application()
# Named in settings, as middleware is: the portal is the bottom layer and imports no app.
for dotted in reversed(settings.WSGI_SHORTCUTS):
    application = import_string(dotted)(application)
require_secret_key()
