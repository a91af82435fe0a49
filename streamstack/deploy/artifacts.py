"""Content-addressed template upload: key = templates/<sha256>.json from the build
manifest, uploaded only when a HEAD says it is absent. An unchanged tier keeps its
TemplateURL, so CloudFormation leaves that nested stack alone."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from streamstack.deploy.aws import error_code
from streamstack.errors import StreamstackError


@dataclass(frozen=True)
class UploadResult:
    uploaded: int
    skipped: int
    base_url: str


def exists(s3_client, bucket: str, key: str) -> bool:
    try:
        s3_client.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def upload_templates(s3_client, bucket: str, manifest: dict, build_dir: Path,
                     base_url: str | None = None) -> UploadResult:
    """Upload every template of the manifest that the bucket does not hold yet.

    base_url defaults to the bucket's virtual-hosted regional URL.
    """
    uploaded = skipped = 0
    for name, entry in sorted(manifest["templates"].items()):
        path = build_dir / entry["file"]
        if not path.is_file():
            raise StreamstackError(f"{path} is missing although build/manifest.json lists "
                                   f"{name}: run `make build`")
        if exists(s3_client, bucket, entry["key"]):
            skipped += 1
            continue
        try:
            s3_client.put_object(Bucket=bucket, Key=entry["key"], Body=path.read_bytes(),
                                 ContentType="application/json")
        except ClientError as exc:
            if error_code(exc) != "NoSuchBucket":
                raise
            # HEAD answers 404 for a missing bucket as for a missing key; PUT tells them apart.
            raise StreamstackError(
                f"the artifact bucket {bucket} does not exist, although the bootstrap stack "
                "names it: it was deleted outside CloudFormation; nothing was deployed. "
                "Delete the bootstrap stack and run `make bootstrap` again") from None
        uploaded += 1
    if base_url is None:
        region = s3_client.meta.region_name
        base_url = f"https://{bucket}.s3.{region}.amazonaws.com"
    return UploadResult(uploaded, skipped, base_url)


def template_url(base_url: str, manifest: dict, name: str) -> str:
    return f"{base_url}/{manifest['templates'][name]['key']}"
