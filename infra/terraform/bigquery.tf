# The warehouse: one dataset, and the tables of sql/tables/*.sql created by
# running those same files.
#
# Why google_bigquery_job and not google_bigquery_table: the .sql files are the
# single source of truth for columns, descriptions, partitioning and clustering;
# the job runs them itself (CREATE TABLE IF NOT EXISTS) and the DuckDB path
# transpiles them. Restating the schema in HCL would be a second copy that can
# drift. fileset() picks up every file, so a new table is a new .sql file and
# nothing here. A job is immutable: its id carries a hash of the DDL, so an
# edited file runs again on the next apply (IF NOT EXISTS leaves an existing
# table as it is; a column change is a migration, as it is for the job).

resource "google_bigquery_dataset" "callmood" {
  dataset_id  = var.dataset_id
  location    = local.bigquery_location
  description = "callmood: speech-emotion scores per turn and per call, failed recordings and runs (tables from sql/tables/)."

  # Applies to partitioned tables created after it is set: segments, calls and
  # errors inherit it at creation; runs is not partitioned and is kept.
  default_partition_expiration_ms = var.partition_expiration_days == null ? null : var.partition_expiration_days * 86400000

  delete_contents_on_destroy = false

  depends_on = [google_project_service.enabled]
}

locals {
  table_ddl = {
    for f in fileset(local.sql_tables_dir, "*.sql") :
    trimsuffix(f, ".sql") => replace(
      file("${local.sql_tables_dir}/${f}"),
      local.dataset_placeholder,
      "${var.project_id}.${google_bigquery_dataset.callmood.dataset_id}",
    )
  }
}

resource "google_bigquery_job" "create_table" {
  for_each = local.table_ddl

  # The dataset's creation time in the hash: a re-created dataset gets new
  # job ids (BigQuery never reuses one) and its tables again.
  job_id   = "${var.name_prefix}_ddl_${each.key}_${substr(sha256("${google_bigquery_dataset.callmood.creation_time}\n${each.value}"), 0, 16)}"
  location = google_bigquery_dataset.callmood.location

  query {
    query          = each.value
    use_legacy_sql = false
    # A DDL job must not carry dispositions; the provider's defaults would fail it.
    create_disposition = ""
    write_disposition  = ""
  }
}
