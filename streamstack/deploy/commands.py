"""The commands of an environment that is one stack tree (no `stackset:` section):
bootstrap, edge, deploy (plan), execute, status, doctor, destroy.

Each takes the Context and returns an exit code; failures raise StreamstackError
subclasses whose exit codes are listed in exits.py. AWS errors are turned into one
error line by the dispatcher (cli.dispatch), for these and the StackSet commands alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import subprocess

from botocore.exceptions import ClientError

from streamstack import ROOT
from streamstack.deploy import (
    artifacts,
    aws,
    bootstrap_stack,
    changeset,
    events,
    exits,
    history,
    local,
    local_report,
    plans,
    report,
    revert,
    review,
    safety,
    stacks,
    standby_stack,
    stuck,
    third_party_secrets,
    timeline,
    validation,
)
from streamstack.deploy.exits import Blocked, Interrupted, Invalid, OperationFailed, Refused
from streamstack.deploy.secrets import Secrets
from streamstack.errors import StreamstackError

SUCCESS = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE")
EDGE_REGION = "us-east-1"
# The edge stack's output the distribution takes its WAF web ACL from.
WEB_ACL = "CdnWebAclArn"


# -- shared steps ------------------------------------------------------------------------
def connect(ctx, need_bootstrap: bool = True):
    """Account check, then the CloudFormation client (and the bootstrap, when needed)."""
    aws.check_account(ctx.params, ctx.client("sts"))
    cfn = ctx.client("cloudformation")
    boot = bootstrap_stack.lookup(cfn, ctx.params) if need_bootstrap else None
    if boot:
        ctx.execution_role_arn = boot.execution_role_arn
    return cfn, boot


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def fingerprint(cfn, stack: dict | None) -> dict:
    """What `execute` compares with the plan: the stack's last update and the hashes of
    the templates its deployed root points to."""
    if stack is None:
        return {"stack_last_updated": None, "deployed_templates": []}
    last = stack.get("LastUpdatedTime") or stack.get("CreationTime")
    deployed: list[str] = []
    if stack["StackStatus"] != "REVIEW_IN_PROGRESS":
        body = cfn.get_template(StackName=stack["StackId"], TemplateStage="Original")[
            "TemplateBody"
        ]
        text = body if isinstance(body, str) else json.dumps(body, sort_keys=True)
        deployed = sorted(set(re.findall(r"[0-9a-f]{64}", text)))
        deployed.append("root:" + hashlib.sha256(text.encode()).hexdigest())
    return {
        "stack_last_updated": last.isoformat() if last else None,
        "deployed_templates": deployed,
    }


def resolve_deploy_time(ctx, boot) -> dict[str, str]:
    """Values of the root's deploy-time parameters: bootstrap outputs, edge-stack outputs
    (us-east-1), the CloudFront origin-facing prefix list. A parameter with a template
    default may stay unresolved (the default applies); any other is an error."""
    root = ctx.manifest["templates"]["root"]
    declared = json.loads((ctx.build_dir / root["file"]).read_text())["Parameters"]
    values: dict[str, str] = {}
    edge = None
    standby = None
    for name in root["deploy_time_parameters"]:
        if third_party_secrets.handles(name):
            continue  # third_party_secrets.resolve, which needs the deployed stack
        if name == "ArtifactBaseUrl":
            values[name] = boot.base_url
        elif name in standby_stack.ROOT_NAMES:
            if standby is None:
                standby = standby_stack.root_values(ctx)
            values[name] = standby[name]
        elif name in boot.outputs:
            values[name] = boot.outputs[name]
        elif name == "CloudFrontPrefixListId":
            found = aws.cloudfront_prefix_list_id(ctx.client("ec2"))
            if found:
                values[name] = found
        else:
            if edge is None:
                stack = stacks.describe(
                    ctx.client("cloudformation", EDGE_REGION), edge_stack_name(ctx.params)
                )
                edge = stacks.outputs(stack) if stack else {}
                if stack is None:
                    ctx.out(
                        f"no edge stack {edge_stack_name(ctx.params)} in {EDGE_REGION}: "
                        f"`make edge ENV={ctx.env}` gives CloudFront its WAF and "
                        "certificate"
                    )
            if name in edge:
                values[name] = edge[name]
        if name not in values:
            if "Default" not in declared.get(name, {}):
                raise StreamstackError(
                    f"deploy-time parameter {name} has no value: no bootstrap "
                    f"or edge-stack output of that name; deploy the stack "
                    "that provides it first"
                )
            ctx.out(f"deploy-time {name}: not found, the template default applies")
    return values


def root_parameter_names(ctx) -> set[str]:
    root = ctx.manifest["templates"]["root"]
    return set(json.loads((ctx.build_dir / root["file"]).read_text())["Parameters"])


def execute_change_set(
    ctx,
    cfn,
    stack_id: str,
    change_set_id: str,
    total: int,
    nested: list | None = None,
    seen: list | None = None,
) -> dict:
    """Execute and stream the tree's events; raises OperationFailed with the root cause.
    RetainExceptOnCreate: when the operation rolls back, what it created goes again,
    even with DeletionPolicy Retain, so a failed first create leaves nothing behind to
    collide with the retry. seen: collects the operation's events (for the timeline)."""
    tree = events.TreeEvents.primed(cfn, stack_id, nested or [])
    cfn.execute_change_set(ChangeSetName=change_set_id, RetainExceptOnCreate=True)
    try:
        return follow(ctx, cfn, tree, total)
    finally:
        if seen is not None:
            seen.extend(tree.events)


