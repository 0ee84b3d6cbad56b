# One row per agent and day (sql/views/agent_daily_wellbeing.sql): the load of hard calls an agent carried.
view: agent_daily_wellbeing {
  sql_table_name: `@{dataset}.agent_daily_wellbeing` ;;
  label: "Agent by Day"

  dimension: agent_day_key {
    primary_key: yes
    hidden: yes
    type: string
    label: "Agent Day Key"
    description: "Agent and date: unique per row."
    sql: CONCAT(${TABLE}.agent_id, '|', CAST(${TABLE}.call_date AS STRING)) ;;
  }

  dimension: agent_id {
    type: string
    label: "Agent"
    description: "Agent identifier."
    sql: ${TABLE}.agent_id ;;
  }

  dimension_group: call {
    type: time
    timeframes: [date, week, month]
    datatype: date
    convert_tz: no
    label: "Call"
    description: "Date the calls took place."
    sql: ${TABLE}.call_date ;;
  }

  dimension: longest_distressed_streak {
    type: number
    label: "Longest Distressed Streak"
    description: "Longest run that day of consecutive calls with a distressed customer."
    sql: ${TABLE}.longest_distressed_streak ;;
  }

  dimension: negative_turn_share {
    type: number
    label: "Negative Agent Turn Share"
    description: "Share of the agent's turns whose top emotion is angry, disgust, fear or sad."
    sql: ${TABLE}.negative_turn_share ;;
    value_format_name: percent_0
  }

  measure: calls {
    type: sum
    label: "Calls"
    description: "Calls the agent took."
    sql: ${TABLE}.calls ;;
  }

  measure: distressed_calls {
    type: sum
    label: "Distressed Calls"
    description: "Calls whose customer was distressed."
    sql: ${TABLE}.distressed_calls ;;
  }

  measure: back_to_back_distressed_calls {
    type: sum
    label: "Back-to-Back Distressed Calls"
    description: "Distressed calls that came straight after another distressed call the same day."
    sql: ${TABLE}.back_to_back_distressed_calls ;;
  }

  measure: max_distressed_streak {
    type: max
    label: "Longest Distressed Streak (max)"
    description: "The longest run of consecutive distressed calls on any one day in the rows chosen."
    sql: ${TABLE}.longest_distressed_streak ;;
  }

  measure: distressed_call_share {
    type: number
    label: "Share of Distressed Calls"
    description: "Distressed calls as a share of the agent's calls."
    sql: SAFE_DIVIDE(${distressed_calls}, ${calls}) ;;
    value_format_name: percent_0
  }

  measure: late_shift_calls {
    type: sum
    label: "Late-Shift Calls"
    description: "Calls that started at or after 18:00 or before 06:00 UTC."
    sql: ${TABLE}.late_shift_calls ;;
  }

  measure: agent_talk_s {
    type: sum
    label: "Agent Talk (seconds)"
    description: "Seconds the agent spoke."
    sql: ${TABLE}.agent_talk_s ;;
  }

  measure: average_negative_turn_share {
    type: number
    label: "Negative Agent Turn Share"
    description: "Share of the agent's turns that sounded negative, over the rows chosen (weighted by turns)."
    sql: SAFE_DIVIDE(SUM(${TABLE}.negative_turn_share * ${TABLE}.agent_turns), SUM(${TABLE}.agent_turns)) ;;
    value_format_name: percent_0
  }
}
