-- Customer experience per queue and day: how many calls, how frustrated their customers were, how
-- often a call ended better or worse than it started, and the trend against the days before.
-- Built on cx_call_summary. Trailing windows are calendar days (a day without calls counts as a day).
-- BigQuery dialect; the embedded DuckDB path transpiles this same statement (sql.schema.duckdb_view).
CREATE OR REPLACE VIEW `{dataset}`.cx_queue_daily (
  queue
    OPTIONS(description="Call-centre queue; empty for calls without a sidecar."),
  call_date
    OPTIONS(description="Date the calls took place."),
  calls
    OPTIONS(description="Calls processed for this queue and day."),
  calls_with_customer
    OPTIONS(description="Calls with at least one customer turn: the denominator of every rate below."),
  avg_frustration_score
    OPTIONS(description="Mean frustration_score over calls_with_customer, in [0, 1]."),
  distressed_call_rate
    OPTIONS(description="Share of calls_with_customer whose customer was distressed (cx_call_summary.customer_distressed)."),
  angry_call_rate
    OPTIONS(description="Share of calls_with_customer whose peak_anger reached 0.5."),
  improved_call_rate
    OPTIONS(description="Share of calls_with_customer whose mood_trend is improved."),
  worsened_call_rate
    OPTIONS(description="Share of calls_with_customer whose mood_trend is worsened."),
  avg_negative_turn_share
    OPTIONS(description="Mean over calls_with_customer of the share of the customer's turns that were negative."),
  avg_valence_change
    OPTIONS(description="Mean over calls_with_customer of end_valence - start_valence; above 0 customers left happier than they came."),
  frustration_7d_avg
    OPTIONS(description="Mean frustration_score over the calls with a customer on this day and the 6 calendar days before."),
  distressed_rate_7d
    OPTIONS(description="distressed_call_rate over this day and the 6 calendar days before."),
  frustration_trend
    OPTIONS(description="avg_frustration_score minus the mean frustration_score of the 7 calendar days before this one: above 0 this day was worse than the week before; NULL when that week had no calls.")
)
OPTIONS(description="callmood customer experience: one row per queue and day with frustration, distress, anger and mood-change rates and their 7-day trend.")
AS
WITH calls_per_queue_day AS (
  SELECT
    queue,
    call_date,
    UNIX_DATE(call_date) AS day_number,
    COUNT(*) AS calls,
    COUNTIF(customer_turns > 0) AS calls_with_customer,
    SUM(frustration_score) AS frustration_sum,
    COUNTIF(customer_distressed) AS distressed_calls,
    COUNTIF(peak_anger >= 0.5) AS angry_calls,
    COUNTIF(mood_trend = 'improved') AS improved_calls,
    COUNTIF(mood_trend = 'worsened') AS worsened_calls,
    SUM(negative_turn_share) AS negative_turn_share_sum,
    SUM(valence_change) AS valence_change_sum
  FROM `{dataset}`.cx_call_summary
  GROUP BY queue, call_date
),

trailing_weeks AS (
  SELECT
    calls_per_queue_day.*,
    SUM(frustration_sum) OVER this_and_6_days_before AS frustration_sum_7d,
    SUM(distressed_calls) OVER this_and_6_days_before AS distressed_calls_7d,
    SUM(calls_with_customer) OVER this_and_6_days_before AS calls_with_customer_7d,
    SUM(frustration_sum) OVER the_7_days_before AS frustration_sum_prior_7d,
    SUM(calls_with_customer) OVER the_7_days_before AS calls_with_customer_prior_7d
  FROM calls_per_queue_day
  WINDOW
    this_and_6_days_before AS (PARTITION BY queue ORDER BY day_number RANGE BETWEEN 6 PRECEDING AND CURRENT ROW),
    the_7_days_before AS (PARTITION BY queue ORDER BY day_number RANGE BETWEEN 7 PRECEDING AND 1 PRECEDING)
)

SELECT
  queue,
  call_date,
  calls,
  calls_with_customer,
  SAFE_DIVIDE(frustration_sum, calls_with_customer) AS avg_frustration_score,
  SAFE_DIVIDE(distressed_calls, calls_with_customer) AS distressed_call_rate,
  SAFE_DIVIDE(angry_calls, calls_with_customer) AS angry_call_rate,
  SAFE_DIVIDE(improved_calls, calls_with_customer) AS improved_call_rate,
  SAFE_DIVIDE(worsened_calls, calls_with_customer) AS worsened_call_rate,
  SAFE_DIVIDE(negative_turn_share_sum, calls_with_customer) AS avg_negative_turn_share,
  SAFE_DIVIDE(valence_change_sum, calls_with_customer) AS avg_valence_change,
  SAFE_DIVIDE(frustration_sum_7d, calls_with_customer_7d) AS frustration_7d_avg,
  SAFE_DIVIDE(distressed_calls_7d, calls_with_customer_7d) AS distressed_rate_7d,
  SAFE_DIVIDE(frustration_sum, calls_with_customer)
    - SAFE_DIVIDE(frustration_sum_prior_7d, calls_with_customer_prior_7d) AS frustration_trend
FROM trailing_weeks;
