"""Content-addressed templates in the artifact bucket, verified before any use.

A template's key is templates/<sha256>.json, the hash of its bytes (a pull-request plan
writes under pull-requests/ instead, where no deploy from the main branch reads). Before
a change set references them, every template the build lists is checked: a HEAD with
S3's checksums says whether the key exists and what its bytes hash to (S3 computed the
checksum when the object was written; one written without is read back and hashed). A
missing template is written with If-None-Match (the bucket policy refuses any write that
could replace one) and its SHA-256, which S3 checks against the bytes it receives.
A key whose bytes do not hash to its name is one error line, and nothing is deployed.

An unchanged tier keeps its TemplateURL, so CloudFormation leaves that nested stack
alone.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from streamstack.deploy.aws import error_code
from streamstack.errors import StreamstackError

PULL_REQUEST_PREFIX = "pull-requests/"
MISSING = ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class UploadResult:
    uploaded: int
    skipped: int  # already present, and verified
    base_url: str  # the root's ArtifactBaseUrl (prefix included)


def checksum(data: bytes) -> str:
    """S3's ChecksumSHA256 of some bytes (base64 of the digest)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _expected(sha256_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode()


def stored_checksum(s3_client, bucket: str, key: str) -> str | None:
    """ChecksumSHA256 of the stored object, None when the key does not exist. An object
    written without a checksum is read back and hashed here."""
    try:
        head = s3_client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if error_code(exc) in MISSING:
            return None
        raise
    if head.get("ChecksumSHA256") and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
        return head["ChecksumSHA256"]
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return checksum(body)


def _refuse_tampered(bucket: str, key: str, found: str, expected: str) -> None:
    raise StreamstackError(
        f"s3://{bucket}/{key} does not hash to its name (sha256 {found}, expected "
        f"{expected}): it was replaced outside deploy.py; nothing was deployed. Have an "
        "account administrator delete that object (every version) and run the command again"
    )


def upload_templates(
    s3_client,
    bucket: str,
    manifest: dict,
    build_dir: Path,
    base_url: str | None = None,
    prefix: str = "",
    names: list[str] | None = None,
) -> UploadResult:
    """Verify every template of the manifest (or `names`) in the bucket, uploading the
    missing ones. base_url defaults to the bucket's virtual-hosted regional URL."""
    uploaded = skipped = 0
    chosen = (
        sorted(manifest["templates"].items())
        if names is None
        else [(n, manifest["templates"][n]) for n in names]
    )
    for name, entry in chosen:
        path = build_dir / entry["file"]
        if not path.is_file():
            raise StreamstackError(
                f"{path} is missing although build/manifest.json lists {name}: run `make build`"
            )
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise StreamstackError(
                f"{path} does not match build/manifest.json (it changed "
                "after the build): run `make build`"
            )
        key = prefix + entry["key"]
        expected = _expected(entry["sha256"])
        found = stored_checksum(s3_client, bucket, key)
        if found is None:
            found = _put(s3_client, bucket, key, data, expected)
            uploaded += found == "uploaded"
            if found == "uploaded":
                continue
            found = stored_checksum(s3_client, bucket, key)  # someone wrote it meanwhile
        else:
            skipped += 1
        if found != expected:
            _refuse_tampered(bucket, key, found or "none", expected)
    if base_url is None:
        region = s3_client.meta.region_name
        base_url = f"https://{bucket}.s3.{region}.amazonaws.com"
    if prefix:
        base_url = f"{base_url}/{prefix.rstrip('/')}"
    return UploadResult(uploaded, skipped, base_url)


def _put(s3_client, bucket: str, key: str, data: bytes, expected: str) -> str:
    """Create the object; "uploaded", or "exists" when another writer was first."""
    try:
        s3_client.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
            IfNoneMatch="*",
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=expected,
        )
        return "uploaded"
    except ClientError as exc:
        code = error_code(exc)
        if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            return "exists"
        if code == "NoSuchBucket":
            # HEAD answers 404 for a missing bucket as for a missing key; PUT tells them apart.
            raise StreamstackError(
                f"the artifact bucket {bucket} does not exist, although the bootstrap stack "
                "names it: it was deleted outside CloudFormation; nothing was deployed. "
                "Delete the bootstrap stack and run `make bootstrap` again"
            ) from None
        raise


def template_url(base_url: str, manifest: dict, name: str) -> str:
    return f"{base_url}/{manifest['templates'][name]['key']}"


def upload_template(s3_client, bucket: str, base_url: str, text: str) -> str:
    """One template that is not in the build (a refactor's), content-addressed like the
    build's and verified the same way; returns its URL."""
    data = text.encode()
    digest = hashlib.sha256(data).hexdigest()
    key = f"templates/{digest}.json"
    expected = _expected(digest)
    found = stored_checksum(s3_client, bucket, key)
    if found is None and _put(s3_client, bucket, key, data, expected) == "uploaded":
        return f"{base_url}/{key}"
    found = found or stored_checksum(s3_client, bucket, key)
    if found != expected:
        _refuse_tampered(bucket, key, found or "none", expected)
    return f"{base_url}/{key}"
