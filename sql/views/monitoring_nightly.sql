-- Model and input monitoring per night: each night's histograms from run_metrics (the newest snapshot of the
-- night, when several runs wrote it) and each metric's population stability index against the 7 calendar days
-- before, pooled. `callmood monitor` reads the nights from here; dashboards chart psi_prior_7d and mean_value.
-- PSI = sum over bins of (p - q) * LN(p / q), with p the night's share and q the prior week's, each floored at
-- 0.0001 so an empty bin counts as rare rather than impossible (the same rule as beam_pipeline/monitoring/monitor.py).
-- BigQuery dialect; the embedded DuckDB path transpiles this same statement (sql.schema.duckdb_view).
CREATE OR REPLACE VIEW `{dataset}`.monitoring_nightly (
  call_date
    OPTIONS(description="The night: calls and segments with this call_date."),
  run_id
    OPTIONS(description="Run whose snapshot of the night this is: the newest one (largest computed_at)."),
  metric
    OPTIONS(description="What is counted (run_metrics.metric): per call duration_s, silence_share, source_sample_rate_hz, n_channels, codec; per turn loudness_dbfs, snr_db, speech_ratio, top_emotion, prob_angry ... prob_sad."),
  population
    OPTIONS(description="What one counted item is: calls or turns."),
  bin_index
    OPTIONS(description="0-based position of the bin in the metric's fixed bins."),
  bin_label
    OPTIONS(description="The bin: '< a', '[a, b)', '>= b', or a category."),
  bin_count
    OPTIONS(description="Items of the night in this bin."),
  bin_share
    OPTIONS(description="bin_count / n_items, in [0, 1]: for top_emotion, the share of the night's turns predicted as that emotion."),
  n_items
    OPTIONS(description="Items of the night with a value for this metric."),
  mean_value
    OPTIONS(description="Mean of the metric over the night's items, in its unit (for prob_* the mean probability); NULL for categorical metrics."),
  prior_7d_items
    OPTIONS(description="Items of this metric over the 7 calendar days before the night (their newest snapshots); NULL when none of them has any."),
  psi_prior_7d
    OPTIONS(description="Population stability index of the night's histogram against the 7 days before, pooled; NULL without prior days. Under 0.1 stable, 0.1 to 0.2 a shift worth a look, over 0.2 drift.")
)
OPTIONS(description="callmood monitoring: one row per night, metric and bin, from the night's newest run_metrics snapshot, with the metric's population stability index against the 7 days before.")
AS
WITH snapshots AS (
  SELECT
    call_date,
    run_id,
    ROW_NUMBER() OVER (PARTITION BY call_date ORDER BY computed_at DESC, run_id DESC) AS newest_first
  FROM (SELECT DISTINCT call_date, run_id, computed_at FROM `{dataset}`.run_metrics) AS computed
),

nightly AS (
  SELECT
    metrics.call_date,
    metrics.run_id,
    metrics.metric,
    metrics.population,
    metrics.bin_index,
    metrics.bin_label,
    metrics.bin_count,
    metrics.bin_share,
    metrics.n_items,
    metrics.mean_value
  FROM `{dataset}`.run_metrics AS metrics
  JOIN snapshots
    ON snapshots.call_date = metrics.call_date AND snapshots.run_id = metrics.run_id
  WHERE snapshots.newest_first = 1
),

night_totals AS (
  SELECT DISTINCT call_date, metric, n_items FROM nightly
),

prior_bins AS (
  SELECT night.call_date, before.metric, before.bin_label, CAST(SUM(before.bin_count) AS INT64) AS bin_count
  FROM (SELECT DISTINCT call_date FROM nightly) AS night
  JOIN nightly AS before
    ON UNIX_DATE(before.call_date) BETWEEN UNIX_DATE(night.call_date) - 7 AND UNIX_DATE(night.call_date) - 1
  GROUP BY night.call_date, before.metric, before.bin_label
),

prior_totals AS (
  SELECT call_date, metric, CAST(SUM(bin_count) AS INT64) AS n_items FROM prior_bins GROUP BY call_date, metric
),

all_bins AS (
  SELECT call_date, metric, bin_label FROM nightly
  UNION DISTINCT
  SELECT prior_bins.call_date, prior_bins.metric, prior_bins.bin_label
  FROM prior_bins
  JOIN night_totals
    ON night_totals.call_date = prior_bins.call_date AND night_totals.metric = prior_bins.metric
),

shares AS (
  SELECT
    all_bins.call_date,
    all_bins.metric,
    GREATEST(COALESCE(nightly.bin_count, 0) / night_totals.n_items, 0.0001) AS night_share,
    GREATEST(COALESCE(prior_bins.bin_count, 0) / prior_totals.n_items, 0.0001) AS prior_share
  FROM all_bins
  JOIN night_totals
    ON night_totals.call_date = all_bins.call_date AND night_totals.metric = all_bins.metric
  JOIN prior_totals
    ON prior_totals.call_date = all_bins.call_date AND prior_totals.metric = all_bins.metric
  LEFT JOIN nightly
    ON nightly.call_date = all_bins.call_date AND nightly.metric = all_bins.metric
    AND nightly.bin_label = all_bins.bin_label
  LEFT JOIN prior_bins
    ON prior_bins.call_date = all_bins.call_date AND prior_bins.metric = all_bins.metric
    AND prior_bins.bin_label = all_bins.bin_label
),

psi AS (
  SELECT call_date, metric, SUM((night_share - prior_share) * LN(night_share / prior_share)) AS psi_prior_7d
  FROM shares
  GROUP BY call_date, metric
)

SELECT
  nightly.call_date,
  nightly.run_id,
  nightly.metric,
  nightly.population,
  nightly.bin_index,
  nightly.bin_label,
  nightly.bin_count,
  nightly.bin_share,
  nightly.n_items,
  nightly.mean_value,
  prior_totals.n_items AS prior_7d_items,
  psi.psi_prior_7d
FROM nightly
LEFT JOIN prior_totals
  ON prior_totals.call_date = nightly.call_date AND prior_totals.metric = nightly.metric
LEFT JOIN psi
  ON psi.call_date = nightly.call_date AND psi.metric = nightly.metric;
