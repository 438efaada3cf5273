"""Test fixtures: a real PostgreSQL, never a mock.

The server is chosen once per session, in this order:

1. ``$LLMOPS_TEST_DATABASE_URL`` (CI points it at 127.0.0.1:5432);
2. a testcontainers PostgreSQL when a Docker engine answers;
3. the embedded PostgreSQL of the ``embedded`` extra (pgserver);
4. otherwise the session stops with a message saying how to provide one.

Each session creates its own database, migrates it once and drops it at the end. The
``store`` fixture empties every table after each test, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

from llmops.store import PostgresStore
from llmops.store.migrations import MIGRATIONS_TABLE

pytest_plugins = ["tests.servers"]
"""Fixtures of the local provider servers: ``openai_http``, ``gemini_http``, ``server_factory``."""

TEST_URL_ENV = "LLMOPS_TEST_DATABASE_URL"
ROOT = Path(__file__).resolve().parent.parent


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo.conninfo_to_dict(url)
    params["dbname"] = dbname
    return conninfo.make_conninfo("", **params)


def _start_testcontainer(stack: ExitStack) -> str | None:
    try:
        import docker.errors

        try:  # testcontainers >= 4.14 moved the module
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:
            from testcontainers.postgres import PostgresContainer
    except ImportError:
        return None
    try:
        container = PostgresContainer("postgres:16-alpine", driver=None)
        stack.enter_context(container)
    except docker.errors.DockerException:
        return None  # no Docker engine answers (the client fails within milliseconds)
    return str(container.get_connection_url())


def _start_embedded(stack: ExitStack) -> str | None:
    try:
        from llmops.embedded import EmbeddedPostgres

        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="llmops-test-pg-")))
        stack.enter_context(server)
    except ImportError:
        return None
    return server.url


@pytest.fixture(scope="session")
def database_server() -> Iterator[str]:
    """An admin URL of a PostgreSQL server for this session."""
    with ExitStack() as stack:
        url = os.environ.get(TEST_URL_ENV) or _start_testcontainer(stack) or _start_embedded(stack)
        if not url:
            pytest.exit(
                f"no PostgreSQL for the tests: set {TEST_URL_ENV}=postgresql://user@host:5432/db, "
                "start a Docker engine (testcontainers), or pip install 'llmops[embedded]'",
                returncode=4,
            )
        yield url


def _create_database(server_url: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def database_url(database_server: str) -> Iterator[str]:
    """A database of this session's own, migrated once, dropped at the end."""
    name = _create_database(database_server, "llmops_test")
    url = _with_dbname(database_server, name)
    with PostgresStore.connect(url, max_size=1) as store:
        store.migrate()
    yield url
    _drop_database(database_server, name)


@pytest.fixture
def fresh_database_url(database_server: str) -> Iterator[str]:
    """A brand-new, empty (unmigrated) database for one test, dropped afterwards."""
    name = _create_database(database_server, "llmops_fresh")
    yield _with_dbname(database_server, name)
    _drop_database(database_server, name)


def _truncate_all(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> %s",
                (MIGRATIONS_TABLE,),
            ).fetchall()
        ]
        if tables:
            conn.execute(
                sql.SQL("TRUNCATE {} CASCADE").format(
                    sql.SQL(", ").join(map(sql.Identifier, tables))
                )
            )


@pytest.fixture
def store(database_url: str) -> Iterator[PostgresStore]:
    """A PostgresStore on the session database; every table is emptied after the test."""
    s = PostgresStore.connect(database_url, max_size=8)
    try:
        yield s
    finally:
        s.close()
        _truncate_all(database_url)
