connection: "callmood_bigquery"
label: "Callmood"

# One include per view (lookmlint checks each is used by an explore), and the two dashboards.
include: "cx_call_summary.view"
include: "calls.view"
include: "segments.view"
include: "cx_queue_daily.view"
include: "agent_daily_wellbeing.view"
include: "monitoring_nightly.view"
include: "recording_paths.view"
include: "*.dashboard"

datagroup: nightly_run {
  sql_trigger: SELECT MAX(finished_at) FROM `@{dataset}.runs` ;;
  max_cache_age: "24 hours"
  description: "New results arrive once a night, when a callmood run finishes."
}

persist_with: nightly_run

# Who may see the clear path of a pseudonymised recording (and so listen to it): users whose callmood_listen
# user attribute is "yes". Give it to the same people as the recording_path_readers group in BigQuery.
access_grant: can_listen {
  user_attribute: callmood_listen
  allowed_values: ["yes"]
}

explore: cx_call_summary {
  label: "Customer Experience: Calls"
  description: "One row per call with the customer's mood at the start and end, peak anger and frustration; joined to the call facts and to every turn."

  join: calls {
    type: left_outer
    relationship: one_to_one
    sql_on: ${calls.recording_uri} = ${cx_call_summary.recording_uri} ;;
  }

  join: segments {
    type: left_outer
    relationship: one_to_many
    sql_on: ${segments.recording_uri} = ${cx_call_summary.recording_uri} ;;
  }

  join: recording_paths {
    type: left_outer
    relationship: one_to_one
    required_access_grants: [can_listen]
    sql_on: ${recording_paths.recording_uri} = ${cx_call_summary.recording_uri} ;;
  }
}

explore: segments {
  label: "Customer Experience: Turns"
  description: "One row per speaker turn with its emotion probabilities; joined to the call it belongs to."

  join: cx_call_summary {
    type: left_outer
    relationship: many_to_one
    sql_on: ${cx_call_summary.recording_uri} = ${segments.recording_uri} ;;
  }

  join: recording_paths {
    type: left_outer
    relationship: many_to_one
    required_access_grants: [can_listen]
    sql_on: ${recording_paths.recording_uri} = ${segments.recording_uri} ;;
  }
}

explore: cx_queue_daily {
  label: "Customer Experience: Queues by Day"
  description: "One row per queue and day with frustration, distress and mood-change rates and their 7-day trend."
}

explore: agent_daily_wellbeing {
  label: "Agent Wellbeing: Agents by Day"
  description: "One row per agent and day: negative agent turns, distressed customers, streaks of them, talk share and late-shift load."
}

explore: monitoring_nightly {
  label: "Monitoring: Inputs and Predictions by Night"
  description: "One row per night, metric and histogram bin: call and turn statistics and predicted emotions, with drift against the week before."
}