def follow(ctx, cfn, tree, total: int) -> dict:
    try:
        final, seen = events.follow(cfn, tree, total, ctx.out, ctx.poll_seconds, ctx.sleep)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: the CloudFormation operation keeps running. Follow it with "
            f"`make status ENV={ctx.env}` or in the console: "
            f"{aws.console_url(ctx.params.region, tree.root_id)}"
        ) from None
    status = final["StackStatus"]
    cause = events.root_cause(
        [e for e in seen if e["ResourceStatus"] != "DELETE_FAILED" or status not in SUCCESS]
    )
    if status not in SUCCESS or cause is not None:
        detail = (
            events.explain(cfn, cause, lambda stack: where_to_look(ctx, stack))
            if cause
            else (
                final.get("StackStatusReason")
                or f"no failed event found; {where_to_look(ctx, tree.root_id)}"
            )
        )
        raise OperationFailed(
            f"{final.get('StackName', tree.root_id)} ended {status}; first root cause: {detail}"
        )
    return final


def where_to_look(ctx, stack_id: str) -> str:
    """Where the reason of a failure is when no event gives it."""
    if aws.is_local():
        return f"LocalStack's log has the reason: {local.LOG_FILE}"
    return f"see the stack's events in the console: {aws.console_url(ctx.params.region, stack_id)}"


# -- stand-alone stacks: bootstrap and edge ---------------------------------------------------
def bootstrap(ctx) -> int:
    """The bootstrap stack (inline: it creates the bucket), then the deploy-role stack
    from that bucket (its derived policy is too large to pass inline)."""
    aws.check_account(ctx.params, ctx.client("sts"))
    text = _built(ctx, bootstrap_stack.TEMPLATE)
    values = bootstrap_stack.parameters(ctx.params, json.loads(text))
    region = ctx.params.region
    code = deploy_standalone(
        ctx, bootstrap_stack.stack_name(ctx.params), text, values, region, "bootstrap"
    )
    if code:
        return code
    cfn = ctx.client("cloudformation")
    outputs = stacks.outputs(stacks.describe(cfn, bootstrap_stack.stack_name(ctx.params)) or {})
    if not outputs.get("ArtifactBucketName"):
        raise StreamstackError(
            f"the bootstrap stack {bootstrap_stack.stack_name(ctx.params)} has no "
            "artifact bucket (DirectDeploys is disabled there): it is a "
            "StackSet target, deployed by its stack set"
        )
    role_text = _built(ctx, bootstrap_stack.ROLE_TEMPLATE)
    upload = artifacts.upload_templates(
        ctx.client("s3"),
        outputs["ArtifactBucketName"],
        ctx.manifest,
        ctx.build_dir,
        outputs["ArtifactBaseUrl"],
        names=[bootstrap_stack.ROLE_TEMPLATE],
    )
    return deploy_standalone(
        ctx,
        bootstrap_stack.role_stack_name(ctx.params),
        role_text,
        bootstrap_stack.role_parameters(ctx.params, json.loads(role_text), outputs),
        region,
        "deploy role",
        template_url=artifacts.template_url(
            upload.base_url, ctx.manifest, bootstrap_stack.ROLE_TEMPLATE
        ),
    )


def _built(ctx, name: str) -> str:
    entry = ctx.manifest["templates"].get(name)
    if entry is None:
        raise StreamstackError(f"build/manifest.json has no {name} template: run `make build`")
    return (ctx.build_dir / entry["file"]).read_text()


