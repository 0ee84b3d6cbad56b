# The clear path of each recording stored under a pseudonymised one (sql/tables/recording_paths.sql: its file
# or folder name held a phone-number-like run of digits). Restricted twice: in BigQuery only
# recording_path_readers may read the table (infra/terraform), and the explores join it only for Looker users
# granted can_listen (callmood.model.lkml), so nobody else's query ever touches it.
view: recording_paths {
  sql_table_name: `@{dataset}.recording_paths` ;;
  label: "Recording Paths (restricted)"

  dimension: recording_uri {
    primary_key: yes
    hidden: yes
    type: string
    label: "Stored recording path"
    description: "The recording's path as calls and turns store it, digit runs pseudonymised; the join key."
    sql: ${TABLE}.recording_uri ;;
  }

  dimension: clear_uri {
    type: string
    label: "Recording (clear path)"
    description: "The path the recording was read from, digits in clear, for recordings stored under a pseudonymised path (empty for the others, whose Recording link already works). Click to listen."
    required_access_grants: [can_listen]
    sql: ${TABLE}.clear_uri ;;
    link: {
      label: "Listen to the recording"
      url: "{% assign uri = value | split: '://' %}{% if uri[0] == 'gs' %}https://storage.cloud.google.com/{{ uri[1] }}{% else %}file://{{ value }}{% endif %}"
    }
  }
}
