"""The generic part of every repository: one table, one row model, parameterised SQL only.

A repository knows its table name, its row model and which columns are JSONB. From the model's
fields it derives the column list, so a SELECT returns exactly what the model describes (columns
added by later migrations for other features do not break older models).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from llmops.errors import NotFound

__all__ = ["Conn", "Table"]

M = TypeVar("M", bound=BaseModel)
Conn = psycopg.Connection[Any]


class Table(Generic[M]):
    """Repository base: CRUD over one table whose rows are ``model`` instances."""

    table: ClassVar[str]
    model: type[M]
    json_columns: ClassVar[frozenset[str]] = frozenset()
    # columns the database fills in when the model leaves them None (defaults, triggers)
    server_defaults: ClassVar[frozenset[str]] = frozenset({"id", "created_at", "updated_at"})

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool
        self.columns: tuple[str, ...] = tuple(self.model.model_fields)
        self._select = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, self.columns)), sql.Identifier(self.table)
        )

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _conn(self, conn: Conn | None) -> Iterator[Conn]:
        if conn is not None:
            yield conn
        else:
            with self._pool.connection() as c:
                yield c

    def _value(self, column: str, model: M) -> Any:
        if column in self.json_columns:
            dumped = model.model_dump(
                mode="json", by_alias=True, include={column}, exclude_none=True
            )
            return Jsonb(dumped.get(column))
        return getattr(model, column)

    def to_row(self, model: M) -> dict[str, Any]:
        """Column -> value for an INSERT; None server-defaulted columns are left out."""
        return {
            c: self._value(c, model)
            for c in self.columns
            if not (c in self.server_defaults and getattr(model, c) is None)
        }

    def from_row(self, row: Mapping[str, Any]) -> M:
        return self.model.model_validate(dict(row))

    # -- operations -------------------------------------------------------------------------

    def insert(self, item: M, *, conn: Conn | None = None) -> M:
        """Insert one row and return it as stored (ids, defaults and timestamps filled in)."""
        row = self.to_row(item)
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
            sql.Identifier(self.table),
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() * len(row)),
            sql.SQL(", ").join(map(sql.Identifier, self.columns)),
        )
        with self._conn(conn) as c, c.cursor(row_factory=dict_row) as cur:
            cur.execute(query, list(row.values()))
            stored = cur.fetchone()
        assert stored is not None
        return self.from_row(stored)

    def copy_many(self, items: Iterable[M], *, conn: Conn | None = None) -> int:
        """Insert many rows with one COPY; ids and created_at are filled in client-side."""
        now = datetime.now(UTC)
        with self._conn(conn) as c, c.cursor() as cur:
            query = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(self.table), sql.SQL(", ").join(map(sql.Identifier, self.columns))
            )
            n = 0
            with cur.copy(query) as copy:
                for item in items:
                    copy.write_row([self._copy_value(col, item, now) for col in self.columns])
                    n += 1
        return n

    def _copy_value(self, column: str, item: M, now: datetime) -> Any:
        value = self._value(column, item)
        if value is None and column == "id":
            return uuid.uuid4()
        if value is None and column in ("created_at", "updated_at"):
            return now
        return value

    def get(self, id: uuid.UUID | str, *, conn: Conn | None = None) -> M:
        """The row with this id; :class:`NotFound` when there is none."""
        found = self.find(id, conn=conn)
        if found is None:
            raise NotFound(f"{self.table}: no row with id {id}")
        return found

    def find(self, id: uuid.UUID | str, *, conn: Conn | None = None) -> M | None:
        try:
            key = id if isinstance(id, uuid.UUID) else uuid.UUID(str(id))
        except ValueError:
            return None
        rows = self.select({"id": key}, order_by=(), conn=conn)  # not every table has created_at
        return rows[0] if rows else None

    def select(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        order_by: Sequence[tuple[str, str]] = (("created_at", "DESC"),),
        limit: int | None = None,
        for_update: bool = False,
        conn: Conn | None = None,
    ) -> list[M]:
        """Rows whose columns equal ``where``'s values (None matches NULL), ordered, limited."""
        parts: list[sql.Composable] = [self._select]
        params: list[Any] = []
        if where:
            conds = []
            for col, value in where.items():
                if col not in self.columns:
                    raise ValueError(f"{self.table} has no column {col!r}")
                if value is None:
                    conds.append(sql.SQL("{} IS NULL").format(sql.Identifier(col)))
                else:
                    conds.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
                    params.append(value)
            parts.append(sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds))
        if order_by:
            for col, _ in order_by:
                if col not in self.columns:
                    raise ValueError(f"{self.table} has no column {col!r}")
            parts.append(
                sql.SQL(" ORDER BY ")
                + sql.SQL(", ").join(
                    sql.SQL("{} {}").format(
                        sql.Identifier(col), sql.SQL("DESC" if d.upper() == "DESC" else "ASC")
                    )
                    for col, d in order_by
                )
            )
        if limit is not None:
            parts.append(sql.SQL(" LIMIT %s"))
            params.append(limit)
        if for_update:
            parts.append(sql.SQL(" FOR UPDATE"))
        with self._conn(conn) as c, c.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.Composed(parts), params)
            return [self.from_row(r) for r in cur.fetchall()]

    def update(self, id: uuid.UUID, changes: Mapping[str, Any], *, conn: Conn | None = None) -> M:
        """Set ``changes`` (validated through the model first) on one row; returns the row."""
        if not changes:
            return self.get(id, conn=conn)
        with self._conn(conn) as c:
            current = self.get(id, conn=c)
            merged = self.model.model_validate({**current.model_dump(), **changes})
            assigns = sql.SQL(", ").join(
                sql.SQL("{} = %s").format(sql.Identifier(col)) for col in changes
            )
            query = sql.SQL("UPDATE {} SET {} WHERE id = %s RETURNING {}").format(
                sql.Identifier(self.table),
                assigns,
                sql.SQL(", ").join(map(sql.Identifier, self.columns)),
            )
            with c.cursor(row_factory=dict_row) as cur:
                cur.execute(query, [*(self._value(col, merged) for col in changes), id])
                row = cur.fetchone()
        if row is None:
            raise NotFound(f"{self.table}: no row with id {id}")
        return self.from_row(row)

    def delete(self, id: uuid.UUID, *, conn: Conn | None = None) -> bool:
        """Delete one row; False when there was none."""
        with self._conn(conn) as c:
            cur = c.execute(
                sql.SQL("DELETE FROM {} WHERE id = %s").format(sql.Identifier(self.table)), (id,)
            )
            return cur.rowcount == 1

    def count(self, *, conn: Conn | None = None) -> int:
        with self._conn(conn) as c:
            row = c.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self.table))
            ).fetchone()
        return int(row[0]) if row else 0
