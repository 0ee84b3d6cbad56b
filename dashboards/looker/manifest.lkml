project_name: "callmood"

# The BigQuery dataset the nightly job writes to (tables from sql/tables, views from sql/views).
# Override per environment in the Looker project settings or by editing this one line.
constant: dataset {
  value: "callmood"
  export: override_optional
}
