"""Warehouse tables and analysis views, served to both sinks from one set of SQL files.

The ``sql/tables/*.sql`` files hold one BigQuery ``CREATE TABLE`` each and are
the single source of truth for the warehouse schema: the BigQuery sink runs them
as they are (with the dataset substituted), the embedded DuckDB sink runs the
same statement transpiled by sqlglot, and the column list that Beam's
``WriteToBigQuery`` and the row builders need is read from the parsed DDL rather
than written out a second time. Changing a column therefore means editing one
``.sql`` file.

The ``sql/views/*.sql`` files do the same for the analysis views the dashboards
read (one ``CREATE OR REPLACE VIEW`` each, with a description on every column):
BigQuery runs them as written, DuckDB runs their sqlglot transpilation, with
the few places where a plain transpile silently changes an answer rewritten
or refused (see :func:`duckdb_view`).

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
    "VIEWS",
    "Column",
    "bigquery_ddl",
    "duckdb_ddl",
    "columns",
    "bigquery_schema",
    "table_description",
    "partition_column",
    "bigquery_view",
    "duckdb_view",
    "view_columns",
    "view_description",
]

TABLES: tuple[str, ...] = ("segments", "calls", "errors", "runs", "run_metrics", "recording_paths")

# In creation order: a view comes after every view it reads.
VIEWS: tuple[str, ...] = ("cx_call_summary", "cx_queue_daily", "agent_daily_wellbeing", "monitoring_nightly")

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


def _check_view(view: str) -> None:
    """Refuse names outside VIEWS, so a caller cannot read arbitrary package files."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")


def _sql_file(folder: str, name: str) -> str:
    return resources.files(__package__ or "sql").joinpath(folder, f"{name}.sql").read_text(encoding="utf-8")


def _ddl_text(table: str) -> str:
    """The raw ``.sql`` file for ``table``, placeholder included."""
    _check_table(table)
    return _sql_file("tables", table)


def _view_text(view: str) -> str:
    """The raw ``.sql`` file for ``view``, placeholder included."""
    _check_view(view)
    return _sql_file("views", view)


def _check_dataset(dataset: str) -> None:
    if not _DATASET_RE.match(dataset):
        raise ValueError(f"invalid BigQuery dataset reference {dataset!r}")


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
    _check_dataset(dataset)
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


def partition_column(table: str) -> str | None:
    """The column a table is partitioned by, when it is partitioned by a plain column.

    None for an unpartitioned table and for one partitioned by an expression
    (``errors`` by ``DATE(occurred_at)``): a writer can then not prune by it.
    """
    properties = _parse(table).args.get("properties")
    for prop in properties.expressions if properties is not None else ():
        if isinstance(prop, exp.PartitionedByProperty) and isinstance(prop.this, (exp.Column, exp.Identifier)):
            return prop.this.name
    return None


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


# ---------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------


def _parse_view(view: str) -> exp.Create:
    """Parse the view's file as BigQuery and check it holds one CREATE OR REPLACE VIEW with a column list."""
    statements = [s for s in sqlglot.parse(_view_text(view), read="bigquery") if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Create):
        raise ValueError(f"sql/views/{view}.sql must hold exactly one CREATE VIEW statement")
    create = statements[0]
    if str(create.args.get("kind", "")).upper() != "VIEW" or not isinstance(create.this, exp.Schema):
        raise ValueError(f"sql/views/{view}.sql is not a CREATE VIEW with a described column list")
    if create.this.this.name != view:
        raise ValueError(f"sql/views/{view}.sql creates {create.this.this.name!r}, not {view!r}")
    return create


def bigquery_view(view: str, dataset: str) -> str:
    """The BigQuery ``CREATE OR REPLACE VIEW`` for ``view`` in ``dataset``.

    Parameters
    ----------
    view : str
        One of :data:`VIEWS`.
    dataset : str
        ``dataset`` or ``project.dataset``; substituted for every ``{dataset}``
        placeholder, in the view's own name and in the tables and views it reads.

    Returns
    -------
    str
        The file text with only the placeholder replaced: what BigQuery runs
        is what is reviewed in the repository.
    """
    _check_dataset(dataset)
    return _view_text(view).replace(DATASET_PLACEHOLDER, dataset)


def view_columns(view: str) -> dict[str, str]:
    """The view's columns in order, each with its ``OPTIONS(description=...)`` text."""
    result = {}
    for column_def in _parse_view(view).this.expressions:
        descriptions = [c.kind for c in column_def.constraints if isinstance(c.kind, exp.Properties)]
        result[column_def.name] = _description(descriptions[0]) if descriptions else ""
    return result


