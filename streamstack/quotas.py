"""CloudFormation's per-template quotas: a template over them fails at deploy time,
so the build fails first."""

from __future__ import annotations

import json

MAX_RESOURCES = 500
MAX_BYTES = 1_048_576  # template uploaded to S3 (TemplateURL)
MAX_PARAMETERS = 200
MAX_OUTPUTS = 200


def check(name: str, text: str) -> list[str]:
    template = json.loads(text)
    counts = {
        "resources": (len(template.get("Resources", {})), MAX_RESOURCES),
        "bytes": (len(text.encode()), MAX_BYTES),
        "parameters": (len(template.get("Parameters", {})), MAX_PARAMETERS),
        "outputs": (len(template.get("Outputs", {})), MAX_OUTPUTS),
    }
    return [
        f"{name}: {count} {what}, over CloudFormation's limit of {limit}; split the tier"
        for what, (count, limit) in counts.items()
        if count > limit
    ]
