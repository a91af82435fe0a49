"""IMAGES=Api=<uri>@sha256:<digest>[,Worker=...] (deploy.py --images): a plan with new
images for some services, as the image-delivery workflow makes it. Each value replaces
the service's image parameter (<Service>Image) of the environment's params for this plan
only; the change set records it, so `make execute` runs exactly that.

Only images of this account's and region's ECR repositories of the environment, by
digest (a tag can move after the review): ecr-<service>-<environment>@sha256:<64 hex>.
"""

from __future__ import annotations

import dataclasses
import re

from streamstack.errors import StreamstackError

SERVICES = ("Api", "Web", "Worker")
DIGEST = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[a-z0-9._/-]+)@sha256:[0-9a-f]{64}$"
)


def parse(text: str, environment: str, region: str, account: str | None) -> dict[str, str]:
    """parameter -> image, from `Service=image,...`; every problem is one error line."""
    images = {}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        service, sep, image = item.partition("=")
        if not sep or service not in SERVICES:
            raise StreamstackError(
                f"IMAGES entry {item!r}: give <service>=<image>, the service one of "
                f"{', '.join(SERVICES)}"
            )
        found = DIGEST.match(image)
        if not found:
            raise StreamstackError(
                f"IMAGES {service}: {image!r} is not an ECR image by digest "
                "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 hex>)"
            )
        repository = f"ecr-{service.lower()}-{environment}"
        if found["repository"] != repository or found["region"] != region:
            raise StreamstackError(
                f"IMAGES {service}: the image must come from {repository} in {region}, "
                f"not {found['repository']} in {found['region']}"
            )
        if account and found["account"] != account:
            raise StreamstackError(
                f"IMAGES {service}: the image is in account {found['account']}, the "
                f"environment's is {account}"
            )
        if f"{service}Image" in images:
            raise StreamstackError(f"IMAGES names {service} twice; give each service once")
        images[f"{service}Image"] = image
    if not images:
        raise StreamstackError("IMAGES is empty: give <service>=<image>[,...]")
    return images


def apply(ctx, text: str) -> None:
    """Merge the images into ctx.params and say what changed."""
    params = ctx.params
    images = parse(
        text, params.parameters.get("Environment", ctx.env), params.region, params.account_id
    )
    for name, image in sorted(images.items()):
        before = params.parameters.get(name, "(template default)")
        ctx.out(f"image: {name}: {before} -> {image}")
    ctx.params = dataclasses.replace(params, parameters={**params.parameters, **images})
