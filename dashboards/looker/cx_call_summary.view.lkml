# One row per call (sql/views/cx_call_summary.sql): the customer's mood at the start and end of the call.
view: cx_call_summary {
  sql_table_name: `@{dataset}.cx_call_summary` ;;
  label: "Call Summary"

  dimension: recording_uri {
    primary_key: yes
    type: string
    label: "Recording"
    description: "Full path or gs:// URI of the recording as stored; the key that joins to calls and turns. Click for the recording (a pseudonymised path, tel-..., is not the file's: use Recording Paths' clear path)."
    sql: ${TABLE}.recording_uri ;;
    link: {
      label: "Listen to the recording"
      url: "{% assign uri = value | split: '://' %}{% if uri[0] == 'gs' %}https://storage.cloud.google.com/{{ uri[1] }}{% else %}file://{{ value }}{% endif %}"
    }
  }

  dimension: call_id {
    type: string
    label: "Call"
    description: "Call identifier from the sidecar, or the file name without its extension."
    sql: ${TABLE}.call_id ;;
  }

  dimension_group: call {
    type: time
    timeframes: [date, week, month]
    datatype: date
    convert_tz: no
    label: "Call"
    description: "Date the call took place."
    sql: ${TABLE}.call_date ;;
  }

  dimension_group: started {
    type: time
    timeframes: [raw, time, hour_of_day, date]
    label: "Started"
    description: "Start time of the call in UTC; empty when the recording had no sidecar."
    sql: ${TABLE}.started_at ;;
  }

  dimension: agent_id {
    type: string
    label: "Agent"
    description: "Agent who took the call; empty when unknown."
    sql: ${TABLE}.agent_id ;;
  }

  dimension: queue {
    type: string
    label: "Queue"
    description: "Queue the call came through; empty when unknown."
    sql: ${TABLE}.queue ;;
  }

  dimension: duration_s {
    type: number
    label: "Duration (seconds)"
    description: "Length of the recording in seconds."
    sql: ${TABLE}.duration_s ;;
    value_format_name: decimal_1
  }

  dimension: customer_turns {
    type: number
    label: "Customer Turns"
    description: "Number of turns attributed to the customer (0 when none, e.g. undiarized mono)."
    sql: ${TABLE}.customer_turns ;;
  }

  dimension: start_emotion {
    type: string
    label: "Start Emotion"
    description: "Top emotion of the customer's first turn."
    sql: ${TABLE}.start_emotion ;;
  }

  dimension: end_emotion {
    type: string
    label: "End Emotion"
    description: "Top emotion of the customer's last turn."
    sql: ${TABLE}.end_emotion ;;
  }

  dimension: valence_change {
    type: number
    label: "Valence Change"
    description: "End valence minus start valence of the customer: above 0 the customer ended the call in a better mood."
    sql: ${TABLE}.valence_change ;;
    value_format_name: decimal_2
  }

  dimension: mood_trend {
    type: string
    label: "Mood Trend"
    description: "improved, worsened or unchanged: how the customer's valence moved from the first to the last turn (0.1 threshold)."
    sql: ${TABLE}.mood_trend ;;
  }

  dimension: peak_anger {
    type: number
    label: "Peak Anger"
    description: "Highest probability of anger over the customer's turns, 0 to 1."
    sql: ${TABLE}.peak_anger ;;
    value_format_name: percent_0
  }

  dimension: peak_anger_at_s {
    type: number
    label: "Peak Anger At (seconds)"
    description: "Seconds from the start of the recording to the customer turn with the highest anger."
    sql: ${TABLE}.peak_anger_at_s ;;
    value_format_name: decimal_1
  }

  dimension: negative_turn_share {
    type: number
    label: "Negative Turn Share"
    description: "Share of the customer's turns whose top emotion is angry, disgust, fear or sad."
    sql: ${TABLE}.negative_turn_share ;;
    value_format_name: percent_0
  }

  dimension: frustration_score {
    type: number
    label: "Frustration Score"
    description: "Duration-weighted mean over the customer's turns of anger + disgust + half of fear, 0 to 1."
    sql: ${TABLE}.frustration_score ;;
    value_format_name: decimal_2
  }

  dimension: customer_distressed {
    type: yesno
    label: "Customer Distressed"
    description: "Yes when the frustration score or the negative turn share reached 0.5."
    sql: ${TABLE}.customer_distressed ;;
  }

  dimension: model_version {
    type: string
    label: "Model Version"
    description: "Version of the emotion model that scored the call."
    sql: ${TABLE}.model_version ;;
  }

  measure: call_count {
    type: count
    label: "Calls"
    description: "Number of calls."
    drill_fields: [call_detail*]
  }

  measure: calls_with_customer {
    type: count
    label: "Calls With Customer Turns"
    description: "Calls with at least one customer turn: the denominator of the call rates."
    filters: {
      field: customer_turns
      value: ">0"
    }
  }

  measure: worsened_calls {
    type: count
    label: "Calls Ending Worse"
    description: "Calls whose customer ended in a worse mood than they started (mood trend worsened)."
    filters: {
      field: mood_trend
      value: "worsened"
    }
    drill_fields: [call_detail*]
  }

  measure: worsened_call_share {
    type: number
    label: "Share of Calls Ending Worse"
    description: "Calls ending worse than they started, as a share of calls with customer turns."
    sql: SAFE_DIVIDE(${worsened_calls}, ${calls_with_customer}) ;;
    value_format_name: percent_1
  }

  measure: angry_calls {
    type: count
    label: "Angry Calls"
    description: "Calls whose customer's peak anger reached 0.5."
    filters: {
      field: peak_anger
      value: ">=0.5"
    }
    drill_fields: [call_detail*]
  }

  measure: angry_call_share {
    type: number
    label: "Share of Angry Calls"
    description: "Angry calls as a share of calls with customer turns."
    sql: SAFE_DIVIDE(${angry_calls}, ${calls_with_customer}) ;;
    value_format_name: percent_1
  }

  measure: distressed_calls {
    type: count
    label: "Distressed Calls"
    description: "Calls with a distressed customer."
    filters: {
      field: customer_distressed
      value: "yes"
    }
    drill_fields: [call_detail*]
  }

  measure: average_frustration {
    type: average
    label: "Average Frustration"
    description: "Mean frustration score over calls with customer turns."
    sql: ${frustration_score} ;;
    value_format_name: decimal_2
  }

  measure: average_peak_anger {
    type: average
    label: "Average Peak Anger"
    description: "Mean of the calls' peak anger."
    sql: ${peak_anger} ;;
    value_format_name: percent_0
  }

  set: call_detail {
    fields: [call_id, call_date, agent_id, queue, frustration_score, peak_anger, mood_trend, recording_uri]
  }
}
