# Agent Wellbeing: which agents carry a load of distressed customers, and runs of them back to back.
# The local twin of this dashboard is `callmood dashboard` (dashboards/local_dashboard.py).
# Streaks are counted over an agent's whole day, across queues, so the queue filter does not apply to them.
- dashboard: agent_wellbeing
  title: Agent Wellbeing
  description: "Per-agent load of distressed customers, runs of them back to back, negative agent turns and late-shift calls."
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
    explore: agent_daily_wellbeing
    field: agent_daily_wellbeing.call_date
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
    explore: agent_daily_wellbeing
    field: agent_daily_wellbeing.agent_id

  elements:
  - name: distressed_calls_per_agent
    title: Distressed customers per agent
    note_text: "Calls whose customer was distressed, and all calls, per agent."
    model: callmood
    explore: cx_call_summary
    type: looker_bar
    fields: [cx_call_summary.agent_id, cx_call_summary.distressed_calls, cx_call_summary.call_count]
    filters:
      cx_call_summary.agent_id: "-EMPTY"
    sorts: [cx_call_summary.distressed_calls desc]
    limit: 50
    listen:
      date_range: cx_call_summary.call_date
      queue: cx_call_summary.queue
      agent: cx_call_summary.agent_id
    row: 0
    col: 0
    width: 12
    height: 8

  - name: distressed_streaks_per_agent
    title: Runs of distressed customers per agent
    note_text: "Longest run of consecutive distressed calls on one day, and distressed calls taken straight after another."
    model: callmood
    explore: agent_daily_wellbeing
    type: looker_bar
    fields: [agent_daily_wellbeing.agent_id, agent_daily_wellbeing.max_distressed_streak,
      agent_daily_wellbeing.back_to_back_distressed_calls]
    sorts: [agent_daily_wellbeing.max_distressed_streak desc]
    limit: 50
    listen:
      date_range: agent_daily_wellbeing.call_date
      agent: agent_daily_wellbeing.agent_id
    row: 0
    col: 12
    width: 12
    height: 8

  - name: agent_days
    title: Agents by day
    model: callmood
    explore: agent_daily_wellbeing
    type: looker_grid
    fields: [agent_daily_wellbeing.call_date, agent_daily_wellbeing.agent_id, agent_daily_wellbeing.calls,
      agent_daily_wellbeing.distressed_calls, agent_daily_wellbeing.back_to_back_distressed_calls,
      agent_daily_wellbeing.max_distressed_streak, agent_daily_wellbeing.average_negative_turn_share,
      agent_daily_wellbeing.late_shift_calls]
    sorts: [agent_daily_wellbeing.call_date desc, agent_daily_wellbeing.distressed_calls desc]
    limit: 500
    listen:
      date_range: agent_daily_wellbeing.call_date
      agent: agent_daily_wellbeing.agent_id
    row: 8
    col: 0
    width: 24
    height: 8