def edge(ctx) -> int:
    """The edge stack (CloudFront's WAF web ACL and certificate) in us-east-1. Run before
    the root's plan, which passes its outputs on (resolve_deploy_time)."""
    if "edge" not in ctx.manifest["templates"]:
        raise StreamstackError(
            "this build has no edge template (templates/edge.py): nothing to deploy to us-east-1"
        )
    aws.check_account(ctx.params, ctx.client("sts"))
    text = (ctx.build_dir / ctx.manifest["templates"]["edge"]["file"]).read_text()
    declared = json.loads(text).get("Parameters", {})
    values = {k: v for k, v in ctx.params.parameters.items() if k in declared}
    values.update(ctx.settings.edge_parameters)  # validated against edge.json at load
    root = stacks.describe(ctx.client("cloudformation"), ctx.params.stack_name)
    root_outputs = stacks.outputs(root) if root else {}
    if "HostedZoneId" in declared:
        values["HostedZoneId"] = root_outputs.get("HostedZoneId") or ctx.params.parameters.get(
            "ExistingHostedZoneId", ""
        )
    # CloudFront's metrics exist only in us-east-1: the edge stack alarms on them unless
    # the root runs there (its observability tier has the alarm then).
    if "DistributionId" in declared and ctx.params.region != EDGE_REGION:
        values["DistributionId"] = root_outputs.get("DistributionId", "")
        if not values["DistributionId"]:
            ctx.out(
                f"the root stack has no DistributionId yet: run `make edge ENV={ctx.env}` "
                "again after its first deploy to add the CloudFront 5xx alarm"
            )
    return deploy_standalone(ctx, edge_stack_name(ctx.params), text, values, EDGE_REGION, "edge")


def edge_stack_name(params) -> str:
    return f"{params.stack_name}-edge"


def standby(ctx) -> int:
    """The standby stack in the standby region (params standby:). Run before the root's
    first plan (it needs the replicas, vault and key) and again after it (the secondary
    cluster, the replicated secrets and the failover record need the root's outputs)."""
    settings = standby_stack.required(ctx)
    if standby_stack.TEMPLATE not in ctx.manifest["templates"]:
        raise StreamstackError(
            "this build has no standby template (templates/standby.py): run `make build`"
        )
    cfn, boot = connect(ctx)
    text = _built(ctx, standby_stack.TEMPLATE)
    declared = json.loads(text).get("Parameters", {})
    values = standby_stack.values(ctx, declared, boot.outputs)
    # Too large to pass inline: from the artifact bucket, verified like the tiers.
    upload = artifacts.upload_templates(
        ctx.client("s3"),
        boot.bucket,
        ctx.manifest,
        ctx.build_dir,
        boot.base_url,
        names=[standby_stack.TEMPLATE],
    )
    return deploy_standalone(
        ctx,
        standby_stack.stack_name(ctx.params),
        text,
        values,
        settings.region,
        "standby",
        template_url=artifacts.template_url(upload.base_url, ctx.manifest, standby_stack.TEMPLATE),
    )


def deploy_standalone(
    ctx,
    name: str,
    text: str,
    values: dict[str, str],
    region: str,
    what: str,
    template_url: str | None = None,
) -> int:
    """Create or update a stand-alone stack through a change set, with the template inline
    (bootstrap creates the artifact bucket; edge lives in another region) or from the
    artifact bucket (template_url, verified by upload_templates). It runs with the
    caller's credentials: the execution role deploys the platform, not its own stacks."""
    cfn = ctx.client("cloudformation", region)
    stack = stuck.settle(ctx, cfn, stacks.describe(cfn, name))
    kind = "CREATE" if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS" else "UPDATE"
    created = changeset.create(
        cfn,
        stack_name=name,
        name=changeset.new_name(),
        change_set_type=kind,
        parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())],
        tags=ctx.params.tags,
        nested=False,
        template_url=template_url,
        template_body=None if template_url else bootstrap_stack.template_body(text),
        description=f"streamstack {what} {ctx.env} commit {git_commit()[:12]}",
    )
    desc = changeset.wait(cfn, created["Id"], ctx.poll_seconds, ctx.sleep)
    if changeset.is_empty(desc):
        cfn.delete_change_set(ChangeSetName=created["Id"])
        ctx.out(f"{what} {name}: no changes")
        return 0
    _refuse_failed(ctx, desc)
    secrets = Secrets({"root": json.loads(text)}, values)
    rows = plans.make_rows(changeset.walk(cfn, created["Id"]), None, secrets, region)
    for line in report.render_text(rows):
        ctx.out(line)
    if plans.blocking(rows) and not ctx.flag("allow_data_loss"):
        raise Blocked(
            f"the {what} change would replace or remove stateful resources "
            f"({plans.blocked_summary(rows)}); the "
            f"change set {created['Id']} is kept for review; rerun with "
            "--allow-data-loss only if that data may go"
        )
    if (
        kind == "UPDATE"
        and ctx.settings.protected
        and not ctx.confirm(f"Execute this change to {name}")
    ):
        raise Refused(
            f"{ctx.env} is protected: review the change set above, then rerun "
            f"`make {what} ENV={ctx.env} YES=1` to execute it"
        )
    final = execute_change_set(ctx, cfn, created["StackId"], created["Id"], len(rows))
    if ctx.settings.protected:
        cfn.update_termination_protection(
            EnableTerminationProtection=True, StackName=created["StackId"]
        )
    ctx.out(f"{what} {name} ({region}): {final['StackStatus']}")
    for key, value in sorted(stacks.outputs(final).items()):
        ctx.out(f"  {key} = {value}")
    return 0