def view_description(view: str) -> str:
    """The view-level ``OPTIONS(description=...)`` text ("" if it has none)."""
    properties = _parse_view(view).args.get("properties")
    if properties is None:
        return ""
    return _description(exp.Properties(expressions=[p for p in properties.expressions if _is_description(p)]))


def _unqualify_dataset(tree: exp.Expression) -> None:
    """``{dataset}``.name -> name: DuckDB keeps tables and views in its default schema."""
    for table in tree.find_all(exp.Table):
        if table.args.get("db") is not None and table.text("db") == DATASET_PLACEHOLDER:
            table.set("db", None)
            table.set("catalog", None)


def _dayofweek_from_sunday_1(tree: exp.Expression) -> exp.Expression:
    """EXTRACT(DAYOFWEEK ...): BigQuery counts Sunday = 1 .. Saturday = 7, DuckDB Sunday = 0 .. 6."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Extract) and node.name.upper() == "DAYOFWEEK":
            return exp.Paren(this=exp.Add(this=node.copy(), expression=exp.Literal.number(1)))
        return node

    return tree.transform(fix, copy=False)


def _date_trunc_stays_a_date(tree: exp.Expression) -> exp.Expression:
    """DATE_TRUNC(date, MONTH) is a DATE in BigQuery but a TIMESTAMP in DuckDB: cast it back.

    BigQuery spells the timestamp version TIMESTAMP_TRUNC (a different sqlglot
    node), so every DATE_TRUNC in a view is one over a DATE.
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DateTrunc) and not isinstance(node.parent, exp.Cast):
            return exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))
        return node

    return tree.transform(fix, copy=False)


def _countif_counts_zero(tree: exp.Expression) -> exp.Expression:
    """COUNTIF over only NULL conditions is 0 in BigQuery but NULL from DuckDB's COUNT_IF: count a CASE instead.

    COUNT(CASE WHEN cond THEN 1 END) is 0 for no match in both engines, and a
    BIGINT rather than COUNT_IF's HUGEINT, matching BigQuery's INT64.
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.CountIf):
            condition = node.this.copy()
            return exp.Count(this=exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))]))
        return node

    return tree.transform(fix, copy=False)


def _refuse_array_agg_limit(tree: exp.Expression, view: str) -> None:
    """ARRAY_AGG(x ORDER BY y LIMIT n) has no DuckDB spelling that sqlglot writes; it fails to parse there."""
    for agg in tree.find_all(exp.ArrayAgg):
        if agg.find(exp.Limit) is not None:
            raise ValueError(f"sql/views/{view}.sql uses ARRAY_AGG(... LIMIT n), which DuckDB cannot run; "
                             "pick the row with ROW_NUMBER() OVER (...) = n instead")


def duckdb_view(view: str) -> str:
    """The same CREATE OR REPLACE VIEW, transpiled to DuckDB for the embedded sink.

    The view and everything it reads are unqualified (DuckDB's default schema),
    the BigQuery-only OPTIONS are removed (the column list stays, as plain
    names), and the generated SQL raises on anything DuckDB cannot express.
    Where sqlglot's transpile is valid DuckDB but means something else, the
    syntax tree is corrected first:

    * ``EXTRACT(DAYOFWEEK ...)`` gets the 1 that DuckDB's Sunday-is-0 count lacks;
    * ``DATE_TRUNC(date, MONTH)`` is cast back to DATE (DuckDB returns TIMESTAMP);
    * ``COUNTIF`` becomes a COUNT of a CASE (DuckDB's COUNT_IF gives NULL, not 0,
      when no condition is TRUE or FALSE);
    * ``ARRAY_AGG(... LIMIT n)`` is refused with a pointer to ROW_NUMBER().

    The views themselves avoid time-zone-dependent functions on TIMESTAMP
    (DuckDB would apply the session's TimeZone where BigQuery uses UTC).
    """
    create = _parse_view(view)
    create.comments = None
    schema = create.this
    schema.set("this", exp.to_table(schema.this.name))
    for column_def in schema.expressions:
        column_def.set("constraints", [c for c in column_def.constraints if not isinstance(c.kind, exp.Properties)])
    properties = create.args.get("properties")
    if properties is not None:
        kept = [p for p in properties.expressions if not _is_description(p)]
        create.set("properties", exp.Properties(expressions=kept) if kept else None)
    _unqualify_dataset(create)
    _refuse_array_agg_limit(create, view)
    create = _dayofweek_from_sunday_1(create)
    create = _date_trunc_stays_a_date(create)
    create = _countif_counts_zero(create)
    return create.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
