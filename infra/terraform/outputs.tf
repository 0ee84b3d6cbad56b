output "recordings_bucket" {
  description = "Bucket the recordings are uploaded to, under recordings_prefix/<date>/."
  value       = google_storage_bucket.recordings.name
}

output "temp_bucket" {
  description = "Dataflow temp/staging bucket; also holds the Flex Template specs."
  value       = google_storage_bucket.temp.name
}

output "bigquery_output" {
  description = "The --output of the job: bq://project.dataset."
  value       = local.nightly_output
}

output "tables" {
  description = "Tables created from sql/tables/*.sql."
  value       = sort(keys(local.table_ddl))
}

output "job_service_account" {
  description = "Service account of the launcher VM and the workers (--service_account_email)."
  value       = google_service_account.job.email
}

output "scheduler_service_account" {
  description = "Service account Cloud Scheduler launches the template as."
  value       = google_service_account.scheduler.email
}

output "image" {
  description = "Image the template runs; push it before the first night (see README.md)."
  value       = local.image
}

output "template_path" {
  description = "gs:// path of the Flex Template spec (gcloud dataflow flex-template run --template-file-gcs-location)."
  value       = local.template_path
}

output "nightly_input" {
  description = "The --input the nightly launch sends; the launcher replaces the {yesterday...} token."
  value       = local.nightly_input
}

output "scheduler_job" {
  description = "Cloud Scheduler job that launches the nightly run (gcloud scheduler jobs run to trigger it now)."
  value       = google_cloud_scheduler_job.nightly.name
}

output "flex_environment" {
  description = "Runtime environment every launch uses, in the REST API's field names."
  value       = local.flex_environment
}