def _refuse_failed(ctx, desc: dict) -> None:
    if desc["Status"] == "FAILED":
        reason = (
            desc.get("StatusReason") or f"no reason given; {where_to_look(ctx, desc['StackId'])}"
        )
        raise StreamstackError(f"the change set {desc['ChangeSetName']} failed: {reason}")


# -- deploy (plan) -------------------------------------------------------------------------
def plan(ctx) -> int:
    cfn, boot = connect(ctx)
    params = ctx.params
    stack = stuck.settle(ctx, cfn, stacks.describe(cfn, params.stack_name))
    if ctx.flag("revert_drift"):
        return plan_revert(ctx, cfn, boot, stack)
    pull_request = bool(ctx.flag("pull_request"))
    prefix = artifacts.PULL_REQUEST_PREFIX if pull_request else ""
    upload = artifacts.upload_templates(
        ctx.client("s3"), boot.bucket, ctx.manifest, ctx.build_dir, boot.base_url, prefix=prefix
    )
    ctx.out(
        f"artifacts: uploaded {upload.uploaded}, already present and verified "
        f"{upload.skipped} (s3://{boot.bucket}/{prefix})"
    )
    values = resolve_deploy_time(ctx, boot)
    values.update(third_party_secrets.resolve(ctx, stack))
    # Before any change set: a protected environment's CloudFront needs its WAF.
    if WEB_ACL in root_parameter_names(ctx):
        safety.require_web_acl(
            ctx.env,
            ctx.settings.protected,
            [] if values.get(WEB_ACL) else [f"no {WEB_ACL} from {edge_stack_name(params)}"],
            f"run `make edge ENV={ctx.env}` (the web ACL, in {EDGE_REGION}), then "
            f"`make deploy ENV={ctx.env}` again",
        )
    values["ArtifactBaseUrl"] = upload.base_url
    kind = "CREATE" if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS" else "UPDATE"
    rollback = safety.rollback_configuration(
        ctx.client("cloudwatch"),
        ctx.settings.rollback_alarm or f"alarm-platform-health-{ctx.env}",
        ctx.settings.rollback_minutes,
    )
    root = ctx.manifest["templates"]["root"]
    commit = git_commit()
    name = changeset.new_name(
        prefix=changeset.PULL_REQUEST_PREFIX if pull_request else changeset.PREFIX
    )
    created = changeset.create(
        cfn,
        stack_name=params.stack_name,
        name=name,
        change_set_type=kind,
        template_url=artifacts.template_url(upload.base_url, ctx.manifest, "root"),
        parameters=params.cfn_parameters(values),
        tags=params.tags,
        description=f"streamstack {ctx.env} commit {commit[:12]} build {root['sha256'][:12]}",
        role_arn=boot.execution_role_arn,
        rollback=rollback,
    )
    desc = changeset.wait(cfn, created["Id"], ctx.poll_seconds, ctx.sleep)
    if changeset.is_empty(desc):
        cfn.delete_change_set(ChangeSetName=created["Id"])
        plans.discard(ctx.plans, ctx.env)
        ctx.out(
            f"no changes: {params.stack_name} already matches this build and these "
            "parameters (the empty change set was deleted)"
        )
        return 0
    _refuse_failed(ctx, desc)

    changes = changeset.walk(cfn, created["Id"])
    root_template, by_sha = review.built(ctx.build_dir, ctx.manifest)
    templates = review.templates_by_stack(root_template, by_sha)
    root_values = review.root_values(root_template, {**params.parameters, **values})
    secrets = Secrets(templates, root_values)
    rows = plans.make_rows(
        changes, plans.stateful_stacks(root_template, by_sha), secrets, params.region
    )
    plans.mark_false_replacements(rows, changes, plans.wiring_of(root_template))
    plans.mark_managed_traffic(rows, root_template, by_sha)
    checked = validation.read(cfn, validation.change_set_ids(created["Id"], changes), ctx.env)
    plans.apply_validation(rows, checked.results)
    notes = [checked.note] if checked.note else []
    found_moves = review.find_moves(
        ctx,
        cfn,
        rows,
        changes,
        templates=templates,
        root_values=root_values,
        stack_id=created["StackId"],
    )
    notes += review.check_drift(ctx, cfn, rows, changes, secrets)
    record = history.History(ctx.client("s3"), boot.bucket, ctx.env, pull_request)
    estimate = review.estimate(changes, templates, root_values, record.durations())
    if pull_request:
        notes.append(
            "pull-request plan: its templates are under pull-requests/ and its "
            "change set can never be executed; merging and planning the branch "
            "makes the one to execute"
        )
    allow = bool(ctx.flag("allow_data_loss"))
    blocked = bool(plans.blocking(rows)) and not allow
    invalid = bool(plans.invalid(rows))
    url = aws.console_url(params.region, created["StackId"], created["Id"])
    the_plan = plans.PlanFile(
        plans.STACK,
        ctx.env,
        params.region,
        blocked=blocked,
        allow_data_loss=allow,
        details={
            "stack_name": params.stack_name,
            "change_set_arn": created["Id"],
            "change_set_name": name,
            "change_set_type": kind,
            "stack_id": created["StackId"],
            "created": dt.datetime.now(dt.UTC).isoformat(),
            "commit": commit,
            "build_hash": root["sha256"],
            "template_hashes": {
                n: e["sha256"] for n, e in sorted(ctx.manifest["templates"].items())
            },
            "parameters": dict(sorted(secrets.parameters({**params.parameters, **values}).items())),
            "rollback_triggers": (rollback or {}).get("RollbackTriggers", []),
            "risk": plans.summary(rows),
            "rows": plans.rows_as_dicts(rows),
            "moves": [m.to_json() for m in found_moves],
            "duration": estimate.to_json(),
            "console_url": url,
            "invalid": invalid,
            "pull_request": pull_request,
            "notes": notes + record.notes,
            **fingerprint(cfn, stacks.describe(cfn, created["StackId"])),
        },
    )
    return _present(ctx, cfn, the_plan, rows, record)


