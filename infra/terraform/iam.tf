# Two service accounts, each with only what its part needs. Every grant is
# additive (*_iam_member): nothing here replaces a policy someone else manages,
# and no grant is a basic role (owner, editor, viewer).

resource "google_service_account" "job" {
  account_id   = "${var.name_prefix}-job"
  display_name = "callmood nightly job (Dataflow launcher and workers)"
  description  = "Reads recordings, writes the callmood dataset; runs the Flex Template launcher VM and the workers."

  depends_on = [google_project_service.enabled]
}

resource "google_service_account" "scheduler" {
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "callmood nightly trigger (Cloud Scheduler)"
  description  = "May only launch the callmood Flex Template as the job service account."

  depends_on = [google_project_service.enabled]
}

locals {
  job_member       = "serviceAccount:${google_service_account.job.email}"
  scheduler_member = "serviceAccount:${google_service_account.scheduler.email}"
  template_object  = "projects/_/buckets/${google_storage_bucket.temp.name}/objects/${local.template_prefix}"
}

# -- the job -----------------------------------------------------------------------------------

# Reads the recordings (and their sidecars); cannot change or delete them.
resource "google_storage_bucket_iam_member" "job_reads_recordings" {
  bucket = google_storage_bucket.recordings.name
  role   = "roles/storage.objectViewer"
  member = local.job_member
}

# Dataflow staging and temp files. The template specs under templates/ are
# excluded, so a worker cannot rewrite the template it is launched from...
resource "google_storage_bucket_iam_member" "job_writes_temp" {
  bucket = google_storage_bucket.temp.name
  role   = "roles/storage.objectAdmin"
  member = local.job_member

  condition {
    title       = "not-template-specs"
    description = "Everything in the temp bucket except the Flex Template specs."
    expression  = "!resource.name.startsWith(\"${local.template_object}\")"
  }
}

# ...but the launcher VM, which runs as this account, may read them.
resource "google_storage_bucket_iam_member" "job_reads_temp" {
  bucket = google_storage_bucket.temp.name
  role   = "roles/storage.objectViewer"
  member = local.job_member
}

# Creates the tables if missing, (re)creates the views, loads and replaces rows:
# on the callmood dataset only.
resource "google_bigquery_dataset_iam_member" "job_edits_dataset" {
  dataset_id = google_bigquery_dataset.callmood.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = local.job_member
}

# Running a query or load job is a project permission; what the job may touch
# is still limited to the dataset above.
resource "google_project_iam_member" "job_runs_bigquery_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = local.job_member
}

resource "google_project_iam_member" "job_is_dataflow_worker" {
  project = var.project_id
  role    = "roles/dataflow.worker"
  member  = local.job_member
}

# Pulls the image, on the launcher VM and on every worker.
resource "google_artifact_registry_repository_iam_member" "job_pulls_image" {
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = local.job_member
}

resource "google_project_iam_member" "job_calls_vertex_ai" {
  count   = var.grant_vertex_ai_user ? 1 : 0
  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = local.job_member
}

# Reads the caller-id salt on every worker: that one secret.
resource "google_secret_manager_secret_iam_member" "job_reads_salt" {
  count     = var.caller_id_salt_secret == null ? 0 : 1
  project   = var.project_id
  secret_id = var.caller_id_salt_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = local.job_member
}

# -- the scheduler -----------------------------------------------------------------------------

# Creates Dataflow jobs (the flexTemplates:launch call) and nothing else.
resource "google_project_iam_member" "scheduler_launches_dataflow" {
  project = var.project_id
  role    = "roles/dataflow.developer"
  member  = local.scheduler_member
}

# A job runs as the job account; launching one as it needs actAs on that one account.
resource "google_service_account_iam_member" "scheduler_acts_as_job" {
  service_account_id = google_service_account.job.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.scheduler_member
}

# The launch request reads the template spec with the caller's credentials: that
# one object, not the bucket.
resource "google_storage_bucket_iam_member" "scheduler_reads_template" {
  bucket = google_storage_bucket.temp.name
  role   = "roles/storage.objectViewer"
  member = local.scheduler_member

  condition {
    title       = "template-spec-only"
    description = "Only the callmood Flex Template spec files."
    expression  = "resource.name.startsWith(\"${local.template_object}\")"
  }
}

# -- readers -----------------------------------------------------------------------------------

resource "google_bigquery_dataset_iam_member" "viewers" {
  for_each   = toset(var.dataset_viewers)
  dataset_id = google_bigquery_dataset.callmood.dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}
