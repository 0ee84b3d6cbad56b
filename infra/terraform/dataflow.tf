# The Dataflow Flex Template: a spec file in the temp bucket that names the
# image and lists the parameters (from infra/flex_template/metadata.json), and
# the runtime environment every launch gets (Scheduler, gcloud, Airflow).

locals {
  template_prefix = "templates/"
  template_path   = "gs://${google_storage_bucket.temp.name}/${google_storage_bucket_object.flex_template.name}"

  # FlexTemplateRuntimeEnvironment, in the REST API's field names.
  flex_environment = merge(
    {
      serviceAccountEmail  = google_service_account.job.email
      tempLocation         = "gs://${google_storage_bucket.temp.name}/temp"
      stagingLocation      = "gs://${google_storage_bucket.temp.name}/staging"
      sdkContainerImage    = local.image # workers run the launcher's image: same code, ffmpeg included
      machineType          = var.machine_type
      maxWorkers           = var.max_workers
      ipConfiguration      = var.use_public_ips ? "WORKER_IP_PUBLIC" : "WORKER_IP_PRIVATE"
      additionalUserLabels = local.labels
    },
    var.subnetwork == null ? {} : { subnetwork = var.subnetwork },
  )

  nightly_parameters = merge(
    { input = local.nightly_input, output = local.nightly_output },
    var.caller_id_salt_secret == null ? {} : {
      caller_id_salt_source = "secret:projects/${var.project_id}/secrets/${var.caller_id_salt_secret}/versions/latest"
    },
    # The job keeps enforcing the dataset's retention on its call tables (a table's own
    # expiration wins over the dataset default), so both say the same number of days.
    var.partition_expiration_days != null && contains(local.flex_parameter_names, "retention_days") ? {
      retention_days = tostring(var.partition_expiration_days)
    } : {},
    var.extra_parameters,
  )

  nightly_output = "bq://${var.project_id}.${google_bigquery_dataset.callmood.dataset_id}"
  # Scheduler sends the same body every night; the launcher turns the token
  # into yesterday's date in time_zone (beam_pipeline/cli/flex_launcher.py).
  nightly_input = "gs://${google_storage_bucket.recordings.name}/${var.recordings_prefix}{yesterday@${var.time_zone}:${var.recordings_date_format}}/"
}

resource "google_storage_bucket_object" "flex_template" {
  bucket       = google_storage_bucket.temp.name
  name         = "${local.template_prefix}callmood-${var.image_tag}.json"
  content_type = "application/json"
  content = jsonencode({
    image              = local.image
    sdkInfo            = { language = "PYTHON" }
    metadata           = local.flex_metadata
    defaultEnvironment = local.flex_environment
  })
}
