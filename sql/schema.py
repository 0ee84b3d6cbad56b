"""Warehouse table definitions, served to both sinks from one set of DDL files.

The ``sql/tables/*.sql`` files hold one BigQuery ``CREATE TABLE`` each and are
the single source of truth for the warehouse schema: the BigQuery sink runs them
as they are (with the dataset substituted), the embedded DuckDB sink runs the
same statement transpiled by sqlglot, and the column list that Beam's
``WriteToBigQuery`` and the row builders need is read from the parsed DDL rather
than written out a second time. Changing a column therefore means editing one
``.sql`` file.

The files are package data: they are read through :mod:`importlib.resources`,
so this module works from a source checkout and from an installed package
(Dataflow workers install the project with ``--setup_file``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

__all__ = [
    "TABLES",
    "Column",
    "bigquery_ddl",
    "duckdb_ddl",
    "columns",
    "bigquery_schema",
    "table_description",
]

TABLES: tuple[str, ...] = ("segments", "calls", "errors", "runs")

# The literal placeholder the .sql files use for the dataset. It sits inside a
# backtick-quoted identifier, so the files parse as BigQuery before substitution.
DATASET_PLACEHOLDER = "{dataset}"

# A dataset reference that is safe to put between backticks: BigQuery dataset
# names are letters, digits and underscores; an optional project prefix adds
# hyphens, dots and a domain colon. Anything else (a backtick above all) could
# break out of the quoted identifier, so it is refused rather than escaped.
_DATASET_RE = re.compile(r"^(?:[A-Za-z0-9.:-]+\.)?\w+$", re.ASCII)

# Table properties that only mean something to BigQuery (storage layout and
# documentation); DuckDB has no equivalent, so duckdb_ddl removes them.
_BIGQUERY_ONLY_PROPERTIES = (exp.PartitionedByProperty, exp.ClusterProperty)


@dataclass(frozen=True)
class Column:
    """One warehouse column as declared in the BigQuery DDL.

    Attributes
    ----------
    name : str
        Column name.
    bigquery_type : str
        BigQuery standard SQL type name as written by sqlglot
        (``STRING``, ``INT64``, ``FLOAT64``, ``DATE``, ``TIMESTAMP``).
    nullable : bool
        False when the column is declared ``NOT NULL``.
    description : str
        The column's ``OPTIONS(description=...)`` text ("" if it has none).
    """

    name: str
    bigquery_type: str
    nullable: bool
    description: str

    @property
    def mode(self) -> str:
        """BigQuery field mode: ``REQUIRED`` for NOT NULL columns, else ``NULLABLE``."""
        return "NULLABLE" if self.nullable else "REQUIRED"


def _check_table(table: str) -> None:
    """Refuse names outside TABLES, so a caller cannot read arbitrary package files."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {TABLES}")


def _ddl_text(table: str) -> str:
    """The raw ``.sql`` file for ``table``, placeholder included."""
    _check_table(table)
    return (
        resources.files(__package__ or "sql")
        .joinpath("tables", f"{table}.sql")
        .read_text(encoding="utf-8")
    )


def _parse(table: str) -> exp.Create:
    """Parse the table's file as BigQuery and check it holds one CREATE TABLE.

    A fresh tree is returned on every call, so callers may mutate it freely.
    """
    statements = [s for s in sqlglot.parse(_ddl_text(table), read="bigquery") if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Create):
        raise ValueError(f"sql/tables/{table}.sql must hold exactly one CREATE TABLE statement")
    create = statements[0]
    if str(create.args.get("kind", "")).upper() != "TABLE" or not isinstance(create.this, exp.Schema):
        raise ValueError(f"sql/tables/{table}.sql is not a CREATE TABLE with a column list")
    return create


def _description(properties: exp.Properties | None) -> str:
    """The ``description`` entry of an OPTIONS(...) list, or "" when absent."""
    if properties is None:
        return ""
    for prop in properties.expressions:
        if isinstance(prop, exp.Property) and prop.name.lower() == "description":
            value = prop.args.get("value")
            return value.this if isinstance(value, exp.Literal) else value.sql("bigquery")
    return ""


