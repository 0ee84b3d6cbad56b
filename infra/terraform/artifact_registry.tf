# The Docker repository of the callmood image: the Flex Template launcher and
# the Dataflow workers run the same image (see the Dockerfile at the repo root).

resource "google_artifact_registry_repository" "images" {
  location      = var.region
  repository_id = var.name_prefix
  format        = "DOCKER"
  description   = "callmood: the image that launches and runs the nightly Dataflow job."

  docker_config {
    immutable_tags = true # a tag names one build, so a night is reproducible
  }

  depends_on = [google_project_service.enabled]
}

locals {
  image = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}/callmood:${var.image_tag}"
}