def _present(ctx, cfn, the_plan: plans.PlanFile, rows, record) -> int:
    """Write, keep and print the plan, then refuse, stop or execute it."""
    details = the_plan.details
    markdown = report.render_markdown(the_plan.to_json())
    path = plans.write(ctx.plans, the_plan, markdown)
    name = details["change_set_name"]
    record.put(f"{name}.json", path.read_text())
    record.put(f"{name}.md", markdown)
    ctx.out(f"plan for {details['stack_name']} ({details['change_set_type']}, change set {name}):")
    for line in report.render_text(rows):
        ctx.out(line)
    ctx.out("risk: " + (", ".join(f"{k} {v}" for k, v in details["risk"].items() if v) or "none"))
    for line in report.duration_text(details.get("duration")):
        ctx.out(line)
    for note in dict.fromkeys(details["notes"] + record.notes):
        ctx.out(f"note: {note}")
    ctx.out(f"plan written to {path} (and {path.with_suffix('.md').name})")
    ctx.out(f"review: {details['console_url']}")
    changeset.prune(cfn, details["stack_name"], ctx.settings.keep_change_sets, ctx.out)
    if details["invalid"]:
        raise Invalid(
            f"CloudFormation's pre-deployment validation says executing this change "
            f"set would fail ({len(plans.invalid(rows))} INVALID row(s) above); "
            "fix the template or the parameter it names and plan again"
        )
    if the_plan.blocked:
        moving = any(row.risk == "MOVE" for row in rows)
        losing = any(row.risk != "MOVE" for row in plans.blocking(rows))
        what = " and ".join(
            w
            for w, present in (
                ("removes or replaces stateful resources", losing),
                ("moves resources between nested stacks", moving),
            )
            if present
        )
        raise Blocked(
            f"the plan {what} ({plans.blocked_summary(rows)} above); the change set is kept "
            "for review. "
            + (f"For a MOVE run `make refactor ENV={ctx.env}` first. " if moving else "")
            + f"If the data may go, plan again with `make deploy ENV={ctx.env} "
            "ALLOW_DATA_LOSS=1`"
        )
    if details["pull_request"]:
        ctx.out("pull-request plan: nothing can be executed from it")
        return _planned(ctx)
    if ctx.settings.execute == "auto":
        ctx.out("execute: auto (params) - executing now")
        execute(ctx)
        return _planned(ctx)
    ctx.out(f"nothing was executed; after review run `make execute ENV={ctx.env}`")
    return _planned(ctx)


def _planned(ctx) -> int:
    """The exit code of a plan with changes: 2 with --detailed-exitcode (Terraform's
    convention: 0 no changes, 2 changes), else 0."""
    return exits.CHANGES if ctx.flag("detailed_exitcode") else 0


