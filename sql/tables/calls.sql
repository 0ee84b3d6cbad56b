-- One row per processed call: durations, talk shares, interruptions and the emotion trajectory.
-- BigQuery dialect. The dataset placeholder is substituted at load time by sql.schema.bigquery_ddl;
-- the embedded DuckDB path transpiles this same statement (sql.schema.duckdb_ddl).
CREATE TABLE IF NOT EXISTS `{dataset}`.calls (
  call_id STRING NOT NULL
    OPTIONS(description="Call identifier: from the sidecar JSON, else the recording file name without its extension."),
  recording_uri STRING NOT NULL
    OPTIONS(description="Full path or gs:// URI of the source recording."),
  call_date DATE NOT NULL
    OPTIONS(description="Date the call took place (from the sidecar started_at when there is one); partitioning column."),
  started_at TIMESTAMP
    OPTIONS(description="UTC start time of the call from the sidecar JSON; NULL when the recording has no sidecar."),
  agent_id STRING
    OPTIONS(description="Agent identifier from the sidecar JSON; empty when the recording has no sidecar."),
  queue STRING
    OPTIONS(description="Call-centre queue from the sidecar JSON; empty when the recording has no sidecar."),
  caller_id_hash STRING
    OPTIONS(description="Pseudonymous caller: HMAC-SHA256 of the sidecar caller_id (spaces, dashes, dots and brackets removed) keyed with the secret caller-id salt, first 32 hex digits. The same caller gives the same hash under one salt, so repeat callers can be counted; the raw id is never stored. NULL without a caller_id or without a salt."),
  duration_s FLOAT64
    OPTIONS(description="Length of the recording, seconds."),
  n_channels INT64
    OPTIONS(description="Number of audio channels in the source recording (1 mono, 2 stereo)."),
  source_sample_rate_hz INT64
    OPTIONS(description="Sample rate of the source recording before resampling to 16 kHz, Hz."),
  source_format STRING
    OPTIONS(description="Container or codec of the source recording, e.g. wav, flac, mp3, ogg, m4a."),
  turn_count INT64
    OPTIONS(description="Number of speaker turns found in the call (rows in segments for this call and run)."),
  agent_talk_s FLOAT64
    OPTIONS(description="Seconds the agent spoke; NULL when the roles are unknown (undiarized mono)."),
  customer_talk_s FLOAT64
    OPTIONS(description="Seconds the customer spoke; NULL when the roles are unknown (undiarized mono)."),
  agent_talk_share FLOAT64
    OPTIONS(description="agent_talk_s as a share of total talk time (agent_talk_s + customer_talk_s), in [0, 1]; NULL for undiarized mono."),
  customer_talk_share FLOAT64
    OPTIONS(description="customer_talk_s as a share of total talk time (agent_talk_s + customer_talk_s), in [0, 1]; NULL for undiarized mono."),
  silence_s FLOAT64
    OPTIONS(description="Seconds of the recording during which nobody spoke."),
  overlap_s FLOAT64
    OPTIONS(description="Seconds during which both sides spoke at once."),
  interruptions INT64
    OPTIONS(description="Number of turns that began while the other side was still speaking (agent_interruptions + customer_interruptions)."),
  agent_interruptions INT64
    OPTIONS(description="Turns in which the agent started speaking while the customer was still speaking."),
  customer_interruptions INT64
    OPTIONS(description="Turns in which the customer started speaking while the agent was still speaking."),
  first_customer_emotion STRING
    OPTIONS(description="top_emotion of the first customer turn; NULL when no turn is attributed to the customer."),
  last_customer_emotion STRING
    OPTIONS(description="top_emotion of the last customer turn; NULL when no turn is attributed to the customer."),
  customer_negative_share FLOAT64
    OPTIONS(description="Share of customer turns (counted, not weighted by duration) whose top_emotion is angry, disgust, fear or sad, in [0, 1]; NULL when no customer turn."),
  frustration_score FLOAT64
    OPTIONS(description="Duration-weighted mean over customer turns of prob_angry + prob_disgust + 0.5 * prob_fear, in [0, 1]; NULL when no customer turn."),
  model_version STRING NOT NULL
    OPTIONS(description="Version of the emotion model that scored the call."),
  run_id STRING NOT NULL
    OPTIONS(description="Identifier of the pipeline run that wrote the row; joins to runs.run_id."),
  processed_at TIMESTAMP NOT NULL
    OPTIONS(description="UTC time the row was produced.")
)
PARTITION BY call_date
CLUSTER BY agent_id, queue
OPTIONS(description="callmood: one row per processed call, with talk time, silence, interruptions, the customer's emotion trajectory and a frustration score.");
