"""IMAGES=...: a plan with new images, validated before anything talks to AWS."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from streamstack.deploy import images
from streamstack.errors import StreamstackError

DIGEST = "sha256:" + "ab" * 32
API = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/ecr-api-staging@{DIGEST}"
WORKER = f"123456789012.dkr.ecr.us-west-2.amazonaws.com/ecr-worker-staging@{DIGEST}"


def test_images_by_digest_become_the_services_image_parameters():
    assert images.parse(f"Api={API}, Worker={WORKER}", "staging", "us-west-2", None) == {
        "ApiImage": API,
        "WorkerImage": WORKER,
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "IMAGES is empty"),
        (f"Scheduler={WORKER}", "the service one of Api, Web, Worker"),
        (API, "give <service>=<image>"),
        ("Api=" + API.replace(f"@{DIGEST}", ":latest"), "not an ECR image by digest"),
        ("Api=docker.io/library/nginx@" + DIGEST, "not an ECR image by digest"),
        (f"Api={WORKER}", "must come from ecr-api-staging in us-west-2"),
        ("Api=" + API.replace("us-west-2", "eu-west-1"), "must come from ecr-api-staging"),
        (f"Api={API},Api={API}", "names Api twice"),
    ],
)
def test_bad_images_are_one_clear_error(text, message):
    with pytest.raises(StreamstackError, match=message):
        images.parse(text, "staging", "us-west-2", None)


def test_an_image_of_another_account_is_refused():
    with pytest.raises(StreamstackError, match="the environment's is 999999999999"):
        images.parse(f"Api={API}", "staging", "us-west-2", "999999999999")


@dataclasses.dataclass
class FakeParams:
    parameters: dict
    region: str = "us-west-2"
    account_id: str | None = None
    path: Path = Path("params/staging.yaml")


class FakeContext:
    env = "staging"

    def __init__(self):
        self.params = FakeParams({"Environment": "staging", "ApiImage": "old"})
        self.lines = []

    def out(self, line):
        self.lines.append(line)


def test_apply_merges_and_says_what_changed():
    ctx = FakeContext()
    images.apply(ctx, f"Api={API}")
    assert ctx.params.parameters["ApiImage"] == API
    assert ctx.lines == [f"image: ApiImage: old -> {API}"]
