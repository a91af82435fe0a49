"""data tier: Aurora and the application's database user, Redis/Valkey, DynamoDB and app
secrets, in dev, staging and prod."""

import json

import pytest

from tests.cfn import evaluate, statements
from tests.conftest import assert_snapshot


@pytest.fixture(scope="module")
def data(rendered, env):
    return evaluate(rendered["data"], env)


def test_snapshot(rendered_text):
    assert_snapshot("data", rendered_text["data"])


def test_subnet_groups_on_the_data_subnets(data):
    assert data.props("DbSubnetGroup")["SubnetIds"] == "<from:DataSubnetIds>"
    assert data.props("CacheSubnetGroup")["SubnetIds"] == "<from:DataSubnetIds>"


def test_cluster_is_encrypted_with_a_managed_master_secret(data):
    props = data.props("DbCluster")
    assert props["StorageEncrypted"] is True
    assert props["KmsKeyId"] == "<from:DataKeyArn>"
    assert props["ManageMasterUserPassword"] is True
    assert props["MasterUserSecret"] == {"KmsKeyId": "<from:DataKeyArn>"}
    assert "MasterUserPassword" not in props
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["CopyTagsToSnapshot"] is True
    assert props["VpcSecurityGroupIds"] == ["<from:DatabaseSecurityGroupId>"]


def test_no_password_parameter_or_secret_output_anywhere(rendered):
    for name in ("data", "root"):
        template = rendered[name]
        assert not [
            p for p in template["Parameters"] if "password" in p.lower() or "token" in p.lower()
        ]
        for output in template.get("Outputs", {}).values():
            assert "resolve:secretsmanager" not in json.dumps(output)


def test_snapshot_policy_and_protection_outside_dev(data, env):
    cluster = data.resources["DbCluster"]
    expected = "Delete" if env == "dev" else "Snapshot"
    assert cluster["DeletionPolicy"] == cluster["UpdateReplacePolicy"] == expected
    assert cluster["Properties"]["DeletionProtection"] is (env != "dev")
    cache = data.resources["CacheReplicationGroup"]
    assert cache["DeletionPolicy"] == cache["UpdateReplacePolicy"] == expected


def test_writer_and_readers_spread_over_azs(data, env):
    instances = data.of_type("AWS::RDS::DBInstance")
    assert len(instances) == (1 if env == "dev" else 3)
    azs = [i["Properties"]["AvailabilityZone"]["Fn::Select"][0] for i in instances.values()]
    assert sorted(azs) == list(range(len(instances)))
    for instance in instances.values():
        props = instance["Properties"]
        assert props["DBClusterIdentifier"] == {"Ref": "DbCluster"}
        assert props["PubliclyAccessible"] is False
        assert props["MonitoringRoleArn"] == {"Fn::GetAtt": ["DbMonitoringRole", "Arn"]}
        assert props["MonitoringInterval"] == ("60" if env == "dev" else "15")
        assert props["EnablePerformanceInsights"] is True
        assert props["PerformanceInsightsKMSKeyId"] == "<from:DataKeyArn>"
        assert props["DBInstanceClass"] == ("db.serverless" if env == "dev" else "db.r7g.large")


@pytest.mark.parametrize("readers,count", [("0", 1), ("1", 2), ("2", 3)])
def test_reader_count_is_a_parameter(rendered, readers, count):
    data = evaluate(rendered["data"], "prod", {"DatabaseReaders": readers})
    assert len(data.of_type("AWS::RDS::DBInstance")) == count


def test_serverless_scaling_only_for_db_serverless(rendered, data, env):
    props = data.props("DbCluster")
    if env == "dev":
        assert props["ServerlessV2ScalingConfiguration"] == {
            "MinCapacity": "0.5",
            "MaxCapacity": "2",
        }
    else:
        assert "ServerlessV2ScalingConfiguration" not in props


def test_smallest_class_is_medium_and_db_t3_small_is_not_offered(rendered):
    classes = rendered["data"]["Parameters"]["DatabaseInstanceClass"]["AllowedValues"]
    assert "db.t3.small" not in classes
    assert {"db.t3.medium", "db.t4g.medium", "db.serverless"} <= set(classes)
    assert "db.t3.small" in rendered["data"]["Parameters"]["DatabaseInstanceClass"]["Description"]


