-- One row per recording that could not be processed: it never stops the run and never vanishes.
-- BigQuery dialect. The dataset placeholder is substituted at load time by sql.schema.bigquery_ddl;
-- the embedded DuckDB path transpiles this same statement (sql.schema.duckdb_ddl).
CREATE TABLE IF NOT EXISTS `{dataset}`.errors (
  recording_uri STRING NOT NULL
    OPTIONS(description="Full path or gs:// URI of the recording that failed."),
  call_id STRING
    OPTIONS(description="Call identifier when it was known before the failure; NULL otherwise."),
  call_date DATE
    OPTIONS(description="Date of the call when it was known before the failure; NULL otherwise."),
  stage STRING NOT NULL
    OPTIONS(description="Pipeline stage that failed: match, sidecar, decode, segment, score or write."),
  reason STRING NOT NULL
    OPTIONS(description="Human-readable cause of the failure (exception type and message)."),
  model_version STRING
    OPTIONS(description="Version of the emotion model in use, when the failure happened at or after scoring."),
  run_id STRING NOT NULL
    OPTIONS(description="Identifier of the pipeline run that met the failure; joins to runs.run_id."),
  occurred_at TIMESTAMP NOT NULL
    OPTIONS(description="UTC time the failure was recorded; its date is the partitioning key.")
)
PARTITION BY DATE(occurred_at)
OPTIONS(description="callmood: one row per recording that could not be processed, with the failing stage and the reason.");
