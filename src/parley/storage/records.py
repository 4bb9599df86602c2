"""What the repositories share: rows to frozen records, inserts, pages, update counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError

from parley.errors import ParleyError
from parley.storage.db import Database
from parley.storage.models import Base

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Record = TypeVar("Record", bound="DataclassInstance")
Row = TypeVar("Row", bound=Base)


def attribute(name: str) -> str:
    """The ORM attribute that holds a record's field ``name`` (``metadata`` is taken)."""
    return "metadata_" if name == "metadata" else name


def record_of(cls: type[Record], row: Base, **values: Any) -> Record:
    """A ``cls`` record of ``row``: each field not in ``values`` is the row's attribute
    of that name, JSON lists and objects copied, ``NULL`` the field's default if it has one."""
    for f in fields(cls):
        if f.name in values:
            continue
        value = getattr(row, attribute(f.name))
        if value is None and f.default_factory is not MISSING:
            value = f.default_factory()
        elif value is None and f.default is not MISSING:
            value = f.default
        values[f.name] = value.copy() if isinstance(value, dict | list) else value
    return cls(**values)


async def insert(db: Database, row: Base, refused: ParleyError) -> None:
    """Add ``row``; raise ``refused`` if the database will not have it (a taken id, a
    missing parent)."""
    try:
        async with db.session() as s, s.begin():
            s.add(row)
    except IntegrityError as exc:
        raise refused from exc


async def page(
    db: Database,
    table: type[Row],
    where: ColumnElement[bool],
    order: Sequence[ColumnElement[Any]],
    limit: int,
    offset: int,
) -> tuple[Sequence[Row], int]:
    """The rows of ``table`` matching ``where`` from ``offset`` on, and how many match."""
    async with db.session() as s:
        total = int(await s.scalar(select(func.count()).select_from(table).where(where)) or 0)
        rows = await s.scalars(
            select(table).where(where).order_by(*order).limit(limit).offset(offset)
        )
        return rows.all(), total


def rowcount(result: Any) -> int:
    """How many rows an ``UPDATE`` or ``DELETE`` changed."""
    return cast(CursorResult[Any], result).rowcount
