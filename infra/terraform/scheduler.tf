# The nightly trigger: Cloud Scheduler POSTs to the Dataflow flexTemplates:launch
# REST method with an OAuth token of the scheduler service account.
#
# The job name is fixed on purpose: Dataflow refuses a second job of the same
# name while one is still running, so a slow night is never overlapped by the next.

resource "google_cloud_scheduler_job" "nightly" {
  name        = "${var.name_prefix}-nightly"
  region      = local.scheduler_region
  description = "Launches the callmood Flex Template on the previous day's recordings."
  schedule    = var.schedule
  time_zone   = var.time_zone
  paused      = var.schedule_paused

  attempt_deadline = "320s"

  retry_config {
    retry_count          = 2
    min_backoff_duration = "300s"
  }

  http_target {
    http_method = "POST"
    uri         = "https://dataflow.googleapis.com/v1b3/projects/${var.project_id}/locations/${var.region}/flexTemplates:launch"
    headers     = { "Content-Type" = "application/json" }
    body = base64encode(jsonencode({
      launchParameter = {
        jobName              = "${var.name_prefix}-nightly"
        containerSpecGcsPath = local.template_path
        parameters           = local.nightly_parameters
        environment          = local.flex_environment
      }
    }))

    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  lifecycle {
    precondition {
      condition     = alltrue([for name in keys(local.nightly_parameters) : contains(local.flex_parameter_names, name)])
      error_message = "Every nightly parameter (extra_parameters included) must be a parameter of infra/flex_template/metadata.json."
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_project_iam_member.scheduler_launches_dataflow,
    google_service_account_iam_member.scheduler_acts_as_job,
    google_storage_bucket_iam_member.scheduler_reads_template,
  ]
}
