# One row per queue and day (sql/views/cx_queue_daily.sql): the rates and their 7-day trend.
view: cx_queue_daily {
  sql_table_name: `@{dataset}.cx_queue_daily` ;;
  label: "Queue by Day"

  dimension: queue_day_key {
    primary_key: yes
    hidden: yes
    type: string
    label: "Queue Day Key"
    description: "Queue and date: unique per row."
    sql: CONCAT(${TABLE}.queue, '|', CAST(${TABLE}.call_date AS STRING)) ;;
  }

  dimension: queue {
    type: string
    label: "Queue"
    description: "Call-centre queue; empty for calls without a sidecar."
    sql: ${TABLE}.queue ;;
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

  dimension: frustration_7d_avg {
    type: number
    label: "Frustration 7-Day Average"
    description: "Mean frustration score over the calls on this day and the 6 calendar days before."
    sql: ${TABLE}.frustration_7d_avg ;;
    value_format_name: decimal_2
  }

  dimension: frustration_trend {
    type: number
    label: "Frustration Trend"
    description: "Day's mean frustration minus that of the 7 days before: above 0 the day was worse."
    sql: ${TABLE}.frustration_trend ;;
    value_format_name: decimal_2
  }

  measure: calls {
    type: sum
    label: "Calls"
    description: "Calls processed."
    sql: ${TABLE}.calls ;;
  }

  measure: calls_with_customer {
    type: sum
    label: "Calls With Customer Turns"
    description: "Calls with at least one customer turn."
    sql: ${TABLE}.calls_with_customer ;;
  }

  measure: worsened_call_share {
    type: number
    label: "Share of Calls Ending Worse"
    description: "Calls ending worse than they started, as a share of calls with customer turns, over the rows chosen."
    sql: SAFE_DIVIDE(SUM(${TABLE}.worsened_call_rate * ${TABLE}.calls_with_customer), SUM(${TABLE}.calls_with_customer)) ;;
    value_format_name: percent_1
  }

  measure: distressed_call_share {
    type: number
    label: "Share of Distressed Calls"
    description: "Calls with a distressed customer, as a share of calls with customer turns, over the rows chosen."
    sql: SAFE_DIVIDE(SUM(${TABLE}.distressed_call_rate * ${TABLE}.calls_with_customer), SUM(${TABLE}.calls_with_customer)) ;;
    value_format_name: percent_1
  }

  measure: average_frustration {
    type: number
    label: "Average Frustration"
    description: "Mean frustration score of the calls with customer turns, over the rows chosen."
    sql: SAFE_DIVIDE(SUM(${TABLE}.avg_frustration_score * ${TABLE}.calls_with_customer), SUM(${TABLE}.calls_with_customer)) ;;
    value_format_name: decimal_2
  }
}
