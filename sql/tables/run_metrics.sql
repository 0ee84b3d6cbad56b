-- Input statistics and the predicted-emotion distribution of each night, as fixed-bin histograms for drift checks.
-- One row per (run_id, call_date, metric, bin); a bin with no items has no row. Bins are fixed in
-- beam_pipeline/warehouse/run_metrics.py, so any two nights (or windows of nights, or the training data in
-- ser_model/artifacts/baseline_metrics.json) compare bin by bin with PSI or Jensen-Shannon distance.
-- Written by the sink at the end of every run that wrote calls: an aggregation over the current calls and
-- segments of each call date the run wrote. A night written by several runs has several snapshots; the newest
-- (largest computed_at) is the night, which is what the monitoring_nightly view and `callmood monitor` read.
-- Not partitioned: a few hundred rows a night, no personal data, kept beyond --retention-days for long baselines.
-- BigQuery dialect. The dataset placeholder is substituted at load time by sql.schema.bigquery_ddl;
-- the embedded DuckDB path transpiles this same statement (sql.schema.duckdb_ddl).
CREATE TABLE IF NOT EXISTS `{dataset}`.run_metrics (
  run_id STRING NOT NULL
    OPTIONS(description="Run whose end computed this snapshot; joins to runs.run_id. Re-writing a run's metrics replaces them."),
  call_date DATE NOT NULL
    OPTIONS(description="The night described: calls and segments with this call_date, as they stood when the run ended."),
  metric STRING NOT NULL
    OPTIONS(description="What is counted: duration_s, silence_share, source_sample_rate_hz, n_channels, codec (per call); loudness_dbfs, snr_db, speech_ratio, top_emotion, prob_angry ... prob_sad (per turn)."),
  population STRING NOT NULL
    OPTIONS(description="What one counted item is: calls (a calls row) or turns (a segments row)."),
  bin_index INT64 NOT NULL
    OPTIONS(description="0-based position of the bin in the metric's fixed bins (beam_pipeline/warehouse/run_metrics.py)."),
  bin_label STRING NOT NULL
    OPTIONS(description="The bin: '< a', '[a, b)' or '>= b' for numeric metrics, the category (or 'other') for categorical ones. Stable: the key for comparing nights."),
  bin_lower FLOAT64
    OPTIONS(description="Inclusive lower edge of a numeric bin, in the metric's unit; NULL for the lowest bin and for categories."),
  bin_upper FLOAT64
    OPTIONS(description="Exclusive upper edge of a numeric bin, in the metric's unit; NULL for the highest bin and for categories."),
  bin_count INT64 NOT NULL
    OPTIONS(description="Items of the night in this bin (items with a NULL value are not counted)."),
  bin_share FLOAT64 NOT NULL
    OPTIONS(description="bin_count / n_items, in [0, 1]; over a metric's bins of one night and run the shares sum to 1."),
  n_items INT64 NOT NULL
    OPTIONS(description="Items of the night with a value for this metric (the same on every bin row of the metric)."),
  mean_value FLOAT64
    OPTIONS(description="Mean of the metric over the night's items, in the metric's unit (for prob_* the mean probability); NULL for categorical metrics."),
  computed_at TIMESTAMP NOT NULL
    OPTIONS(description="UTC time the snapshot was computed; the newest snapshot of a call_date is the night.")
)
CLUSTER BY call_date, metric
OPTIONS(description="callmood monitoring: per night, fixed-bin histograms (share of calls or turns per bin, count and mean) of call durations, silence, sample rates, channels, codecs, turn loudness, SNR and speech ratio, and the predicted emotions, for drift checks against a baseline.");