def plan_revert(ctx, cfn, boot, stack) -> int:
    """--revert-drift: a plan of drift-aware change sets, one per drifted nested stack."""
    entries = revert.plan(ctx, cfn, boot, stack)
    if not entries:
        plans.discard(ctx.plans, ctx.env)
        return 0
    root_template, by_sha = review.built(ctx.build_dir, ctx.manifest)
    # The deployed templates are the build's where the tiers did not change since; a
    # template the build no longer has hides more (every write-only or dynamic place
    # of its type), never less.
    secrets = Secrets(review.templates_by_stack(root_template, by_sha), dict(ctx.params.parameters))
    changes = [c for e in entries for c in e["changes"]]
    rows = plans.make_rows(changes, None, secrets, ctx.params.region)
    record = history.History(ctx.client("s3"), boot.bucket, ctx.env)
    allow = bool(ctx.flag("allow_data_loss"))
    first = entries[0]
    the_plan = plans.PlanFile(
        plans.STACK,
        ctx.env,
        ctx.params.region,
        blocked=bool(plans.blocking(rows)) and not allow,
        allow_data_loss=allow,
        details={
            "stack_name": ctx.params.stack_name,
            "change_set_arn": first["change_set_arn"],
            "change_set_name": first["change_set_name"],
            "change_set_type": revert.KIND,
            "stack_id": stack["StackId"],
            "created": dt.datetime.now(dt.UTC).isoformat(),
            "commit": git_commit(),
            "build_hash": ctx.manifest["templates"]["root"]["sha256"],
            "template_hashes": {},
            "parameters": {},
            "risk": plans.summary(rows),
            "rows": plans.rows_as_dicts(rows),
            "revert": [{k: v for k, v in e.items() if k != "changes"} for e in entries],
            "console_url": aws.console_url(ctx.params.region, stack["StackId"]),
            "invalid": False,
            "pull_request": False,
            "notes": [
                f"restores the drifted values of {revert.summary(entries)} (before: what "
                "the resource is now; after: its template's value) and changes nothing "
                f"else; plan the build's changes with `make deploy ENV={ctx.env}` after "
                "executing it"
            ],
            **fingerprint(cfn, stack),
        },
    )
    return _present(ctx, cfn, the_plan, rows, record)


# -- execute -------------------------------------------------------------------------------
def execute(ctx) -> int:
    the_plan = plans.read(ctx.plans, ctx.env, plans.STACK)
    details = the_plan.details
    params = ctx.params
    if (details["stack_name"], the_plan.region) != (params.stack_name, params.region):
        raise Refused(
            f"the plan is for {details['stack_name']} in {the_plan.region}, but "
            f"{params.path.name} now says {params.stack_name} in {params.region}: "
            f"run `make deploy ENV={ctx.env}` again"
        )
    if details.get("pull_request"):
        raise Refused(
            "this plan was made for a pull request: its change set reads templates "
            "no deploy executes. Merge, then plan the branch with "
            f"`make deploy ENV={ctx.env}` and execute that"
        )
    if details.get("invalid"):
        raise Invalid(
            "the plan has INVALID rows (CloudFormation's pre-deployment validation "
            f"fails); fix them and plan again with `make deploy ENV={ctx.env}`"
        )
    if the_plan.blocked:
        if details.get("moves"):
            raise Blocked(
                "the plan moves resources between nested stacks (MOVE rows): run `make "
                f"refactor ENV={ctx.env}`, then plan again with `make deploy ENV={ctx.env}`"
            )
        raise Blocked(
            "the plan is blocked by DATA-LOSS, RECOVERABLE or ORPHAN rows; plan again with "
            f"`make deploy ENV={ctx.env} ALLOW_DATA_LOSS=1` if that data may go"
        )
    cfn, boot = connect(ctx)
    if details["change_set_type"] == revert.KIND:
        return _execute_revert(ctx, cfn, boot, the_plan)
    try:
        desc = cfn.describe_change_set(ChangeSetName=details["change_set_arn"])
    except ClientError as exc:
        if aws.error_code(exc) in (
            "ChangeSetNotFound",
            "ChangeSetNotFoundException",
            "ValidationError",
        ):
            raise Refused(
                f"the change set {details['change_set_name']} of the plan no longer "
                f"exists: run `make deploy ENV={ctx.env}` again"
            ) from None
        raise
    if desc.get("ExecutionStatus") != "AVAILABLE":
        raise Refused(
            f"the change set {details['change_set_name']} cannot be executed "
            f"({desc.get('ExecutionStatus')}: {desc.get('StatusReason') or 'no reason'})"
            f": run `make deploy ENV={ctx.env}` again"
        )
    stack = stacks.describe(cfn, details["stack_id"])
    now = fingerprint(cfn, stack)
    for key, what in (
        ("stack_last_updated", "last update time"),
        ("deployed_templates", "deployed template hashes"),
    ):
        if now[key] != details[key]:
            raise Refused(
                f"{params.stack_name} moved since the plan (its {what} changed): "
                f"someone deployed in between; run `make deploy ENV={ctx.env}` "
                "again and review the new plan"
            )
    update = details["change_set_type"] == "UPDATE"
    tree = stacks.tree(cfn, details["stack_id"]) if update else []
    protected = ctx.settings.protected
    if protected and update:
        safety.protect(cfn, details["stack_id"], ctx.out, _allowed(the_plan), tree)
    ctx.out(f"executing {details['change_set_name']} on {params.stack_name}")
    seen: list[dict] = []
    try:
        final = execute_change_set(
            ctx,
            cfn,
            details["stack_id"],
            details["change_set_arn"],
            len(details["rows"]),
            tree[1:],
            seen,
        )
    except OperationFailed:
        _timeline(ctx, boot, details, seen, "failed")
        raise
    if protected and details["change_set_type"] == "CREATE":
        safety.protect(cfn, details["stack_id"], ctx.out)
    ctx.out(f"{params.stack_name}: {final['StackStatus']}")
    for key, value in sorted(stacks.outputs(final).items()):
        ctx.out(f"  {key} = {value}")
    _timeline(ctx, boot, details, seen, final["StackStatus"])
    path = plans.plan_path(ctx.plans, ctx.env)
    path.rename(path.with_name(f"{ctx.env}.executed.json"))
    if aws.is_local():
        local_report.report(ctx, cfn)
    return 0


