# One row per night, metric and bin (sql/views/monitoring_nightly.sql): what came in and what the model said,
# with each metric's population stability index against the 7 nights before. `callmood monitor` reads the same rows.
view: monitoring_nightly {
  sql_table_name: `@{dataset}.monitoring_nightly` ;;
  label: "Monitoring by Night"

  dimension: night_metric_bin_key {
    primary_key: yes
    hidden: yes
    type: string
    label: "Night Metric Bin Key"
    description: "Night, metric and bin: unique per row."
    sql: CONCAT(CAST(${TABLE}.call_date AS STRING), '|', ${TABLE}.metric, '|', ${TABLE}.bin_label) ;;
  }

  dimension_group: call {
    type: time
    timeframes: [date, week, month]
    datatype: date
    convert_tz: no
    label: "Night"
    description: "The night: calls with this call date."
    sql: ${TABLE}.call_date ;;
  }

  dimension: metric {
    type: string
    label: "Metric"
    description: "What is counted: per call duration_s, silence_share, source_sample_rate_hz, n_channels, codec; per turn loudness_dbfs, snr_db, speech_ratio, top_emotion, prob_angry to prob_sad."
    sql: ${TABLE}.metric ;;
  }

  dimension: population {
    type: string
    label: "Population"
    description: "What one counted item is: calls or turns."
    sql: ${TABLE}.population ;;
  }

  dimension: bin_label {
    type: string
    label: "Bin"
    description: "The histogram bin: a value range or a category."
    sql: ${TABLE}.bin_label ;;
    order_by_field: bin_index
  }

  dimension: bin_index {
    hidden: yes
    type: number
    label: "Bin Position"
    description: "Position of the bin in the metric's fixed bins, for sorting."
    sql: ${TABLE}.bin_index ;;
  }

  dimension: run_id {
    type: string
    label: "Run"
    description: "Run whose snapshot of the night this is (the newest)."
    sql: ${TABLE}.run_id ;;
  }

  measure: max_psi_prior_7d {
    type: max
    label: "Stability Index Against Prior Week"
    description: "Population stability index of the night's histogram against the 7 nights before, pooled: under 0.1 stable, over 0.2 drift. Group by night and metric."
    sql: ${TABLE}.psi_prior_7d ;;
    value_format_name: decimal_3
  }

  measure: night_mean {
    type: max
    label: "Night Mean"
    description: "The night's mean of the metric in its unit (for prob_* the mean probability); the same on every bin row, so group by night and metric."
    sql: ${TABLE}.mean_value ;;
    value_format_name: decimal_3
  }

  measure: items {
    type: max
    label: "Items"
    description: "Calls or turns of the night with a value for the metric; group by night and metric."
    sql: ${TABLE}.n_items ;;
  }

  measure: bin_share {
    type: sum
    label: "Share of Items"
    description: "Share of the night's items in the bin (for top_emotion, the share of turns predicted as that emotion); group by night, metric and bin."
    sql: ${TABLE}.bin_share ;;
    value_format_name: percent_1
  }
}
