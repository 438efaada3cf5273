"""A throw-away migrated database for a benchmark run (created and dropped by the script)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import conninfo, sql

from llmops.store import PostgresStore

__all__ = ["bench_database", "server_url"]


def server_url(explicit: str | None) -> str | None:
    return (
        explicit
        or os.environ.get("LLMOPS_BENCH_DATABASE_URL")
        or os.environ.get("LLMOPS_TEST_DATABASE_URL")
    )


@contextmanager
def bench_database(server: str) -> Iterator[str]:
    name = f"llmops_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo.conninfo_to_dict(server)
    params["dbname"] = name
    url = conninfo.make_conninfo("", **params)
    try:
        with PostgresStore.connect(url, max_size=1) as store:
            store.migrate()
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
