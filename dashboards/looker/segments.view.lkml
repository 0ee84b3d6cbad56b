# One row per speaker turn (sql/tables/segments.sql): the emotion probabilities the model gave the turn.
view: segments {
  sql_table_name: `@{dataset}.segments` ;;
  label: "Turns"

  dimension: turn_key {
    primary_key: yes
    hidden: yes
    type: string
    label: "Turn Key"
    description: "Recording and turn index: unique per turn."
    sql: CONCAT(${TABLE}.recording_uri, '#', CAST(${TABLE}.turn_index AS STRING)) ;;
  }

  dimension: recording_uri {
    hidden: yes
    type: string
    label: "Recording"
    description: "Full path or gs:// URI of the recording the turn belongs to."
    sql: ${TABLE}.recording_uri ;;
  }

  dimension_group: call {
    type: time
    timeframes: [date, week, month]
    datatype: date
    convert_tz: no
    label: "Turn Call"
    description: "Date the call took place."
    sql: ${TABLE}.call_date ;;
  }

  dimension: agent_id {
    type: string
    label: "Turn Agent"
    description: "Agent who took the call; empty when unknown."
    sql: ${TABLE}.agent_id ;;
  }

  dimension: queue {
    type: string
    label: "Turn Queue"
    description: "Queue the call came through; empty when unknown."
    sql: ${TABLE}.queue ;;
  }

  dimension: turn_index {
    type: number
    label: "Turn Index"
    description: "Position of the turn in the call, from 0."
    sql: ${TABLE}.turn_index ;;
  }

  dimension: speaker {
    type: string
    label: "Speaker"
    description: "agent, customer, or speaker_N for undiarized mono."
    sql: ${TABLE}.speaker ;;
  }

  dimension: start_s {
    type: number
    label: "Turn Start (seconds)"
    description: "Seconds from the start of the recording to the start of the turn."
    sql: ${TABLE}.start_s ;;
  }

  dimension: top_emotion {
    type: string
    label: "Top Emotion"
    description: "The most probable emotion of the turn."
    sql: ${TABLE}.top_emotion ;;
  }

  dimension: prob_angry {
    hidden: yes
    type: number
    label: "Probability Angry"
    description: "Probability the turn is angry."
    sql: ${TABLE}.prob_angry ;;
  }

  dimension: prob_disgust {
    hidden: yes
    type: number
    label: "Probability Disgust"
    description: "Probability the turn is disgusted."
    sql: ${TABLE}.prob_disgust ;;
  }

  dimension: prob_fear {
    hidden: yes
    type: number
    label: "Probability Fear"
    description: "Probability the turn is fearful."
    sql: ${TABLE}.prob_fear ;;
  }

  dimension: prob_happy {
    hidden: yes
    type: number
    label: "Probability Happy"
    description: "Probability the turn is happy."
    sql: ${TABLE}.prob_happy ;;
  }

  dimension: prob_neutral {
    hidden: yes
    type: number
    label: "Probability Neutral"
    description: "Probability the turn is neutral."
    sql: ${TABLE}.prob_neutral ;;
  }

  dimension: prob_sad {
    hidden: yes
    type: number
    label: "Probability Sad"
    description: "Probability the turn is sad."
    sql: ${TABLE}.prob_sad ;;
  }

  dimension: valence {
    type: number
    label: "Valence"
    description: "Valence of the turn from -1 (unpleasant) to 1 (pleasant), derived from the probabilities."
    sql: ${TABLE}.valence ;;
  }

  measure: turn_count {
    type: count
    label: "Turns"
    description: "Number of turns."
  }

  measure: average_angry {
    type: average
    label: "Angry"
    description: "Mean probability of anger over the turns."
    sql: ${prob_angry} ;;
    value_format_name: percent_1
  }

  measure: average_disgust {
    type: average
    label: "Disgust"
    description: "Mean probability of disgust over the turns."
    sql: ${prob_disgust} ;;
    value_format_name: percent_1
  }

  measure: average_fear {
    type: average
    label: "Fear"
    description: "Mean probability of fear over the turns."
    sql: ${prob_fear} ;;
    value_format_name: percent_1
  }

  measure: average_happy {
    type: average
    label: "Happy"
    description: "Mean probability of happiness over the turns."
    sql: ${prob_happy} ;;
    value_format_name: percent_1
  }

  measure: average_neutral {
    type: average
    label: "Neutral"
    description: "Mean probability of a neutral tone over the turns."
    sql: ${prob_neutral} ;;
    value_format_name: percent_1
  }

  measure: average_sad {
    type: average
    label: "Sad"
    description: "Mean probability of sadness over the turns."
    sql: ${prob_sad} ;;
    value_format_name: percent_1
  }

  measure: average_valence {
    type: average
    label: "Average Valence"
    description: "Mean valence over the turns."
    sql: ${valence} ;;
    value_format_name: decimal_2
  }
}
