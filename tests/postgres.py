"""The throwaway PostgreSQL cluster for tests, as started by ``scripts/with-postgres``.

That script exports ``TEST_POSTGRES_URL``. Without it every PostgreSQL test is skipped, and the
skip says why (``pytest -ra`` lists it); nothing is silently left out.

Each test gets a database of its own, created from the cluster's URL and dropped afterwards::

    @pytest.fixture
    def url() -> Iterator[str]:
        with fresh_database() as database_url:   # skips the test when no cluster is running
            yield database_url

or simply take the ``postgres_database_url`` fixture below (import it into the test module).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

URL_ENV = "TEST_POSTGRES_URL"
SKIP_REASON = (
    "PostgreSQL not available: TEST_POSTGRES_URL unset — run via scripts/with-postgres / make test"
)


def postgres_url() -> str | None:
    """The cluster's URL from ``TEST_POSTGRES_URL``, or None when no cluster was started."""
    return os.environ.get(URL_ENV) or None


def with_database(url: str, database: str) -> str:
    """``url`` with its database name replaced."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _admin_connection(url: str) -> Any:
    import psycopg2  # only PostgreSQL tests need the driver

    connection = psycopg2.connect(url)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return connection


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create an empty database ``test_<random>`` in the cluster, yield its URL, drop it.

    Skips the calling test (with ``SKIP_REASON``) when ``TEST_POSTGRES_URL`` is unset.
    """
    base_url = postgres_url()
    if base_url is None:
        pytest.skip(SKIP_REASON)
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = _admin_connection(base_url)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(base_url, name)
        finally:
            with admin.cursor() as cursor:
                # FORCE: a store under test may still hold pooled connections.
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (the test is skipped without a cluster)."""
    with fresh_database() as url:
        yield url
