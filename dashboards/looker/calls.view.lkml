# One row per processed call (sql/tables/calls.sql): the conversation facts of the call.
view: calls {
  sql_table_name: `@{dataset}.calls` ;;
  label: "Call Facts"

  dimension: recording_uri {
    primary_key: yes
    hidden: yes
    type: string
    label: "Recording"
    description: "Full path or gs:// URI of the recording."
    sql: ${TABLE}.recording_uri ;;
  }

  dimension: silence_s {
    type: number
    label: "Silence (seconds)"
    description: "Seconds in which neither side spoke."
    sql: ${TABLE}.silence_s ;;
  }

  dimension: overlap_s {
    type: number
    label: "Overlap (seconds)"
    description: "Seconds in which both sides spoke at once."
    sql: ${TABLE}.overlap_s ;;
  }

  dimension: interruptions {
    type: number
    label: "Interruptions"
    description: "Times one side started speaking while the other was still talking."
    sql: ${TABLE}.interruptions ;;
  }

  dimension: turn_count {
    type: number
    label: "Turn Count"
    description: "Number of turns in the call, both sides."
    sql: ${TABLE}.turn_count ;;
  }

  dimension: source_format {
    type: string
    label: "Source Format"
    description: "Audio format of the recording (wav, flac, mp3, ...)."
    sql: ${TABLE}.source_format ;;
  }

  measure: total_interruptions {
    type: sum
    label: "Total Interruptions"
    description: "Sum of interruptions over the calls."
    sql: ${interruptions} ;;
  }

  measure: average_silence_s {
    type: average
    label: "Average Silence (seconds)"
    description: "Mean seconds of silence per call."
    sql: ${silence_s} ;;
    value_format_name: decimal_1
  }
}
