"""Container images: the placeholder the services start with, and what staging and prod
accept. A tag can be moved to other bytes; a digest cannot, and neither can a tag in the
platform's own ECR repositories (the bootstrap creates them with immutable tags)."""

from __future__ import annotations

import re

from templates.parts.deploy import ECR_REPOSITORIES

# traefik/whoami v1.11.0 (its multi-arch index): answers every path and /health with 200
# on WHOAMI_PORT_NUMBER, runs as any uid on a read-only root file system, so a first
# deploy with defaults passes its health checks. Replace it with the application's.
PLACEHOLDER_IMAGE = (
    "docker.io/traefik/whoami:v1.11.0"
    "@sha256:200689790a0a0ea48ca45992e0450bc26ccab5307375b41c84dfc4f2475937ab"
)
# AWS Distro for OpenTelemetry collector v0.43.3 (its multi-arch index), beside every
# container when Tracing is enabled.
TRACING_COLLECTOR_IMAGE = (
    "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
    "@sha256:8aa9ea5f67b8d318f7d6af24677e3c70f7098bc0631147cb5fa91addbe980b06"
)

DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
ECR_IMAGE = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[a-z0-9._/-]+)(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$"
)


def is_image_parameter(name: str) -> bool:
    """The compute tier's image parameters (ApiImage, WebImage, WorkerImage)."""
    return name.endswith("Image")


def platform_repositories(environment: str) -> set[str]:
    return {f"ecr-{purpose}-{environment}" for purpose in ECR_REPOSITORIES.values()}


def pinning_problem(
    image: str, environment: str, region: str | None = None, account: str | None = None
) -> str | None:
    """Why `image` is not pinned for a protected environment, or None when it is: by
    digest, or in this environment's own ECR repositories (of `region` and `account`
    when given)."""
    if DIGEST.match(image):
        return None
    ecr = ECR_IMAGE.match(image)
    if ecr and ecr["repository"] in platform_repositories(environment):
        if region and ecr["region"] != region:
            return f"is in {ecr['region']}, not in this environment's region {region}"
        if account and ecr["account"] != account:
            return f"is in account {ecr['account']}, not in this environment's {account}"
        return None
    return "is pinned by tag, and a tag can be moved to other bytes"