@pytest.mark.parametrize(
    "engine,port,family,logs",
    [
        ("aurora-postgresql", 5432, "aurora-postgresql16", ["postgresql"]),
        ("aurora-mysql", 3306, "aurora-mysql8.0", ["error", "slowquery"]),
    ],
)
def test_engine_family_port_logs_and_parameter_groups(rendered, engine, port, family, logs):
    data = evaluate(rendered["data"], "prod", {"DatabaseEngine": engine})
    cluster = data.props("DbCluster")
    assert cluster["Engine"] == engine and cluster["Port"] == port
    assert cluster["EnableCloudwatchLogsExports"] == logs
    assert cluster["EngineVersion"] == ("16.6" if port == 5432 else "8.0.mysql_aurora.3.08.0")
    cluster_params = data.props("DbClusterParameterGroup")
    instance_params = data.props("DbInstanceParameterGroup")
    assert cluster_params["Family"] == instance_params["Family"] == family
    if port == 5432:
        assert cluster_params["Parameters"]["shared_preload_libraries"] == "pg_stat_statements"
        assert cluster_params["Parameters"]["log_min_duration_statement"] == "1000"
        assert instance_params["Parameters"]["log_min_duration_statement"] == "1000"
    else:
        assert cluster_params["Parameters"]["slow_query_log"] == "1"
        assert instance_params["Parameters"] == {"slow_query_log": "1", "long_query_time": "1"}


def test_mysql_on_db_t3_runs_without_performance_insights(rendered):
    data = evaluate(
        rendered["data"],
        "prod",
        {"DatabaseEngine": "aurora-mysql", "DatabaseInstanceClass": "db.t3.medium"},
    )
    props = data.props("DbInstance1")
    assert props["EnablePerformanceInsights"] is False
    assert "PerformanceInsightsKMSKeyId" not in props


def test_backups_and_windows(data, env):
    props = data.props("DbCluster")
    assert props["BackupRetentionPeriod"] == ("1" if env == "dev" else "30")
    assert props["PreferredBackupWindow"] == "03:00-04:00"
    assert props["PreferredMaintenanceWindow"] == "sun:04:30-sun:05:30"
    assert rendered_default(data, "DatabaseBackupRetentionDays") == 7


def rendered_default(evaluated, name):
    return evaluated.raw["Parameters"][name]["Default"]


def test_cache_replicas_failover_and_encryption(data, env):
    props = data.props("CacheReplicationGroup")
    assert props["NumCacheClusters"] == (1 if env == "dev" else 3)
    assert props["AutomaticFailoverEnabled"] is (env != "dev")
    assert props["MultiAZEnabled"] is (env != "dev")
    assert props["AtRestEncryptionEnabled"] is True
    assert props["KmsKeyId"] == "<from:DataKeyArn>"
    assert props["TransitEncryptionEnabled"] is True
    assert props["AuthToken"] == {"Fn::Sub": "{{resolve:secretsmanager:${RedisAuthSecret}}}"}
    assert props["SecurityGroupIds"] == ["<from:CacheSecurityGroupId>"]
    assert props["SnapshotRetentionLimit"] == ("1" if env == "dev" else "7")
    assert props["CacheNodeType"] == ("cache.t4g.micro" if env == "dev" else "cache.r7g.large")
    secret = data.props("RedisAuthSecret")
    assert secret["KmsKeyId"] == "<from:DataKeyArn>"
    assert secret["GenerateSecretString"]["ExcludePunctuation"] is True


def test_one_cache_replica(rendered):
    props = evaluate(rendered["data"], "prod", {"CacheReplicas": "1"}).props(
        "CacheReplicationGroup"
    )
    assert props["NumCacheClusters"] == 2 and props["MultiAZEnabled"] is True


@pytest.mark.parametrize("engine,family", [("redis", "redis7"), ("valkey", "valkey8")])
def test_cache_parameter_group(rendered, engine, family):
    data = evaluate(rendered["data"], "prod", {"CacheEngine": engine})
    group = data.props("CacheParameterGroup")
    assert group["CacheParameterGroupFamily"] == family
    assert group["Properties"] == {
        "maxmemory-policy": "allkeys-lru",
        "timeout": "300",
        "tcp-keepalive": "300",
    }
    assert data.props("CacheReplicationGroup")["Engine"] == engine


