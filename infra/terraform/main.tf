# Names shared by every file of the module, and the APIs the deployment needs.

locals {
  labels = merge({ app = "callmood" }, var.labels)

  recordings_bucket = coalesce(var.recordings_bucket_name, "${var.project_id}-${var.name_prefix}-recordings")
  temp_bucket       = "${var.project_id}-${var.name_prefix}-dataflow"
  bigquery_location = coalesce(var.bigquery_location, var.region)
  scheduler_region  = coalesce(var.scheduler_region, var.region)

  # sql/ is the single source of truth for the warehouse: the job runs these
  # same files (sql.schema.bigquery_ddl), Terraform runs them once at apply.
  sql_tables_dir      = "${path.module}/../../sql/tables"
  dataset_placeholder = "{dataset}"

  # The template's parameters come from the `callmood run` parser
  # (infra/flex_template/build_metadata.py writes the file).
  flex_metadata        = jsondecode(file("${path.module}/../flex_template/metadata.json"))
  flex_parameter_names = [for p in local.flex_metadata.parameters : p.name]
}

resource "google_project_service" "enabled" {
  for_each = var.enable_apis ? toset(concat(
    [
      "artifactregistry.googleapis.com",
      "bigquery.googleapis.com",
      "cloudscheduler.googleapis.com",
      "compute.googleapis.com",
      "dataflow.googleapis.com",
      "iam.googleapis.com",
      "storage.googleapis.com",
    ],
    var.caller_id_salt_secret == null ? [] : ["secretmanager.googleapis.com"],
  )) : toset([])

  service            = each.value
  disable_on_destroy = false
}
