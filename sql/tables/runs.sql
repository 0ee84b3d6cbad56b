-- One row per pipeline run: what it read, where it wrote, how much and how fast.
-- BigQuery dialect. The dataset placeholder is substituted at load time by sql.schema.bigquery_ddl;
-- the embedded DuckDB path transpiles this same statement (sql.schema.duckdb_ddl).
CREATE TABLE IF NOT EXISTS `{dataset}`.runs (
  run_id STRING NOT NULL
    OPTIONS(description="Unique identifier of the pipeline run; segments, calls and errors refer to it."),
  started_at TIMESTAMP NOT NULL
    OPTIONS(description="UTC time the run started."),
  finished_at TIMESTAMP
    OPTIONS(description="UTC time the run finished; NULL while it is still running."),
  status STRING
    OPTIONS(description="Outcome of the run: running, succeeded, failed, launched (a Flex Template launch: the job runs on), or died (killed before it could say: marked by the next run on the same machine)."),
  runner STRING
    OPTIONS(description="Beam runner that executed the run, e.g. DirectRunner or DataflowRunner."),
  input_pattern STRING
    OPTIONS(description="File pattern the recordings were matched from (local glob or gs:// pattern)."),
  output STRING
    OPTIONS(description="Where the rows were written: a DuckDB file path or a BigQuery project.dataset."),
  calls_ok INT64
    OPTIONS(description="Number of recordings processed and written."),
  calls_skipped INT64
    OPTIONS(description="Number of recordings skipped because an earlier run had already processed them."),
  calls_failed INT64
    OPTIONS(description="Number of recordings that failed; each has a row in errors."),
  turns_written INT64
    OPTIONS(description="Number of rows written to segments."),
  audio_s FLOAT64
    OPTIONS(description="Total duration of the audio processed, seconds."),
  wall_s FLOAT64
    OPTIONS(description="Wall-clock duration of the run, seconds."),
  realtime_factor FLOAT64
    OPTIONS(description="audio_s / wall_s: seconds of audio processed per wall-clock second (above 1 is faster than real time)."),
  model_version STRING
    OPTIONS(description="Version of the emotion model used by the run."),
  options_json STRING
    OPTIONS(description="The run's pipeline options as a JSON object, for reproducing it.")
)
OPTIONS(description="callmood: one row per pipeline run, with counts, throughput and the options it ran with.");
