-- The clear path of every recording whose stored path was pseudonymised: the one table that may hold a
-- phone number (from a file or folder name), so it can be locked down apart from the rest.
-- BigQuery dialect. The dataset placeholder is substituted at load time by sql.schema.bigquery_ddl;
-- the embedded DuckDB path transpiles this same statement (sql.schema.duckdb_ddl).
-- infra/terraform grants readers of the dataset every table but this one (recording_path_readers only).
CREATE TABLE IF NOT EXISTS `{dataset}`.recording_paths (
  recording_uri STRING NOT NULL
    OPTIONS(description="The recording's path as segments, calls and errors store it, phone-number-like digit runs pseudonymised (tel-...)."),
  clear_uri STRING NOT NULL
    OPTIONS(description="The same recording's path as it was read, digits in clear: for those allowed to listen to the call."),
  call_date DATE
    OPTIONS(description="Date of the call when it was known; NULL for a recording that failed before it was."),
  written_at TIMESTAMP NOT NULL
    OPTIONS(description="UTC time the mapping was (re)written; its date is the partitioning key, so retention expires it.")
)
PARTITION BY DATE(written_at)
OPTIONS(description="callmood: restricted. Pseudonymised recording path -> clear path, for the dashboards' listen link.");
