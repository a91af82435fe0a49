"""Create the application's database user, which signs in with IAM database
authentication (no password exists), through the RDS Data API with the master secret.

A CloudFormation custom resource: Create and Update run the statements, which are
idempotent; Delete keeps the user (it goes with the database). PostgreSQL: a login role
granted rds_iam that may connect to the database and create in its public schema.
MySQL: a user of AWSAuthenticationPlugin that must use TLS, with every privilege on the
database and none elsewhere.
"""
import json
import re
import urllib.request

import boto3

USER = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
DATABASE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,62}$")
_client = None


def client():
    global _client
    if _client is None:
        _client = boto3.client("rds-data")
    return _client


def statements(engine, user, database):
    if not USER.match(user) or not DATABASE.match(database):
        raise ValueError(f"{user!r} or {database!r} is not a plain SQL name")
    if engine == "aurora-mysql":
        return [f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED WITH "
                "AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
                f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%'"]
    if engine == "aurora-postgresql":
        return [f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') "
                f'THEN CREATE ROLE "{user}" LOGIN; END IF; END$$',
                f'GRANT rds_iam TO "{user}"',
                f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO "{user}"',
                f'GRANT USAGE, CREATE ON SCHEMA public TO "{user}"']
    raise ValueError(f"unknown engine {engine!r}")


def handler(event, context):
    props = event["ResourceProperties"]
    status, reason = "SUCCESS", ""
    try:
        if event["RequestType"] in ("Create", "Update"):
            for sql in statements(props["Engine"], props["Username"], props["Database"]):
                client().execute_statement(resourceArn=props["ClusterArn"],
                                           secretArn=props["SecretArn"],
                                           database=props["Database"], sql=sql)
    except Exception as exc:  # CloudFormation needs an answer whatever happened
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"[:900]
    respond(event, status, reason or f"see log stream {context.log_stream_name}",
            f"dbuser-{props.get('Username', 'unknown')}")


def respond(event, status, reason, physical_id):
    body = json.dumps({
        "Status": status, "Reason": reason,
        "PhysicalResourceId": event.get("PhysicalResourceId") or physical_id,
        "StackId": event["StackId"], "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"]}).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": ""})
    with urllib.request.urlopen(request, timeout=30):
        pass
