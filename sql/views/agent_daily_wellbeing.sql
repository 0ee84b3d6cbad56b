-- Agent wellbeing per agent and day: how much of the agent's own speech sounded negative, how many
-- distressed customers they took and how many of those came back to back, the longest run of them,
-- how much of the talking the agent did, and how much of the load fell in the late shift.
-- Built on cx_call_summary (the call order and the distressed flag) and segments (the agent's turns).
-- Calls without a known agent (no sidecar: agent_id empty) are left out.
-- Hours are UTC, computed from UNIX_SECONDS so that no engine's session time zone can shift them.
-- BigQuery dialect; the embedded DuckDB path transpiles this same statement (sql.schema.duckdb_view).
CREATE OR REPLACE VIEW `{dataset}`.agent_daily_wellbeing (
  agent_id
    OPTIONS(description="Agent identifier."),
  call_date
    OPTIONS(description="Date the calls took place."),
  calls
    OPTIONS(description="Calls the agent took that day."),
  agent_turns
    OPTIONS(description="Turns the agent spoke that day."),
  negative_turn_share
    OPTIONS(description="Share of the agent's turns whose top_emotion is angry, disgust, fear or sad, in [0, 1]."),
  distressed_calls
    OPTIONS(description="Calls whose customer was distressed (cx_call_summary.customer_distressed)."),
  back_to_back_distressed_calls
    OPTIONS(description="Distressed calls that came straight after another distressed call the same day, in started_at order: the hard calls the agent took in a row without a break between them."),
  longest_distressed_streak
    OPTIONS(description="Longest run of consecutive calls with a distressed customer that day (0 when none)."),
  avg_customer_frustration
    OPTIONS(description="Mean frustration_score of the day's customers, in [0, 1]."),
  agent_talk_s
    OPTIONS(description="Seconds the agent spoke that day."),
  talk_share
    OPTIONS(description="Agent talk time as a share of all talk time that day (sum of agent_talk_s / sum of agent_talk_s + customer_talk_s), in [0, 1]."),
  late_shift_calls
    OPTIONS(description="Calls that started at or after 18:00 or before 06:00 UTC (the late shift)."),
  late_shift_share
    OPTIONS(description="late_shift_calls as a share of the day's calls with a known start time."),
  late_shift_agent_talk_s
    OPTIONS(description="Seconds the agent spoke in late-shift calls.")
)
OPTIONS(description="callmood agent wellbeing: one row per agent and day with the share of negative agent turns, runs of distressed customers, talk share and late-shift load.")
AS
WITH calls_in_order AS (
  SELECT
    agent_id,
    call_date,
    customer_distressed,
    frustration_score,
    agent_talk_s,
    customer_talk_s,
    started_at,
    DIV(MOD(UNIX_SECONDS(started_at), 86400), 3600) AS start_hour_utc,
    ROW_NUMBER() OVER (PARTITION BY agent_id, call_date ORDER BY started_at, recording_uri) AS call_number,
    LAG(customer_distressed) OVER (PARTITION BY agent_id, call_date ORDER BY started_at, recording_uri)
      AS previous_call_distressed
  FROM `{dataset}`.cx_call_summary
  WHERE agent_id != ''
),

distressed_runs AS (
  -- Consecutive distressed calls share one run_key: call_number minus their rank among distressed calls.
  SELECT
    agent_id,
    call_date,
    call_number - ROW_NUMBER() OVER (PARTITION BY agent_id, call_date ORDER BY call_number) AS run_key
  FROM calls_in_order
  WHERE customer_distressed
),

longest_distressed_runs AS (
  SELECT agent_id, call_date, MAX(run_calls) AS longest_distressed_streak
  FROM (
    SELECT agent_id, call_date, run_key, COUNT(*) AS run_calls
    FROM distressed_runs
    GROUP BY agent_id, call_date, run_key
  ) AS run_lengths
  GROUP BY agent_id, call_date
),

call_load AS (
  SELECT
    agent_id,
    call_date,
    COUNT(*) AS calls,
    COUNTIF(customer_distressed) AS distressed_calls,
    COUNTIF(customer_distressed AND previous_call_distressed) AS back_to_back_distressed_calls,
    AVG(frustration_score) AS avg_customer_frustration,
    SUM(agent_talk_s) AS agent_talk_s,
    SUM(customer_talk_s) AS customer_talk_s,
    COUNTIF(start_hour_utc >= 18 OR start_hour_utc < 6) AS late_shift_calls,
    COUNT(started_at) AS calls_with_start_time,
    SUM(IF(start_hour_utc >= 18 OR start_hour_utc < 6, agent_talk_s, 0)) AS late_shift_agent_talk_s
  FROM calls_in_order
  GROUP BY agent_id, call_date
),

agent_turn_moods AS (
  SELECT
    agent_id,
    call_date,
    COUNT(*) AS agent_turns,
    COUNTIF(top_emotion IN ('angry', 'disgust', 'fear', 'sad')) AS negative_agent_turns
  FROM `{dataset}`.segments
  WHERE speaker = 'agent' AND agent_id != ''
  GROUP BY agent_id, call_date
)

SELECT
  call_load.agent_id,
  call_load.call_date,
  call_load.calls,
  COALESCE(agent_turn_moods.agent_turns, 0) AS agent_turns,
  SAFE_DIVIDE(agent_turn_moods.negative_agent_turns, agent_turn_moods.agent_turns) AS negative_turn_share,
  call_load.distressed_calls,
  call_load.back_to_back_distressed_calls,
  COALESCE(longest_distressed_runs.longest_distressed_streak, 0) AS longest_distressed_streak,
  call_load.avg_customer_frustration,
  call_load.agent_talk_s,
  SAFE_DIVIDE(call_load.agent_talk_s, call_load.agent_talk_s + call_load.customer_talk_s) AS talk_share,
  call_load.late_shift_calls,
  SAFE_DIVIDE(call_load.late_shift_calls, call_load.calls_with_start_time) AS late_shift_share,
  call_load.late_shift_agent_talk_s
FROM call_load
LEFT JOIN agent_turn_moods
  ON agent_turn_moods.agent_id = call_load.agent_id AND agent_turn_moods.call_date = call_load.call_date
LEFT JOIN longest_distressed_runs
  ON longest_distressed_runs.agent_id = call_load.agent_id
  AND longest_distressed_runs.call_date = call_load.call_date;