def _execute_revert(ctx, cfn, boot, the_plan: plans.PlanFile) -> int:
    if ctx.settings.protected and not aws.is_local():
        # The nested stacks keep denying Replace/Delete of stateful types; a plan made
        # with ALLOW_DATA_LOSS exempts exactly its blocking rows, as for a deploy.
        allowed = _allowed(the_plan)
        for entry in the_plan.details["revert"]:
            policy = safety.stack_policy(allowed.get(entry["stack"], []))
            cfn.set_stack_policy(StackName=entry["stack_id"], StackPolicyBody=json.dumps(policy))
    seen: list[dict] = []

    def run(stack_id: str, change_set_id: str, total: int) -> None:
        execute_change_set(ctx, cfn, stack_id, change_set_id, total, None, seen)

    try:
        revert.execute(ctx, cfn, the_plan, run)
    except OperationFailed:
        _timeline(ctx, boot, the_plan.details, seen, "failed")
        raise
    _timeline(ctx, boot, the_plan.details, seen, "complete")
    path = plans.plan_path(ctx.plans, ctx.env)
    path.rename(path.with_name(f"{ctx.env}.executed.json"))
    ctx.out(
        f"drift restored in {revert.summary(the_plan.details['revert'])}; plan the build's "
        f"changes with `make deploy ENV={ctx.env}`"
    )
    return 0


def _timeline(ctx, boot, details: dict, seen: list[dict], status: str) -> None:
    """The execution's timeline next to the plan (build/plans/<env>.timeline.md and the
    artifact bucket), the three slowest resources, and the measured durations."""
    found = timeline.spans(seen)
    if not found:
        return
    text = timeline.markdown(
        found,
        environment=ctx.env,
        change_set=details["change_set_name"],
        status=status,
        expected=details.get("duration"),
    )
    local = ctx.plans / f"{ctx.env}.timeline.md"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(text)
    ctx.out(
        "slowest: "
        + ", ".join(
            f"{s.stack}/{s.logical_id} ({s.resource_type}) {report.minutes(s.seconds)}"
            for s in timeline.slowest(found)
        )
    )
    record = history.History(ctx.client("s3"), boot.bucket, ctx.env)
    record.put(f"{details['change_set_name']}.timeline.md", text)
    durations = record.durations()
    durations.record(timeline.samples(found))
    record.save_durations(durations)
    ctx.out(f"timeline written to {local}")
    for note in record.notes:
        ctx.out(f"note: {note}")


def _allowed(the_plan: plans.PlanFile) -> dict[str, list[str]]:
    """Per stack, the logical ids a --allow-data-loss plan may replace or remove."""
    if not the_plan.allow_data_loss:
        return {}
    allowed: dict[str, list[str]] = {}
    for row in the_plan.details["rows"]:
        if row["risk"] in plans.BLOCKING:  # DATA-LOSS, RECOVERABLE, ORPHAN, MOVE
            allowed.setdefault(row["stack"], []).append(row["logical_id"])
    return allowed


# -- status, doctor, destroy ---------------------------------------------------------------
def status(ctx) -> int:
    cfn, _ = connect(ctx, need_bootstrap=False)
    for what, name in (
        ("bootstrap", bootstrap_stack.stack_name(ctx.params)),
        ("deploy role", bootstrap_stack.role_stack_name(ctx.params)),
    ):
        found = stacks.describe(cfn, name)
        ctx.out(f"{what} {name}: {found['StackStatus'] if found else 'not deployed'}")
    standalone = [("edge", edge_stack_name(ctx.params), EDGE_REGION)]
    settings = standby_stack.settings_of(ctx.params)
    if settings is not None:
        standalone.append(("standby", standby_stack.stack_name(ctx.params), settings.region))
    for what, name, region in standalone:
        found = stacks.describe(ctx.client("cloudformation", region), name)
        ctx.out(f"{what} {name} ({region}): {found['StackStatus'] if found else 'not deployed'}")
        for key, value in sorted(stacks.outputs(found or {}).items()):
            if what == "standby":
                ctx.out(f"  {key} = {value}")
    name = ctx.params.stack_name
    stack = stacks.describe(cfn, name)
    if stack is None:
        ctx.out(f"{name}: not deployed in {ctx.params.region}")
        return 0
    for path, stack_id in stacks.tree(cfn, stack["StackId"]):
        current = stacks.describe(cfn, stack_id)
        label = "/".join(("root",) + path)
        updated = current.get("LastUpdatedTime") or current.get("CreationTime")
        ctx.out(
            f"{label:<28} {current['StackStatus']:<24} {updated:%Y-%m-%d %H:%M:%S} UTC  "
            f"drift: {drift(ctx, cfn, stack_id)}"
        )
    for key, value in sorted(stacks.outputs(stack).items()):
        ctx.out(f"  {key} = {value}")
    return 0


