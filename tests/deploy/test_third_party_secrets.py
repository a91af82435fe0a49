"""Third-party secrets: the params file's `secrets:` section is validated line by line,
and at plan time becomes the compute tier's slot parameters: a name keeps its slot, and
a secret is injected only once it has a value (Stubber, validated against the Secrets
Manager model)."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from streamstack import PARAMS_DIR
from streamstack.deploy import third_party_secrets
from streamstack.errors import ParamsError, StreamstackError
from streamstack.params import load
from templates.base import DEPLOY_TIME_KEY
from tests.deploy.conftest import make_context, write_params

GOOD = yaml.safe_load((PARAMS_DIR / "dev.yaml").read_text())
ACCOUNT = "123456789012"
VERSION = "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1"  # Secrets Manager version ids: 32-64
SECRET_ARN = f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:third-party/prod/%s-AbCdEf"


@pytest.fixture(scope="module")
def root_spec(rendered):
    root = rendered["root"]
    return root["Parameters"], set(root["Metadata"][DEPLOY_TIME_KEY])


def rejected(tmp_path, root_spec, secrets, **extra) -> list[str]:
    data = {**GOOD, "secrets": secrets, **extra}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    params, deploy_time = root_spec
    with pytest.raises(ParamsError) as err:
        load("dev", params_dir=tmp_path, template_parameters=params, deploy_time=deploy_time)
    return err.value.lines


@pytest.mark.parametrize(
    "secrets,key,message",
    [
        (["PAYMENT_API_KEY"], "secrets", "must be a mapping of VARIABLE_NAME: [services]"),
        ({"payment-key": ["Api"]}, "secrets.payment-key", "is not a container variable name"),
        ({"DB_USER": ["Api"]}, "secrets.DB_USER", "a variable the platform sets itself"),
        ({"AWS_REGION": ["Api"]}, "secrets.AWS_REGION", "a variable the platform sets itself"),
        ({"SMTP": []}, "secrets.SMTP", "must list the services that read it"),
        ({"SMTP": "Worker"}, "secrets.SMTP", "must list the services that read it"),
        ({"SMTP": ["Mailer"]}, "secrets.SMTP", "'Mailer' is not a service; use Api, Web"),
        ({"SMTP": ["Api", "Api"]}, "secrets.SMTP", "names a service twice"),
        ({f"KEY_{n}": ["Api"] for n in range(6)}, "secrets", "the platform has 5 slots"),
    ],
)
def test_a_bad_secrets_section_is_one_line_naming_the_key(
    tmp_path, root_spec, secrets, key, message
):
    lines = rejected(tmp_path, root_spec, secrets)
    assert len(lines) == 1
    assert lines[0].startswith(f"{tmp_path}/dev.yaml: {key}: "), lines[0]
    assert message in lines[0]


def test_the_slot_parameters_are_deploy_time_and_never_in_a_params_file(tmp_path, root_spec):
    data = {**GOOD, "parameters": {**GOOD["parameters"], "ThirdPartySecret1Name": "X_KEY"}}
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(data))
    params, deploy_time = root_spec
    assert "ThirdPartySecret1Name" in deploy_time and "ThirdPartySecret5ForWeb" in deploy_time
    with pytest.raises(ParamsError, match="parameters.ThirdPartySecret1Name"):
        load("dev", params_dir=tmp_path, template_parameters=params, deploy_time=deploy_time)


def test_the_params_files_declare_the_payment_and_mail_secrets(root_spec):
    params, deploy_time = root_spec
    for env in ("dev", "staging", "prod"):
        loaded = load(env, template_parameters=params, deploy_time=deploy_time)
        assert loaded.sections["secrets"] == {
            "PAYMENT_API_KEY": ("Api", "Worker"),
            "SMTP_CREDENTIALS": ("Worker",),
        }


# -- at plan time ------------------------------------------------------------------------
PROD = textwrap.dedent(
    f"""\
    stack_name: streamstack-prod
    region: us-west-2
    account_id: "{ACCOUNT}"
    parameters: {{Environment: prod}}
    secrets:
      SMTP_CREDENTIALS: [Worker]
      PAYMENT_API_KEY: [Api, Worker]
      PARTNER_API_KEY: [Web]
    """
)


def deployed(**slots) -> dict:
    """A root stack whose slots hold these names (slot number -> name)."""
    return {
        "Parameters": [
            {"ParameterKey": f"ThirdPartySecret{slot[-1]}Name", "ParameterValue": name}
            for slot, name in slots.items()
        ]
    }


def describe(stub, name, stages=None, deleted=False):
    secret_id = f"third-party/prod/{name}"
    if stages is None:
        stub.add_client_error(
            "describe_secret",
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
            400,
            expected_params={"SecretId": secret_id},
        )
        return
    response = {"ARN": SECRET_ARN % name, "Name": secret_id, "VersionIdsToStages": stages}
    if deleted:
        import datetime as dt

        response["DeletedDate"] = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    stub.add_response("describe_secret", response, {"SecretId": secret_id})


@pytest.fixture
def prod(built, tmp_path):
    write_params(tmp_path / "params", "prod", PROD)
    ctx, stubs = make_context(built, tmp_path / "params")
    yield ctx, stubs["secretsmanager"]
    stubs["secretsmanager"].assert_no_pending_responses()


def test_names_keep_their_slots_and_only_secrets_with_a_value_are_injected(prod):
    ctx, stub = prod
    # PAYMENT_API_KEY was given slot 2 by an earlier deploy, which it keeps; the others
    # take the free slots in the order the file declares them.
    describe(stub, "SMTP_CREDENTIALS")  # not created yet
    describe(stub, "PAYMENT_API_KEY", {VERSION: ["AWSCURRENT"]})
    describe(stub, "PARTNER_API_KEY")
    values = third_party_secrets.resolve(ctx, deployed(slot2="PAYMENT_API_KEY"))
    assert values["ThirdPartySecret1Name"] == "SMTP_CREDENTIALS"
    assert values["ThirdPartySecret2Name"] == "PAYMENT_API_KEY"
    assert values["ThirdPartySecret3Name"] == "PARTNER_API_KEY"
    assert values["ThirdPartySecret4Name"] == values["ThirdPartySecret5Name"] == ""
    enabled = sorted(k for k, v in values.items() if v == "enabled")
    assert enabled == ["ThirdPartySecret2ForApi", "ThirdPartySecret2ForWorker"]
    assert len(values) == 5 * 5
    text = ctx.out.text
    assert "secret PAYMENT_API_KEY: injected into Api, Worker" in text
    assert (
        "secret SMTP_CREDENTIALS: created empty by this deploy; Worker get it once it has one: "
        "aws secretsmanager put-secret-value --secret-id third-party/prod/SMTP_CREDENTIALS "
        "--secret-string file://<value file>, then `make deploy ENV=prod` again"
    ) in text


def test_a_secret_without_a_current_version_waits_and_a_removed_one_is_announced(prod):
    ctx, stub = prod
    describe(stub, "SMTP_CREDENTIALS", {VERSION: ["AWSPENDING"]})
    describe(stub, "PAYMENT_API_KEY", {VERSION: ["AWSCURRENT"]})
    describe(stub, "PARTNER_API_KEY", {})
    values = third_party_secrets.resolve(
        ctx,
        deployed(
            slot1="SMTP_CREDENTIALS", slot2="PAYMENT_API_KEY", slot3="PARTNER_API_KEY", slot4="OLD"
        ),
    )
    assert values["ThirdPartySecret1ForWorker"] == "disabled"
    assert values["ThirdPartySecret3ForWeb"] == "disabled"
    assert values["ThirdPartySecret4Name"] == ""
    assert "secret SMTP_CREDENTIALS: has no value yet; Worker get it" in ctx.out.text
    assert "secret OLD: no longer declared; this deploy removes it" in ctx.out.text


@pytest.mark.parametrize("deleted", [False, True])
def test_a_secret_of_that_name_the_stack_does_not_manage_is_refused_with_the_fix(prod, deleted):
    ctx, stub = prod
    describe(stub, "SMTP_CREDENTIALS", {VERSION: ["AWSCURRENT"]}, deleted=deleted)
    with pytest.raises(StreamstackError) as err:
        third_party_secrets.resolve(ctx, None)
    message = str(err.value)
    assert message.startswith(
        "secrets.SMTP_CREDENTIALS: the secret third-party/prod/SMTP_CREDENTIALS exists but "
        "this stack does not manage it"
    )
    assert ("scheduled for deletion" if deleted else "left by an earlier deploy") in message
    assert "--force-delete-without-recovery) or rename the variable" in message
    assert "\n" not in message


def test_no_declared_secrets_asks_secrets_manager_nothing(built, tmp_path):
    write_params(tmp_path / "params", "prod", PROD.split("secrets:")[0])
    ctx, stubs = make_context(built, tmp_path / "params")
    values = third_party_secrets.resolve(ctx, deployed(slot1="GONE"))
    assert set(values.values()) == {"", "disabled"}
    assert "secret GONE: no longer declared" in ctx.out.text
