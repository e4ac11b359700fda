"""The suite's own databases (tests/databases.py): under `make test` each worker's database,
a copy of the migrated template, commits without waiting for the disk, as the template does."""

import os

import pytest
from django.db import connection

from tests import databases

pytestmark = pytest.mark.django_db


def test_a_workers_copy_and_its_template_commit_without_waiting_for_the_disk(unavailable):
    if connection.vendor != "postgresql" or not databases.copying():
        unavailable("a worker's copy of the migrated template: make test (xdist, PostgreSQL)")
    template = os.environ[databases.TEMPLATE_ENV]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"
        cursor.execute(
            "SELECT d.datname, s.setconfig FROM pg_database d "
            "JOIN pg_db_role_setting s ON s.setdatabase = d.oid AND s.setrole = 0 "
            "WHERE d.datname IN (current_database(), %s)",
            [template],
        )
        settings = {name: config for name, config in cursor.fetchall()}
    assert set(settings) == {connection.settings_dict["NAME"], template}, settings
    assert all("synchronous_commit=off" in config for config in settings.values()), settings
