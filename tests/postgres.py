"""The throwaway PostgreSQL cluster for tests, as started by ``scripts/with-postgres``.

That script exports ``TEST_POSTGRES_URL``. Without it every PostgreSQL test is skipped (a failure
under CI, where `make test` must have started the cluster), and the
skip says why (``pytest -ra`` lists it); nothing is silently left out.

Each test gets an empty schema of its own (``test_<random>``, dropped afterwards) and a URL whose
``search_path`` points into it, so tests never see each other's tables. A schema rather than a
database per test: CREATE DATABASE copies a template and takes about half a second on a busy
machine, CREATE SCHEMA a few milliseconds. Usage::

    @pytest.fixture
    def url() -> Iterator[str]:
        with fresh_postgres_url() as database_url:   # skips the test when no cluster is running
            yield database_url

or take the ``postgres_database_url`` fixture below (import it into the test module).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

from tests.conftest import skip_for_missing_tool

URL_ENV = "TEST_POSTGRES_URL"


def postgres_url() -> str | None:
    """The cluster's URL from ``TEST_POSTGRES_URL``, or None when no cluster was started."""
    return os.environ.get(URL_ENV) or None


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq ``options`` that make ``schema`` the connection's search_path."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "options"]
    query.append(("options", f"-c search_path={schema}"))
    # libpq decodes %20 but not '+' as a space, so no form-style encoding.
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def _admin_connection(url: str) -> Any:
    import psycopg2  # type: ignore[import-untyped]  # only PostgreSQL tests need it

    connection = psycopg2.connect(url)
    connection.autocommit = True
    return connection


@contextmanager
def fresh_postgres_url() -> Iterator[str]:
    """Create an empty schema ``test_<random>``, yield a URL that uses it, then drop it.

    Skips the calling test when ``TEST_POSTGRES_URL`` is unset (a failure under CI).
    """
    base_url = postgres_url()
    if base_url is None:
        skip_for_missing_tool("PostgreSQL", "the shared-cache tests; scripts/with-postgres "
                              "starts a throwaway cluster")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = _admin_connection(base_url)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield with_search_path(base_url, schema)
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        admin.close()


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """URL of an empty PostgreSQL schema of its own (the test is skipped without a cluster)."""
    with fresh_postgres_url() as url:
        yield url
