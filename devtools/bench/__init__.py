"""Data and timings for `manage.py bench`, one module per part of the portal it measures."""
