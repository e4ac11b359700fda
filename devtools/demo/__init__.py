"""The demo firm of `manage.py seed_demo`, made through the services, one module per app."""
