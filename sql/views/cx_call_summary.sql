-- Customer experience per call: how the customer sounded at the start and at the end, how angry they
-- got and when, how much of what they said was negative, and the frustration score.
-- Built from the customer's turns in segments (speaker = 'customer'), joined to the call facts in calls.
-- BigQuery dialect. The dataset placeholder is substituted by sql.schema.bigquery_view; the embedded
-- DuckDB path transpiles this same statement (sql.schema.duckdb_view). Both dashboards read this view.
CREATE OR REPLACE VIEW `{dataset}`.cx_call_summary (
  call_id
    OPTIONS(description="Call identifier (calls.call_id)."),
  recording_uri
    OPTIONS(description="Full path or gs:// URI of the recording; the key that joins to calls and segments."),
  call_date
    OPTIONS(description="Date the call took place."),
  started_at
    OPTIONS(description="UTC start time of the call; NULL when the recording has no sidecar."),
  agent_id
    OPTIONS(description="Agent who took the call; empty when unknown."),
  queue
    OPTIONS(description="Queue the call came through; empty when unknown."),
  duration_s
    OPTIONS(description="Length of the recording, seconds."),
  agent_talk_s
    OPTIONS(description="Seconds the agent spoke; NULL for undiarized mono."),
  customer_talk_s
    OPTIONS(description="Seconds the customer spoke; NULL for undiarized mono."),
  agent_talk_share
    OPTIONS(description="agent_talk_s / (agent_talk_s + customer_talk_s), in [0, 1]; NULL for undiarized mono."),
  customer_turns
    OPTIONS(description="Number of turns attributed to the customer (0 when none, e.g. undiarized mono)."),
  start_emotion
    OPTIONS(description="top_emotion of the customer's first turn; NULL without customer turns."),
  end_emotion
    OPTIONS(description="top_emotion of the customer's last turn; NULL without customer turns."),
  start_valence
    OPTIONS(description="Valence in [-1, 1] of the customer's first turn."),
  end_valence
    OPTIONS(description="Valence in [-1, 1] of the customer's last turn."),
  valence_change
    OPTIONS(description="end_valence - start_valence: above 0 the customer ended the call in a better mood than they started it."),
  mood_trend
    OPTIONS(description="improved when valence_change > 0.1, worsened when < -0.1, else unchanged (0.1 is 5% of the valence range); NULL without customer turns."),
  peak_anger
    OPTIONS(description="Highest prob_angry over the customer's turns, in [0, 1]."),
  peak_anger_at_s
    OPTIONS(description="start_s of the customer turn with the highest prob_angry (the earliest one on ties), seconds from the start of the recording."),
  negative_turn_share
    OPTIONS(description="Share of the customer's turns (counted, not weighted by duration) whose top_emotion is angry, disgust, fear or sad, in [0, 1]."),
  frustration_score
    OPTIONS(description="Duration-weighted mean over the customer's turns of prob_angry + prob_disgust + 0.5 * prob_fear, in [0, 1] (the calls.frustration_score definition)."),
  customer_distressed
    OPTIONS(description="TRUE when frustration_score >= 0.5 or negative_turn_share >= 0.5; FALSE otherwise, including calls without customer turns."),
  model_version
    OPTIONS(description="Version of the emotion model that scored the call.")
)
OPTIONS(description="callmood customer experience: one row per call with the customer's emotion at the start and end, peak anger, share of negative turns and the frustration score.")
AS
WITH customer_turns AS (
  SELECT
    recording_uri,
    turn_index,
    start_s,
    end_s - start_s AS turn_s,
    top_emotion,
    valence,
    prob_angry,
    prob_angry + prob_disgust + 0.5 * prob_fear AS turn_frustration,
    top_emotion IN ('angry', 'disgust', 'fear', 'sad') AS is_negative,
    ROW_NUMBER() OVER (PARTITION BY recording_uri ORDER BY turn_index) AS turn_from_start,
    ROW_NUMBER() OVER (PARTITION BY recording_uri ORDER BY turn_index DESC) AS turn_from_end,
    ROW_NUMBER() OVER (PARTITION BY recording_uri ORDER BY prob_angry DESC, turn_index) AS anger_rank
  FROM `{dataset}`.segments
  WHERE speaker = 'customer'
),

customer_trajectory AS (
  SELECT
    recording_uri,
    COUNT(*) AS customer_turns,
    MAX(IF(turn_from_start = 1, top_emotion, NULL)) AS start_emotion,
    MAX(IF(turn_from_end = 1, top_emotion, NULL)) AS end_emotion,
    MAX(IF(turn_from_start = 1, valence, NULL)) AS start_valence,
    MAX(IF(turn_from_end = 1, valence, NULL)) AS end_valence,
    MAX(prob_angry) AS peak_anger,
    MAX(IF(anger_rank = 1, start_s, NULL)) AS peak_anger_at_s,
    COUNTIF(is_negative) / COUNT(*) AS negative_turn_share,
    SAFE_DIVIDE(SUM(turn_s * turn_frustration), SUM(turn_s)) AS frustration_score
  FROM customer_turns
  GROUP BY recording_uri
)

SELECT
  calls.call_id,
  calls.recording_uri,
  calls.call_date,
  calls.started_at,
  calls.agent_id,
  calls.queue,
  calls.duration_s,
  calls.agent_talk_s,
  calls.customer_talk_s,
  calls.agent_talk_share,
  COALESCE(customer_trajectory.customer_turns, 0) AS customer_turns,
  customer_trajectory.start_emotion,
  customer_trajectory.end_emotion,
  customer_trajectory.start_valence,
  customer_trajectory.end_valence,
  customer_trajectory.end_valence - customer_trajectory.start_valence AS valence_change,
  CASE
    WHEN customer_trajectory.end_valence - customer_trajectory.start_valence > 0.1 THEN 'improved'
    WHEN customer_trajectory.end_valence - customer_trajectory.start_valence < -0.1 THEN 'worsened'
    WHEN customer_trajectory.customer_turns > 0 THEN 'unchanged'
  END AS mood_trend,
  customer_trajectory.peak_anger,
  customer_trajectory.peak_anger_at_s,
  customer_trajectory.negative_turn_share,
  customer_trajectory.frustration_score,
  COALESCE(customer_trajectory.frustration_score >= 0.5 OR customer_trajectory.negative_turn_share >= 0.5, FALSE)
    AS customer_distressed,
  calls.model_version
FROM `{dataset}`.calls AS calls
LEFT JOIN customer_trajectory
  ON customer_trajectory.recording_uri = calls.recording_uri;