def test_cache_logs_to_encrypted_log_groups(data, env):
    deliveries = data.props("CacheReplicationGroup")["LogDeliveryConfigurations"]
    assert {
        d["LogType"]: d["DestinationDetails"]["CloudWatchLogsDetails"]["LogGroup"]["Ref"]
        for d in deliveries
    } == {"slow-log": "CacheSlowLogGroup", "engine-log": "CacheEngineLogGroup"}
    for group in ("CacheSlowLogGroup", "CacheEngineLogGroup"):
        props = data.props(group)
        assert props["KmsKeyId"] == "<from:StorageKeyArn>"
        assert props["RetentionInDays"] == ("1" if env == "dev" else "90")


def test_videos_table(data, env):
    table = data.resources["VideosTable"]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": "<from:DataKeyArn>",
    }
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["KeySchema"][0] == {"AttributeName": "owner_id", "KeyType": "HASH"}
    assert props["DeletionProtectionEnabled"] is (env != "dev")
    assert table["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")


def test_videos_table_toggle(rendered):
    data = evaluate(rendered["data"], "prod", {"VideoMetadataTable": "disabled"})
    assert "VideosTable" not in data.resources
    assert data.outputs["VideosTableName"]["Value"] == ""
    assert data.outputs["VideosTableArn"]["Value"] == ""


def test_app_secret_generates_both_keys_encrypted(data):
    props = data.props("AppSecret")
    assert props["KmsKeyId"] == "<from:DataKeyArn>"
    generated = props["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "SECRET_KEY"
    template = generated["SecretStringTemplate"]["Fn::Sub"]
    assert json.loads(template.replace("{{", "").replace("}}", "x"))  # valid JSON shape
    assert '"JWT_SECRET":"{{resolve:secretsmanager:${JwtSigningSecret}}}"' in template
    assert data.props("JwtSigningSecret")["KmsKeyId"] == "<from:DataKeyArn>"
    # The seed is read once; why it is not rotated sits next to it.
    reason = data.resources["JwtSigningSecret"]["Metadata"]["streamstack:NotRotated"]
    assert "one value per secret" in reason and "rotation" in reason


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize("engine", ["aurora-postgresql", "aurora-mysql"])
def test_the_application_gets_its_own_database_user(rendered, env, engine):
    """A function creates the user through the Data API with the master secret, which
    only it reads; the user signs in with IAM database authentication."""
    data = evaluate(rendered["data"], env, {"DatabaseEngine": engine})
    cluster = data.props("DbCluster")
    assert cluster["EnableIAMDatabaseAuthentication"] is True
    assert cluster["EnableHttpEndpoint"] is True
    user = data.resources["AppDatabaseUser"]
    assert user["Type"] == "AWS::CloudFormation::CustomResource"
    assert user["DependsOn"] == ["DbInstance1"]
    props = user["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["DatabaseUserFunction", "Arn"]}
    assert props["Username"] == "app" and props["Engine"] == engine
    assert props["SecretArn"] == {"Fn::GetAtt": ["DbCluster", "MasterUserSecret.SecretArn"]}
    (policy,) = data.props("DatabaseUserFunctionRole")["Policies"]
    st = statements(policy["PolicyDocument"])
    assert st["RunStatements"]["Action"] == ["rds-data:ExecuteStatement"]
    assert st["RunStatements"]["Resource"] == [{"Fn::GetAtt": ["DbCluster", "DBClusterArn"]}]
    assert st["MasterSecret"]["Resource"] == [props["SecretArn"]]
    assert data.outputs["DbAppUsername"]["Value"] == "app"
    assert data.outputs["DbClusterResourceId"]["Value"] == {
        "Fn::GetAtt": ["DbCluster", "DBClusterResourceId"]
    }


def test_the_user_setup_is_a_real_option_the_local_profile_turns_off(rendered):
    data = evaluate(rendered["data"], "dev", {"DatabaseUserSetup": "disabled"})
    assert data.props("DbCluster")["EnableHttpEndpoint"] is False
    assert not {"AppDatabaseUser", "DatabaseUserFunction", "DatabaseUserFunctionRole"} & set(
        data.resources
    )


def test_contract_outputs(rendered):
    outputs = set(rendered["data"]["Outputs"])
    assert {
        "DbClusterIdentifier",
        "DbClusterArn",
        "DbEndpoint",
        "DbReaderEndpoint",
        "DbPort",
        "DbMasterSecretArn",
        "RedisReplicationGroupId",
        "RedisEndpoint",
        "RedisReaderEndpoint",
        "RedisPort",
        "RedisAuthSecretArn",
        "VideosTableName",
        "VideosTableArn",
        "AppSecretArn",
    } <= outputs
