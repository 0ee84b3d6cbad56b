# Customer Experience: where customers get angry, and whether calls end better than they started.
# The local twin of this dashboard is `callmood dashboard` (dashboards/local_dashboard.py).
- dashboard: customer_experience
  title: Customer Experience
  description: "How customers sounded on the calls: emotion over time, calls that ended worse than they started, anger by queue and hour, the worst calls, and whether the nights' inputs or predictions drifted."
  layout: newspaper
  preferred_viewer: dashboards-next
  refresh: 24 hours

  filters:
  - name: date_range
    title: Date Range
    type: field_filter
    default_value: 28 days
    allow_multiple_values: true
    required: false
    ui_config:
      type: relative_timeframes
      display: inline
    model: callmood
    explore: cx_call_summary
    field: cx_call_summary.call_date
  - name: queue
    title: Queue
    type: field_filter
    default_value: ""
    allow_multiple_values: true
    required: false
    ui_config:
      type: tag_list
      display: popover
    model: callmood
    explore: cx_call_summary
    field: cx_call_summary.queue
  - name: agent
    title: Agent
    type: field_filter
    default_value: ""
    allow_multiple_values: true
    required: false
    ui_config:
      type: tag_list
      display: popover
    model: callmood
    explore: cx_call_summary
    field: cx_call_summary.agent_id

  elements:
  - name: customer_emotion_over_time
    title: Customer emotion over time
    note_text: "Mean probability of each emotion over the customers' turns, per day."
    model: callmood
    explore: segments
    type: looker_line
    fields: [segments.call_date, segments.average_angry, segments.average_disgust, segments.average_fear,
      segments.average_happy, segments.average_neutral, segments.average_sad]
    filters:
      segments.speaker: customer
    sorts: [segments.call_date]
    limit: 500
    listen:
      date_range: segments.call_date
      queue: segments.queue
      agent: segments.agent_id
    row: 0
    col: 0
    width: 16
    height: 8

  - name: share_of_calls_ending_worse
    title: Calls ending worse than they started
    note_text: "Share of calls with customer turns whose customer's mood (valence) fell by more than 0.1."
    model: callmood
    explore: cx_call_summary
    type: single_value
    fields: [cx_call_summary.worsened_call_share]
    limit: 1
    listen:
      date_range: cx_call_summary.call_date
      queue: cx_call_summary.queue
      agent: cx_call_summary.agent_id
    row: 0
    col: 16
    width: 8
    height: 8

  - name: share_of_calls_ending_worse_by_day
    title: Calls ending worse, by day
    model: callmood
    explore: cx_call_summary
    type: looker_column
    fields: [cx_call_summary.call_date, cx_call_summary.worsened_call_share, cx_call_summary.calls_with_customer]
    sorts: [cx_call_summary.call_date]
    limit: 500
    listen:
      date_range: cx_call_summary.call_date
      queue: cx_call_summary.queue
      agent: cx_call_summary.agent_id
    row: 8
    col: 0
    width: 12
    height: 8

  - name: anger_hot_spots_by_queue_and_hour
    title: Anger hot-spots by queue and hour (UTC)
    note_text: "Mean peak anger of the calls with customer turns, by queue and the hour the call started."
    model: callmood
    explore: cx_call_summary
    type: looker_grid
    fields: [cx_call_summary.queue, cx_call_summary.started_hour_of_day, cx_call_summary.average_peak_anger]
    pivots: [cx_call_summary.started_hour_of_day]
    filters:
      cx_call_summary.started_hour_of_day: NOT NULL
    sorts: [cx_call_summary.queue, cx_call_summary.started_hour_of_day]
    limit: 500
    conditional_formatting:
    - type: along a scale...
      value:
      background_color:
      font_color:
      color_application:
        collection_id: legacy
        palette_id: legacy_sequential3
      bold: false
      italic: false
      strikethrough: false
      fields: [cx_call_summary.average_peak_anger]
    listen:
      date_range: cx_call_summary.call_date
      queue: cx_call_summary.queue
      agent: cx_call_summary.agent_id
    row: 8
    col: 12
    width: 12
    height: 8

  - name: worst_calls_of_the_day
    title: Worst calls of the day
    note_text: "Yesterday's ten calls with the highest frustration score; click a recording to listen."
    model: callmood
    explore: cx_call_summary
    type: looker_grid
    fields: [cx_call_summary.call_id, cx_call_summary.started_time, cx_call_summary.agent_id, cx_call_summary.queue,
      cx_call_summary.frustration_score, cx_call_summary.peak_anger, cx_call_summary.mood_trend,
      cx_call_summary.recording_uri]
    filters:
      cx_call_summary.call_date: yesterday
      cx_call_summary.customer_turns: ">0"
    sorts: [cx_call_summary.frustration_score desc]
    limit: 10
    listen:
      queue: cx_call_summary.queue
      agent: cx_call_summary.agent_id
    row: 16
    col: 0
    width: 24
    height: 8

  - name: drift_by_night
    title: "Model monitoring: drift by night"
    note_text: "Population stability index of each night's call and turn statistics and predicted emotions against the 7 nights before; above 0.2 a night has drifted (details: callmood monitor)."
    model: callmood
    explore: monitoring_nightly
    type: looker_line
    fields: [monitoring_nightly.call_date, monitoring_nightly.metric, monitoring_nightly.max_psi_prior_7d]
    pivots: [monitoring_nightly.metric]
    sorts: [monitoring_nightly.call_date]
    limit: 500
    listen:
      date_range: monitoring_nightly.call_date
    row: 24
    col: 0
    width: 24
    height: 8