def drift(ctx, cfn, stack_id: str) -> str:
    """detect_stack_drift on one stack (nested stacks are checked one by one)."""
    if ctx.flag("no_drift"):
        return "not checked"
    try:
        detection = cfn.detect_stack_drift(StackName=stack_id)["StackDriftDetectionId"]
        while True:
            result = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
            if result["DetectionStatus"] != "DETECTION_IN_PROGRESS":
                break
            ctx.sleep(ctx.poll_seconds)
    except ClientError as exc:
        return f"unavailable ({aws.error_message(exc)})"
    drifted = result.get("DriftedStackResourceCount")
    text = result.get("StackDriftStatus", "UNKNOWN")
    return f"{text} ({drifted} drifted)" if drifted else text


def doctor(ctx) -> int:
    cfn, _ = connect(ctx, need_bootstrap=False)
    try:
        ctx.execution_role_arn = bootstrap_stack.lookup(cfn, ctx.params).execution_role_arn
    except StreamstackError as exc:
        ctx.out(f"note: {exc}")
    for name in (
        bootstrap_stack.stack_name(ctx.params),
        bootstrap_stack.role_stack_name(ctx.params),
        ctx.params.stack_name,
    ):
        stack = stuck.settle(ctx, cfn, stacks.describe(cfn, name))
        if stack is None:
            ctx.out(f"{name}: not deployed")
            continue
        changeset.prune(cfn, stack["StackId"], ctx.settings.keep_change_sets, ctx.out)
        ctx.out(f"{name}: {stack['StackStatus']} - nothing stuck")
    return 0


def destroy(ctx) -> int:
    settings = ctx.settings
    if settings.protected or not settings.allow_destroy:
        raise Refused(
            f"{ctx.env} does not allow destroy (params deploy: protected: "
            f"{str(settings.protected).lower()}, allow_destroy: "
            f"{str(settings.allow_destroy).lower()}); only throw-away environments "
            "may be destroyed"
        )
    cfn, _ = connect(ctx, need_bootstrap=False)
    try:
        ctx.execution_role_arn = bootstrap_stack.lookup(cfn, ctx.params).execution_role_arn
    except StreamstackError:
        ctx.execution_role_arn = None  # the stack can still be deleted with the caller's rights
    stack = stacks.describe(cfn, ctx.params.stack_name)
    if stack is None:
        ctx.out(f"{ctx.params.stack_name}: nothing to destroy")
        return 0
    if stack.get("EnableTerminationProtection"):
        raise Refused(
            f"{stack['StackName']} has termination protection on; turn it off in "
            "the console if this environment really is throw-away"
        )
    if not ctx.confirm(f"Delete {stack['StackName']} and every object version in its buckets"):
        raise Refused(
            f"destroy deletes {stack['StackName']} and all its data: rerun with "
            f"--yes (make destroy ENV={ctx.env} YES=1)"
        )
    s3 = ctx.client("s3")
    tree = stacks.tree(cfn, stack["StackId"])
    for _, stack_id in tree:
        for res in stacks.resources(cfn, stack_id):
            if res["ResourceType"] == "AWS::S3::Bucket" and res.get("PhysicalResourceId"):
                count = empty_bucket(s3, res["PhysicalResourceId"])
                ctx.out(f"emptied {res['PhysicalResourceId']} ({count} object versions)")
    view = events.TreeEvents.primed(cfn, stack["StackId"], tree[1:])
    kwargs = {"RoleARN": ctx.execution_role_arn} if ctx.execution_role_arn else {}
    cfn.delete_stack(StackName=stack["StackId"], **kwargs)
    try:
        final = follow(ctx, cfn, view, sum(len(stacks.resources(cfn, i)) for _, i in tree))
    except OperationFailed as exc:
        if "DELETE_FAILED" not in str(exc):
            raise
        raise OperationFailed(
            f"{exc}; `make doctor ENV={ctx.env}` lists what could not be deleted, and with "
            "YES=1 deletes the stack anyway (FORCE_DELETE_STACK), leaving those behind"
        ) from None
    ctx.out(f"{stack['StackName']}: {final['StackStatus']}")
    plans.discard(ctx.plans, ctx.env)
    return 0


def empty_bucket(s3, bucket: str) -> int:
    """Delete every object version and delete marker; returns how many."""
    deleted = 0
    try:
        pages = list(s3.get_paginator("list_object_versions").paginate(Bucket=bucket))
    except ClientError as exc:
        if aws.error_code(exc) == "NoSuchBucket":
            return 0
        raise
    for page in pages:
        keys = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            deleted += len(batch)
    return deleted
