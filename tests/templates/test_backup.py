"""backup tier: the vault, the plan per environment, the tag selection and what it covers,
copies to the standby region, vault lock and restore tests, in dev, staging and prod."""

import pytest

from templates import TIERS
from templates.parts.backups import BACKED_UP_TYPES, BACKUP_TAG, NO_BACKUP_KEY, RESTORE_TESTED
from tests.cfn import evaluate, statements
from tests.conftest import assert_snapshot

ENVIRONMENTS = ("dev", "staging", "prod")
STANDBY = {
    "StandbyBackupVaultArn": "arn:aws:backup:us-east-1:123456789012:backup-vault:vault-backups-x",
    "StandbyKeyArn": "arn:aws:kms:us-east-1:123456789012:key/0000-1111",
    "StandbyRegion": "us-east-1",
}
# Templates that hold the platform's data: the nested tiers.
DATA_TEMPLATES = [tier.name for tier in TIERS]
# The standby stack with everything it can hold (the secondary, the warm application).
STANDBY_STACK = {"GlobalClusterIdentifier": "aurora-global-x", "StandbyApplication": "enabled"}


def _tier(rendered, env, overrides=None):
    return evaluate(rendered["backup"], env, overrides)


def test_snapshot(rendered_text):
    assert_snapshot("backup", rendered_text["backup"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_vault_encrypted_with_its_own_key_and_kept(rendered, env):
    ev = _tier(rendered, env)
    vault = ev.resources["BackupVault"]
    assert vault["Properties"]["EncryptionKeyArn"] == {"Fn::GetAtt": ["BackupKey", "Arn"]}
    assert ev.props("BackupKey")["EnableKeyRotation"] is True
    kept = "Delete" if env == "dev" else "Retain"
    assert vault["DeletionPolicy"] == vault["UpdateReplacePolicy"] == kept


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_plan_daily_everywhere_weekly_and_monthly_outside_dev(rendered, env):
    ev = _tier(rendered, env)
    rules = {r["RuleName"]: r for r in ev.props("BackupPlan")["BackupPlan"]["BackupPlanRule"]}
    assert set(rules) == ({"daily"} if env == "dev" else {"daily", "weekly", "monthly"})
    params = rendered["backup"]["Parameters"]
    for name, rule in rules.items():
        assert rule["TargetBackupVault"] == {"Ref": "BackupVault"}
        days = rule["Lifecycle"]["DeleteAfterDays"]
        parameter = f"Backup{name.capitalize()}RetentionDays"
        # The retention is a parameter, set per environment by the params file.
        assert days == ev.values[parameter]
        assert params[parameter]["Type"] == "Number"
    if env == "prod":
        assert rules["monthly"]["Lifecycle"]["DeleteAfterDays"] == "365"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_copies_to_the_standby_vault_outside_dev(rendered, env):
    ev = _tier(rendered, env, STANDBY)
    for rule in ev.props("BackupPlan")["BackupPlan"]["BackupPlanRule"]:
        if env == "dev":
            assert "CopyActions" not in rule
            continue
        (copy,) = rule["CopyActions"]
        assert copy["DestinationBackupVaultArn"] == STANDBY["StandbyBackupVaultArn"]
        assert copy["Lifecycle"] == rule["Lifecycle"]
    # Without a standby vault there is nothing to copy to.
    for rule in _tier(rendered, env).props("BackupPlan")["BackupPlan"]["BackupPlanRule"]:
        assert "CopyActions" not in rule


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_vault_lock_in_prod(rendered, env):
    ev = _tier(rendered, env)
    vault = ev.props("BackupVault")
    if env == "dev":
        assert "LockConfiguration" not in vault and "AccessPolicy" not in vault
        return
    lock = vault["LockConfiguration"]
    assert lock["MinRetentionDays"] == ev.values["BackupDailyRetentionDays"]
    assert lock["MaxRetentionDays"] == ev.values["BackupMonthlyRetentionDays"]
    if env == "prod":
        assert ev.values["BackupVaultLock"] == "compliance"
        assert lock["ChangeableForDays"] == "3"
    else:
        assert "ChangeableForDays" not in lock  # governance
    deny = statements(vault["AccessPolicy"])["DenyDeletingRecoveryPoints"]
    assert deny["Effect"] == "Deny"
    assert set(deny["Action"]) == {
        "backup:DeleteRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
    }


def test_no_lock_without_the_parameter(rendered):
    ev = _tier(rendered, "prod", {"BackupVaultLock": "none"})
    assert "LockConfiguration" not in ev.props("BackupVault")


def _selection(ev):
    return ev.props("TaggedResources")["BackupSelection"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_selection_by_tag_over_the_backed_up_types(rendered, env):
    selection = _selection(_tier(rendered, env))
    assert selection["Resources"] == [{"Fn::Sub": p} for p in BACKED_UP_TYPES.values()]
    assert selection["Conditions"] == {
        "StringEquals": [{"ConditionKey": f"aws:ResourceTag/{BACKUP_TAG}", "ConditionValue": env}]
    }
    assert selection["IamRoleArn"] == {"Fn::GetAtt": ["BackupRole", "Arn"]}


def _tag_value(resource):
    props = resource.get("Properties", {})
    tags = props.get("Tags") or props.get("FileSystemTags") or []
    return {t["Key"]: t["Value"] for t in tags}.get(BACKUP_TAG)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_resource_that_holds_data_is_backed_up_or_says_why_not(rendered, env):
    """Derived from the templates: every cluster, table, file system and bucket that exists
    in this environment carries the tag the selection matches, or a written reason in
    its Metadata. A new stateful resource fails here until it is one or the other."""
    covered, excluded = [], []
    for name in [*DATA_TEMPLATES, "standby"]:
        ev = evaluate(rendered[name], env, {**STANDBY, **STANDBY_STACK})
        for logical, resource in ev.resources.items():
            if resource["Type"] not in BACKED_UP_TYPES:
                continue
            reason = rendered[name]["Resources"][logical].get("Metadata", {}).get(NO_BACKUP_KEY)
            value = _tag_value(resource)
            where = f"{name}/{logical}"
            if reason:
                assert value is None, f"{where} is tagged for backup and excluded"
                assert len(reason) >= 15
                excluded.append(where)
                continue
            assert value == {"Fn::Sub": "${Environment}"}, (
                f"{where} ({resource['Type']}) holds data but is neither tagged "
                f"{BACKUP_TAG} (templates/parts/backups.py backup_tags) nor excluded with "
                "a reason (no_backup)"
            )
            covered.append(where)
    assert {"data/DbCluster", "storage/MediaBucket", "storage/FileSystem"} <= set(covered)
    assert ("data/VideosTable" in covered) is True  # the table is on in every environment
    assert "storage/UploadsBucket" in excluded
    # The standby's copies of platform data are covered where they come from.
    assert {"standby/DbCluster", "standby/MediaReplicaBucket"} <= set(excluded)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_restore_tests_outside_dev_for_each_tested_type(rendered, env):
    ev = _tier(rendered, env)
    plan = ev.props("RestoreTestingPlan")
    assert plan["RecoveryPointSelection"]["IncludeVaults"] == [
        {"Fn::GetAtt": ["BackupVault", "BackupVaultArn"]}
    ]
    assert plan["RecoveryPointSelection"]["Algorithm"] == "LATEST_WITHIN_WINDOW"
    selections = ev.of_type("AWS::Backup::RestoreTestingSelection")
    assert {s["Properties"]["ProtectedResourceType"] for s in selections.values()} == set(
        RESTORE_TESTED.values()
    )
    for selection in selections.values():
        props = selection["Properties"]
        assert props["ProtectedResourceConditions"]["StringEquals"] == [
            {"Key": f"aws:ResourceTag/{BACKUP_TAG}", "Value": env}
        ]
        assert props["RestoreTestingPlanName"] == plan["RestoreTestingPlanName"]


def test_no_restore_tests_in_dev(rendered):
    ev = _tier(rendered, "dev")
    assert ev.of_type("AWS::Backup::RestoreTestingPlan") == {}
    assert ev.of_type("AWS::Backup::RestoreTestingSelection") == {}
    assert ev.outputs["RestoreTestingPlanName"]["Value"] == ""


def test_backup_role_is_a_bounded_workload_role_scoped_to_the_account(rendered):
    ev = _tier(rendered, "prod", STANDBY)
    role = ev.props("BackupRole")
    assert role["PermissionsBoundary"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${WorkloadBoundaryPolicy}"
    }
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "backup.amazonaws.com"}
    assert "Condition" not in trust  # AWS Backup assumes only roles it was passed
    (policy,) = role["Policies"]
    st = statements(policy["PolicyDocument"])
    assert st["KeysThroughTheirServices"]["Resource"][-1] == STANDBY["StandbyKeyArn"]
    for sid, statement in st.items():
        if sid == "NoResourceLevelPermissions":
            continue
        assert statement["Resource"] != ["*"], sid


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_observability_alarms_on_failed_jobs(rendered, env):
    ev = evaluate(rendered["observability"], env)
    for logical, metric in (
        ("BackupJobsFailedAlarm", "NumberOfBackupJobsFailed"),
        ("CopyJobsFailedAlarm", "NumberOfCopyJobsFailed"),
        ("RestoreJobsFailedAlarm", "NumberOfRestoreJobsFailed"),
    ):
        alarm = ev.props(logical)
        (query,) = alarm["Metrics"]
        assert metric in query["Expression"]["Fn::Sub"]
        assert query["Period"] == 300
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        # A failed backup warns; it is not part of platform-health (no deploy rolls back).
        assert alarm["AlarmActions"] == [{"Ref": "WarningTopic"}]
    assert (
        "BackupVaultName"
        in ev.props("BackupJobsFailedAlarm")["Metrics"][0]["Expression"]["Fn::Sub"]
    )