def _is_description(prop: exp.Expression) -> bool:
    return type(prop) is exp.Property and prop.name.lower() == "description"


def bigquery_ddl(table: str, dataset: str) -> str:
    """The BigQuery ``CREATE TABLE IF NOT EXISTS`` for ``table`` in ``dataset``.

    Parameters
    ----------
    table : str
        One of :data:`TABLES`.
    dataset : str
        ``dataset`` or ``project.dataset``; substituted for the ``{dataset}``
        placeholder inside the backtick-quoted table reference.

    Returns
    -------
    str
        The file text, comments included, with only the placeholder replaced, so
        what runs in BigQuery is exactly what is reviewed in the repository.
    """
    if not _DATASET_RE.match(dataset):
        raise ValueError(f"invalid BigQuery dataset reference {dataset!r}")
    return _ddl_text(table).replace(DATASET_PLACEHOLDER, dataset)


def duckdb_ddl(table: str) -> str:
    """The same CREATE TABLE, transpiled to DuckDB for the embedded sink.

    sqlglot would drop PARTITION BY, CLUSTER BY and the OPTIONS lists on its
    own, but with an "Unsupported property" warning for each and silently for the
    column OPTIONS. They are removed from the syntax tree first, and the result is
    generated with ``unsupported_level=RAISE``, so any *other* BigQuery feature
    that DuckDB cannot express fails loudly instead of vanishing. The table is
    created unqualified, in DuckDB's default schema.

    Types map STRING->VARCHAR, INT64->BIGINT, FLOAT64->DOUBLE, DATE->DATE and
    TIMESTAMP->TIMESTAMPTZ (an absolute instant, as BigQuery's TIMESTAMP is).
    """
    create = _parse(table)
    create.comments = None

    schema = create.this
    schema.set("this", exp.to_table(schema.this.name))
    for column_def in schema.expressions:
        kept = [c for c in column_def.constraints if not isinstance(c.kind, exp.Properties)]
        column_def.set("constraints", kept)

    properties = create.args.get("properties")
    if properties is not None:
        kept = [
            p
            for p in properties.expressions
            if not isinstance(p, _BIGQUERY_ONLY_PROPERTIES) and not _is_description(p)
        ]
        create.set("properties", exp.Properties(expressions=kept) if kept else None)

    return create.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)


def columns(table: str) -> list[Column]:
    """The table's columns in file order, read from the parsed BigQuery DDL."""
    result = []
    for column_def in _parse(table).this.expressions:
        nullable = True
        description = ""
        for constraint in column_def.constraints:
            kind = constraint.kind
            if isinstance(kind, exp.NotNullColumnConstraint) and not kind.args.get("allow_null"):
                nullable = False
            elif isinstance(kind, exp.Properties):
                description = _description(kind)
        result.append(
            Column(
                name=column_def.name,
                bigquery_type=column_def.kind.sql(dialect="bigquery"),
                nullable=nullable,
                description=description,
            )
        )
    return result


def table_description(table: str) -> str:
    """The table-level ``OPTIONS(description=...)`` text ("" if it has none)."""
    properties = _parse(table).args.get("properties")
    if properties is None:
        return ""
    described = [p for p in properties.expressions if _is_description(p)]
    return _description(exp.Properties(expressions=described))


def bigquery_schema(table: str) -> dict:
    """The table schema in the dict form Beam's ``WriteToBigQuery(schema=...)`` accepts.

    Returns
    -------
    dict
        ``{"fields": [{"name", "type", "mode", "description"}, ...]}`` in column
        order, with ``mode`` REQUIRED for NOT NULL columns and NULLABLE otherwise.
    """
    return {
        "fields": [
            {
                "name": c.name,
                "type": c.bigquery_type,
                "mode": c.mode,
                "description": c.description,
            }
            for c in columns(table)
        ]
    }
