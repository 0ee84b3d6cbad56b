"""The warehouse DDL: one BigQuery file per table, served to BigQuery and DuckDB.

These tests hold the DDL to the output contract and check that the DuckDB
transpile of each file really creates the table the BigQuery file describes,
because the embedded sink and the production sink must agree column for column.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import duckdb
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from sql import schema
from sql.schema import TABLES, Column, bigquery_ddl, bigquery_schema, columns, duckdb_ddl

DATASET = "local-proj.callmood"

# Written out from the brief / docs, independently of the .sql files, so a
# renamed, dropped or reordered column fails here.
EXPECTED_COLUMNS = {
    "segments": [
        "call_id", "recording_uri", "call_date", "agent_id", "queue", "turn_index", "speaker",
        "channel", "start_s", "end_s", "prob_angry", "prob_disgust", "prob_fear", "prob_happy",
        "prob_neutral", "prob_sad", "top_emotion", "top_confidence", "arousal", "valence",
        "loudness_dbfs", "snr_db", "pitch_median_hz", "speech_ratio", "overlap_s", "n_windows",
        "model_version", "run_id", "processed_at",
    ],
    "calls": [
        "call_id", "recording_uri", "call_date", "started_at", "agent_id", "queue", "caller_id_hash", "duration_s",
        "n_channels", "source_sample_rate_hz", "source_format", "turn_count", "agent_talk_s",
        "customer_talk_s", "agent_talk_share", "customer_talk_share", "silence_s", "overlap_s",
        "interruptions", "agent_interruptions", "customer_interruptions",
        "first_customer_emotion", "last_customer_emotion", "customer_negative_share",
        "frustration_score", "model_version", "run_id", "processed_at",
    ],
    "errors": [
        "recording_uri", "call_id", "call_date", "stage", "reason", "model_version", "run_id",
        "occurred_at",
    ],
    "runs": [
        "run_id", "started_at", "finished_at", "status", "runner", "input_pattern", "output",
        "calls_ok", "calls_skipped", "calls_failed", "turns_written", "audio_s", "wall_s",
        "realtime_factor", "model_version", "options_json",
    ],
    "run_metrics": [
        "run_id", "call_date", "metric", "population", "bin_index", "bin_label", "bin_lower", "bin_upper",
        "bin_count", "bin_share", "n_items", "mean_value", "computed_at",
    ],
    "recording_paths": ["recording_uri", "clear_uri", "call_date", "written_at"],
}

# The per-turn output contract as DESIGN.md states it (the prob_ columns are its
# "one probability column per emotion").
CONTRACT_SEGMENT_COLUMNS = [
    "call_id", "recording_uri", "call_date", "agent_id", "queue", "turn_index", "speaker",
    "channel", "start_s", "end_s", "prob_angry", "prob_disgust", "prob_fear", "prob_happy",
    "prob_neutral", "prob_sad", "top_emotion", "top_confidence", "arousal", "valence",
    "loudness_dbfs", "pitch_median_hz", "speech_ratio", "overlap_s", "model_version", "run_id",
    "processed_at",
]

# Types the brief fixes for individual columns.
EXPECTED_TYPES = {
    "segments": {
        "call_id": "STRING", "call_date": "DATE", "turn_index": "INT64", "channel": "INT64",
        "start_s": "FLOAT64", "prob_sad": "FLOAT64", "top_emotion": "STRING",
        "pitch_median_hz": "FLOAT64", "n_windows": "INT64", "processed_at": "TIMESTAMP",
    },
    "calls": {
        "started_at": "TIMESTAMP", "duration_s": "FLOAT64", "n_channels": "INT64",
        "source_sample_rate_hz": "INT64", "interruptions": "INT64", "frustration_score": "FLOAT64",
        "processed_at": "TIMESTAMP",
    },
    "errors": {"call_date": "DATE", "stage": "STRING", "occurred_at": "TIMESTAMP"},
    "runs": {"calls_ok": "INT64", "audio_s": "FLOAT64", "realtime_factor": "FLOAT64",
             "options_json": "STRING"},
    "run_metrics": {"call_date": "DATE", "bin_index": "INT64", "bin_count": "INT64", "bin_share": "FLOAT64",
                    "mean_value": "FLOAT64", "computed_at": "TIMESTAMP"},
    "recording_paths": {"recording_uri": "STRING", "clear_uri": "STRING", "call_date": "DATE",
                        "written_at": "TIMESTAMP"},
}

EXPECTED_NOT_NULL = {
    "segments": {"call_id", "recording_uri", "call_date", "turn_index", "speaker",
                 "model_version", "run_id", "processed_at"},
    "errors": {"recording_uri", "stage", "reason", "run_id", "occurred_at"},
}

# BigQuery type -> DuckDB type as DESCRIBE reports it. TIMESTAMP maps to
# TIMESTAMP WITH TIME ZONE: both are absolute instants.
DUCKDB_TYPE = {
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP WITH TIME ZONE",
}

SAMPLE_VALUE = {
    "STRING": "x",
    "INT64": 1,
    "FLOAT64": 0.5,
    "DATE": dt.date(2024, 5, 17),
    "TIMESTAMP": dt.datetime(2024, 5, 17, 21, 30, 5, tzinfo=dt.timezone.utc),
}


def _parse_bigquery(table: str) -> exp.Create:
    statements = [
        s for s in sqlglot.parse(bigquery_ddl(table, DATASET), read="bigquery",
                                 error_level=ErrorLevel.RAISE)
        if s is not None
    ]
    assert len(statements) == 1
    assert isinstance(statements[0], exp.Create)
    return statements[0]


def _table_properties(create: exp.Create) -> list[exp.Expression]:
    properties = create.args.get("properties")
    return [] if properties is None else list(properties.expressions)


def _minimal_row(table: str) -> dict:
    """Values for the NOT NULL columns only: the smallest row the table accepts."""
    return {c.name: SAMPLE_VALUE[c.bigquery_type] for c in columns(table) if not c.nullable}


def _insert(con: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    names = list(row)
    placeholders = ", ".join("?" for _ in names)
    con.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})",
                [row[n] for n in names])


@pytest.fixture
def con():
    connection = duckdb.connect(":memory:")
    yield connection
    connection.close()


def test_tables_are_the_six_warehouse_tables():
    assert TABLES == ("segments", "calls", "errors", "runs", "run_metrics", "recording_paths")


@pytest.mark.parametrize("table", TABLES)
def test_bigquery_ddl_parses_as_one_create_table_in_the_dataset(table):
    create = _parse_bigquery(table)
    assert create.args["kind"].upper() == "TABLE"
    assert create.args.get("exists") is True  # IF NOT EXISTS: safe to run every night
    target = create.this.this
    assert target.name == table
    # BigQuery reads the backticked `project.dataset` as catalog + dataset.
    assert (target.catalog, target.db) == tuple(DATASET.split("."))
    assert "{dataset}" not in bigquery_ddl(table, DATASET)


@pytest.mark.parametrize("table", TABLES)
def test_columns_follow_the_declared_names_and_order(table):
    assert [c.name for c in columns(table)] == EXPECTED_COLUMNS[table]


@pytest.mark.parametrize("table", TABLES)
def test_columns_use_only_plain_bigquery_types_and_the_fixed_ones_match(table):
    by_name = {c.name: c for c in columns(table)}
    assert {c.bigquery_type for c in by_name.values()} <= set(DUCKDB_TYPE)
    for name, bigquery_type in EXPECTED_TYPES[table].items():
        assert by_name[name].bigquery_type == bigquery_type, name


@pytest.mark.parametrize("table", sorted(EXPECTED_NOT_NULL))
def test_not_null_columns_are_the_declared_ones(table):
    assert {c.name for c in columns(table) if not c.nullable} == EXPECTED_NOT_NULL[table]


@pytest.mark.parametrize("table", ["segments", "calls"])
def test_keys_shared_by_segments_and_calls_are_required(table):
    required = {c.name for c in columns(table) if not c.nullable}
    assert {"call_id", "recording_uri", "call_date", "model_version", "run_id",
            "processed_at"} <= required
    assert "agent_id" not in required and "queue" not in required  # no sidecar -> empty


@pytest.mark.parametrize("table", TABLES)
def test_every_column_and_the_table_have_a_description(table):
    for column in columns(table):
        assert column.description.strip(), f"{table}.{column.name} has no description"
        assert len(column.description) <= 1024  # BigQuery's limit for a column description
    assert schema.table_description(table).strip()


def test_descriptions_define_the_derived_measures():
    calls = {c.name: c.description for c in columns("calls")}
    assert "prob_angry + prob_disgust + 0.5 * prob_fear" in calls["frustration_score"]
    assert "[0, 1]" in calls["frustration_score"]
    segments = {c.name: c.description for c in columns("segments")}
    assert "[-1, 1]" in segments["arousal"] and "[-1, 1]" in segments["valence"]
    assert "NULL" in segments["pitch_median_hz"]
    for value in ("match", "sidecar", "decode", "segment", "score", "write"):
        assert value in {c.name: c.description for c in columns("errors")}["stage"]


@pytest.mark.parametrize("table", ["segments", "calls"])
def test_segments_and_calls_are_partitioned_by_call_date_and_clustered_by_agent_and_queue(table):
    create = _parse_bigquery(table)
    properties = _table_properties(create)
    partition = [p for p in properties if isinstance(p, exp.PartitionedByProperty)]
    cluster = [p for p in properties if isinstance(p, exp.ClusterProperty)]
    assert len(partition) == 1 and len(cluster) == 1
    assert isinstance(partition[0].this, (exp.Column, exp.Identifier))
    assert partition[0].this.name == "call_date"
    assert [e.name for e in cluster[0].expressions] == ["agent_id", "queue"]
    regenerated = create.sql(dialect="bigquery")
    assert "PARTITION BY call_date" in regenerated
    assert "CLUSTER BY agent_id, queue" in regenerated


def test_errors_is_partitioned_by_the_date_of_occurred_at():
    properties = _table_properties(_parse_bigquery("errors"))
    partition = [p for p in properties if isinstance(p, exp.PartitionedByProperty)]
    assert len(partition) == 1
    assert partition[0].this.sql(dialect="bigquery") == "DATE(occurred_at)"
    assert not any(isinstance(p, exp.ClusterProperty) for p in properties)


@pytest.mark.parametrize("table", TABLES)
def test_duckdb_ddl_creates_the_table_columns_describes(table, con):
    con.execute(duckdb_ddl(table))
    described = con.execute(f"DESCRIBE {table}").fetchall()
    actual = [(name, duck_type, null == "YES") for name, duck_type, null, *_ in described]
    expected = [(c.name, DUCKDB_TYPE[c.bigquery_type], c.nullable) for c in columns(table)]
    assert actual == expected


@pytest.mark.parametrize("table", TABLES)
def test_duckdb_ddl_is_unqualified_free_of_bigquery_options_and_rerunnable(table, con):
    ddl = duckdb_ddl(table)
    for fragment in ("{dataset}", "`", "PARTITION", "CLUSTER", "OPTIONS", "description"):
        assert fragment not in ddl
    con.execute(ddl)
    con.execute(ddl)  # IF NOT EXISTS survives the transpile
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables"
    ).fetchall()
    assert tables == [("main", table)]


def test_duckdb_ddl_strips_bigquery_options_without_sqlglot_warnings(caplog):
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        for table in TABLES:
            duckdb_ddl(table)
    assert not [r for r in caplog.records if r.name.startswith("sqlglot")]


@pytest.mark.parametrize(
    ("table", "column"),
    [(t, c.name) for t in TABLES for c in columns(t) if not c.nullable],
)
def test_duckdb_rejects_null_in_not_null_columns(table, column, con):
    con.execute(duckdb_ddl(table))
    row = _minimal_row(table)
    row[column] = None
    with pytest.raises(duckdb.ConstraintException):
        _insert(con, table, row)
    assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


@pytest.mark.parametrize("table", TABLES)
def test_duckdb_accepts_a_row_with_only_the_required_columns(table, con):
    con.execute(duckdb_ddl(table))
    _insert(con, table, _minimal_row(table))
    row = con.execute(f"SELECT * FROM {table}").fetchone()
    for column, value in zip(columns(table), row):
        if column.nullable:
            assert value is None
        else:
            assert value == SAMPLE_VALUE[column.bigquery_type]  # incl. the tz-aware instant


def test_segments_carry_the_whole_output_contract_in_contract_order():
    names = [c.name for c in columns("segments")]
    assert set(CONTRACT_SEGMENT_COLUMNS) <= set(names)
    assert [n for n in names if n in CONTRACT_SEGMENT_COLUMNS] == CONTRACT_SEGMENT_COLUMNS


@pytest.mark.parametrize("table", TABLES)
def test_bigquery_schema_mirrors_columns(table):
    fields = bigquery_schema(table)["fields"]
    assert fields == [
        {"name": c.name, "type": c.bigquery_type,
         "mode": "NULLABLE" if c.nullable else "REQUIRED", "description": c.description}
        for c in columns(table)
    ]


def test_bigquery_schema_is_accepted_by_beam():
    bigquery_tools = pytest.importorskip("apache_beam.io.gcp.bigquery_tools")
    for table in TABLES:
        table_schema = bigquery_tools.get_bq_tableschema(bigquery_schema(table))
        assert [(f.name, f.type, f.mode) for f in table_schema.fields] == [
            (c.name, c.bigquery_type, c.mode) for c in columns(table)
        ]


def test_column_is_a_frozen_value():
    column = columns("runs")[0]
    assert isinstance(column, Column)
    with pytest.raises(dataclasses.FrozenInstanceError):
        column.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["../segments", "segment", "SEGMENTS", ""])
def test_unknown_table_is_refused(bad):
    with pytest.raises(ValueError):
        columns(bad)
    with pytest.raises(ValueError):
        duckdb_ddl(bad)


@pytest.mark.parametrize("bad", ["", "a`b", "ds; DROP TABLE x", "my dataset", "ds.`x`"])
def test_dataset_that_could_break_the_quoted_name_is_refused(bad):
    with pytest.raises(ValueError):
        bigquery_ddl("segments", bad)


@pytest.mark.parametrize("good", ["callmood", "my-proj.callmood", "example.com:proj.cm_2"])
def test_plain_and_project_qualified_datasets_are_substituted(good):
    assert f"`{good}`.segments" in bigquery_ddl("segments", good)
