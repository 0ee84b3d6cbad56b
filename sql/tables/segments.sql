-- One row per speaker turn: the per-turn output contract of callmood.
-- BigQuery dialect. The dataset placeholder is substituted at load time by sql.schema.bigquery_ddl;
-- the embedded DuckDB path transpiles this same statement (sql.schema.duckdb_ddl).
CREATE TABLE IF NOT EXISTS `{dataset}`.segments (
  call_id STRING NOT NULL
    OPTIONS(description="Call identifier: from the sidecar JSON, else the recording file name without its extension."),
  recording_uri STRING NOT NULL
    OPTIONS(description="Full path or gs:// URI of the source recording."),
  call_date DATE NOT NULL
    OPTIONS(description="Date the call took place (from the sidecar started_at when there is one); partitioning column."),
  agent_id STRING
    OPTIONS(description="Agent identifier from the sidecar JSON; empty when the recording has no sidecar."),
  queue STRING
    OPTIONS(description="Call-centre queue from the sidecar JSON; empty when the recording has no sidecar."),
  turn_index INT64 NOT NULL
    OPTIONS(description="0-based position of the turn in the call, ordered by start_s."),
  speaker STRING NOT NULL
    OPTIONS(description="Who spoke: agent or customer (stereo, one channel per role), or speaker_N for diarized mono recordings."),
  channel INT64
    OPTIONS(description="0-based source channel the turn was cut from; NULL when the turn comes from mono diarization."),
  start_s FLOAT64
    OPTIONS(description="Turn start, seconds from the beginning of the recording."),
  end_s FLOAT64
    OPTIONS(description="Turn end, seconds from the beginning of the recording."),
  prob_angry FLOAT64
    OPTIONS(description="Model probability of anger; the six prob_ columns sum to 1."),
  prob_disgust FLOAT64
    OPTIONS(description="Model probability of disgust; the six prob_ columns sum to 1."),
  prob_fear FLOAT64
    OPTIONS(description="Model probability of fear; the six prob_ columns sum to 1."),
  prob_happy FLOAT64
    OPTIONS(description="Model probability of happiness; the six prob_ columns sum to 1."),
  prob_neutral FLOAT64
    OPTIONS(description="Model probability of a neutral tone; the six prob_ columns sum to 1."),
  prob_sad FLOAT64
    OPTIONS(description="Model probability of sadness; the six prob_ columns sum to 1."),
  top_emotion STRING
    OPTIONS(description="Emotion with the highest probability: angry, disgust, fear, happy, neutral or sad."),
  top_confidence FLOAT64
    OPTIONS(description="Probability of top_emotion, in [0, 1]."),
  arousal FLOAT64
    OPTIONS(description="Activation in [-1, 1]: the probability-weighted mean of the six emotions' arousal coordinates on the circumplex."),
  valence FLOAT64
    OPTIONS(description="Pleasantness in [-1, 1]: the probability-weighted mean of the six emotions' valence coordinates on the circumplex."),
  loudness_dbfs FLOAT64
    OPTIONS(description="RMS level of the turn audio in dB relative to full scale (0 is the loudest, more negative is quieter)."),
  snr_db FLOAT64
    OPTIONS(description="Signal-to-noise estimate, dB: loudness_dbfs minus the noise floor of the turn's channel (the level of its quietest tenth of 20 ms frames). About 80 for digitally clean audio; under 10 is a noisy line."),
  pitch_median_hz FLOAT64
    OPTIONS(description="Median fundamental frequency over the voiced frames, Hz; NULL when the turn has no voiced frame."),
  speech_ratio FLOAT64
    OPTIONS(description="Fraction of the turn's duration detected as speech by the voice activity detector, in [0, 1]."),
  overlap_s FLOAT64
    OPTIONS(description="Seconds of this turn during which the other side was speaking too."),
  n_windows INT64
    OPTIONS(description="Number of fixed-length model windows the turn was scored on; the turn's probabilities aggregate them."),
  model_version STRING NOT NULL
    OPTIONS(description="Version of the emotion model that scored the turn."),
  run_id STRING NOT NULL
    OPTIONS(description="Identifier of the pipeline run that wrote the row; joins to runs.run_id."),
  processed_at TIMESTAMP NOT NULL
    OPTIONS(description="UTC time the row was produced.")
)
PARTITION BY call_date
CLUSTER BY agent_id, queue
OPTIONS(description="callmood: one row per speaker turn of a call, with emotion probabilities from the speech-emotion model and acoustic features.");
