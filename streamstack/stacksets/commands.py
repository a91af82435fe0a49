"""The commands of an environment with a `stackset:` section: deploy (plan), execute,
bootstrap, destroy, drift. They take the same Context as the stack commands (its
clients, flags, settings and plans directory) and end with deploy.py's exit codes
(streamstack/deploy/exits.py):

    0  success (also: no changes, no drift)
    3  the plan removes stacks or replaces/removes stateful resources (DATA-LOSS) and
       --allow-data-loss was not given; the plan file is written for review, and a
       blocked plan is never executed
    4  refused: the stack set moved since the plan, destroy is not allowed, or bootstrap
       needs steps that cannot be done from the administrator account (they are printed)
    5  instance failures went beyond the failure tolerance (or an operation stopped)
    6  drift detected

Errors the user can fix raise StreamstackError (printed as `error: ...`); AWS errors
become one such line in the dispatcher (cli.dispatch), as for the stack commands.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from streamstack.deploy import aws, bootstrap_stack, exits, plans, safety, stacks
from streamstack.deploy import commands as stack_commands
from streamstack.deploy.artifacts import upload_templates
from streamstack.deploy.plans import classify
from streamstack.errors import StreamstackError
from streamstack.identity.check import STACKSET_TARGET_BOOTSTRAP
from streamstack.stacksets import config as stackset_config
from streamstack.stacksets import deep_preview, drift_report, preview
from streamstack.stacksets.config import StackSetConfig
from streamstack.stacksets.operations import OperationResult, Operations, Waiter
from streamstack.stacksets.state import OverrideState
from streamstack.stacksets.targets import Group, Instance, desired_instances, group
from templates import stackset_role

EXIT_OK, EXIT_DATA_LOSS, EXIT_REFUSED, EXIT_TOLERANCE, EXIT_DRIFTED = (
    exits.OK,
    exits.BLOCKED,
    exits.REFUSED,
    exits.FAILED,
    exits.DRIFTED,
)


@dataclass
class Target:
    """The stack set a command works on, and how to reach it."""

    config: StackSetConfig
    name: str
    ops: Operations
    admin_account: str
    template: str  # manifest name of the template it delivers


def _target(ctx, *, bootstrap: bool = False, waiter: Waiter | None = None) -> Target:
    config: StackSetConfig = ctx.params.sections["stackset"]
    name = (config.name or ctx.params.stack_name) + ("-bootstrap" if bootstrap else "")
    cfn = ctx.client("cloudformation")
    admin = _admin_account(ctx)
    return Target(
        config,
        name,
        Operations(cfn, name, config, waiter=waiter, out=ctx.out),
        admin,
        "bootstrap" if bootstrap else "root",
    )


def _admin_account(ctx) -> str:
    """The caller's account, which administers the stack set; refuses another one."""
    return aws.check_account(ctx.params, ctx.client("sts"))


# -- artifacts and deploy-time values ----------------------------------------------------
def publish(ctx) -> tuple[str, str]:
    """Upload the built templates (content-addressed, absent ones only) to the
    administrator account's artifact bucket; (bucket, base URL).

    One bucket, in the administrator account's region, serves every target region:
    S3 serves cross-region reads in the commercial partition, and one URL keeps
    ArtifactBaseUrl a stack-set-wide value (docs/stacksets.md)."""
    boot = bootstrap_stack.lookup(ctx.client("cloudformation"), ctx.params)
    result = upload_templates(
        ctx.client("s3"), boot.bucket, ctx.manifest, ctx.build_dir, boot.base_url
    )
    ctx.out(
        f"artifacts: uploaded {result.uploaded}, already there {result.skipped} ({result.base_url})"
    )
    return boot.bucket, result.base_url


def prefix_list_ids(ctx, regions) -> dict[str, str]:
    """The CloudFront origin-facing prefix list of each region (one call per region)."""
    ids = {}
    for region in regions:
        ids[region] = aws.cloudfront_prefix_list_id(ctx.client("ec2", region))
        if not ids[region]:
            raise StreamstackError(
                f"{region}: no managed prefix list "
                f"{aws.CLOUDFRONT_PREFIX_LIST}; the ALB would accept "
                "traffic from anywhere, so this is refused"
            )
    return ids


def deploy_time_values(
    ctx, target: Target, base_url: str
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(stack-set-wide values, per-region values) for the template's deploy-time names.

    Edge-stack outputs belong to each target account's own edge stack in us-east-1, which
    streamstack does not deploy to targets: CdnWebAclArn comes per account from
    stackset.web_acls (a protected environment refuses a target without one), and
    CdnCertificateArn keeps its template default, which the plan says."""
    entry = _entry(ctx, target.template)
    declared = json.loads((ctx.build_dir / entry["file"]).read_text()).get("Parameters", {})
    wide, per_region = {}, {}
    for name in entry.get("deploy_time_parameters", []):
        if name == "ArtifactBaseUrl":
            wide[name] = base_url
        elif name == "CloudFrontPrefixListId":
            for region, pl in prefix_list_ids(ctx, target.config.regions).items():
                per_region.setdefault(region, {})[name] = pl
        elif name == stackset_config.WEB_ACL_PARAMETER:
            # Per account, from stackset.web_acls (targets.desired_instances).
            missing = target.config.accounts_without_web_acl()
            safety.require_web_acl(
                ctx.env,
                ctx.settings.protected,
                missing,
                "deploy a CloudFront-scope web ACL in each target account's us-east-1 "
                "(the edge template does: build/templates/edge.json) and name it in "
                "stackset.web_acls",
            )
            if missing:
                ctx.out(
                    f"note: no web ACL in stackset.web_acls for {', '.join(missing)}: "
                    "their distributions run without WAF"
                )
        elif name == "WorkloadBoundaryPolicy":
            # Each target's stackset-role stack creates the boundary, under this name.
            wide[name] = stackset_role.boundary_policy_name(
                ctx.params.parameters.get("Environment", ctx.env)
            )
        elif "Default" in declared.get(name, {}):
            ctx.out(
                f"note: deploy-time {name} has no per-target source for a stack set (an "
                f"edge stack in each target account); the template default "
                f"{declared[name]['Default']!r} applies in every instance"
            )
        else:
            raise StreamstackError(
                f"{target.template} template: deploy-time parameter {name} "
                "has no default and no StackSet resolver; add one in "
                "streamstack/stacksets/commands.py"
            )
    return wide, per_region


def _entry(ctx, name: str) -> dict:
    entry = ctx.manifest["templates"].get(name)
    if entry is None:
        raise StreamstackError(f"build/manifest.json has no {name} template: run make build")
    return entry


# -- plan --------------------------------------------------------------------------------
def _compute(
    ctx,
    target: Target,
    *,
    parameters: dict[str, str],
    region_values: dict[str, dict[str, str]],
    bucket: str,
    exclude: set[Instance] = frozenset(),
) -> tuple[preview.Plan, preview.Current, dict[Instance, tuple]]:
    """Read the current stack set (overrides known since their last operation are not
    read again) and diff it with the desired one."""
    entry = _entry(ctx, target.template)
    text = (ctx.build_dir / entry["file"]).read_text()
    desired = {
        i: o for i, o in desired_instances(target.config, region_values).items() if i not in exclude
    }
    state = override_state(ctx, bucket, target.name).load()
    current = preview.read_current(target.ops, state=state)
    state.save()
    plan = preview.compute(
        target.name,
        current,
        template_sha=entry["sha256"],
        template_text=text,
        parameters=parameters,
        desired=desired,
        region_order=target.config.preferences.region_order,
        delete_removed_stacks=ctx.flag("allow_data_loss"),
        settings={"Tags": ctx.params.tags, **target.ops.stack_set_settings(target.admin_account)},
    )
    return plan, current, desired


def override_state(ctx, bucket: str, name: str) -> OverrideState:
    return OverrideState(ctx.client("s3"), bucket, name, ctx.out)


def plan(
    ctx, *, waiter: Waiter | None = None, clients: Callable[[str, str], object] | None = None
) -> int:
    """Preview the stack set deploy and write build/plans/<env>.json (+ .md)."""
    target = _target(ctx, waiter=waiter)
    bucket, base_url = publish(ctx)
    wide, per_region = deploy_time_values(ctx, target, base_url)
    parameters = {**ctx.params.parameters, **wide}
    the_plan, current, desired = _compute(
        ctx, target, parameters=parameters, region_values=per_region, bucket=bucket
    )
    template_url = f"{base_url}/{_entry(ctx, 'root')['key']}"
    if ctx.flag("deep_preview"):
        the_plan.deep = _deep(
            ctx, target, the_plan, current, desired, parameters, template_url, clients, waiter
        )
    prune = ctx.flag("prune")
    for line in preview.render(the_plan, prune=prune):
        ctx.out(line)
    allow = bool(ctx.flag("allow_data_loss"))
    # Deep preview rows carry the deploy plan's labels: whatever CloudFormation keeps of
    # a removed or replaced stateful resource (RECOVERABLE, ORPHAN), it blocks too.
    blocked = bool(set(plans.BLOCKING) & set(the_plan.risk_summary())) and not allow
    plan_file = plans.PlanFile(
        plans.STACKSET,
        ctx.env,
        ctx.params.region,
        blocked=blocked,
        allow_data_loss=allow,
        details={
            "admin_account": target.admin_account,
            "template_url": template_url,
            "artifact_bucket": bucket,
            "parameters": parameters,
            "tags": ctx.params.tags,
            "prune": prune,
            "delete_removed_stacks": allow,
            **the_plan.to_json(),
        },
    )
    path = plans.write(ctx.plans, plan_file, preview.markdown(the_plan, ctx.env, prune=prune))
    ctx.out(f"plan written to {path}")
    if blocked:
        ctx.out(
            "blocked: the plan loses or leaves data (DATA-LOSS, RECOVERABLE or ORPHAN); "
            "review it, then plan again with "
            "--allow-data-loss if that is intended"
        )
        return EXIT_DATA_LOSS
    if not the_plan.no_changes:
        ctx.out(f"review it, then: make execute ENV={ctx.env}")
        if ctx.flag("detailed_exitcode"):
            return exits.CHANGES
    return EXIT_OK


def _deep(
    ctx,
    target: Target,
    the_plan: preview.Plan,
    current: preview.Current,
    desired: dict[Instance, tuple],
    parameters: dict[str, str],
    template_url: str,
    clients,
    waiter,
) -> dict:
    """Change sets on the instances the plan updates, with their future parameters."""
    if not target.config.self_managed:
        ctx.out(
            "deep preview: skipped; service-managed execution roles belong to "
            "Organizations and cannot be assumed"
        )
        return {}
    targets = []
    for row in the_plan.rows:
        if row.action != "update":
            continue
        for instance in current.instances[row.instance]:
            targets.append(
                (
                    instance.account,
                    row.instance.region,
                    instance.stack_id,
                    {**parameters, **dict(desired[row.instance])},
                )
            )
    env = ctx.params.parameters.get("Environment", ctx.env)
    clients = clients or deep_preview.assumed_clients(
        ctx.session, stackset_role.preview_role_name(env)
    )
    return deep_preview.preview_all(
        targets,
        clients=clients,
        template_url=template_url,
        classify=classify,
        waiter=waiter,
        out=ctx.out,
    )


# -- execute -------------------------------------------------------------------------------
def execute(ctx, *, waiter: Waiter | None = None) -> int:
    """Run exactly the reviewed plan; refuse when the stack set moved since."""
    plan_file = plans.read(ctx.plans, ctx.env, plans.STACKSET)
    data = plan_file.details
    path = plans.plan_path(ctx.plans, ctx.env)
    if plan_file.blocked and not ctx.flag("allow_data_loss"):
        raise exits.Blocked(
            f"{path} loses data (DATA-LOSS) and is blocked: plan again with "
            f"`make deploy ENV={ctx.env} ALLOW_DATA_LOSS=1` if that is "
            "intended"
        )
    target = _target(ctx, waiter=waiter)
    the_plan = preview.Plan.from_json(data)
    if target.name != the_plan.stack_set:
        raise StreamstackError(
            f"{path} is for stack set {the_plan.stack_set}, not "
            f"{target.name}: run make deploy again"
        )
    current = preview.read_current(target.ops, overrides=False)
    if current.fingerprint() != the_plan.fingerprint:
        raise exits.Refused(
            f"stack set {target.name} changed since the plan (template, "
            "parameters or instances): run make deploy "
            f"ENV={ctx.env} again and review"
        )
    if the_plan.no_changes:
        ctx.out(f"stack set {target.name}: no changes")
        return EXIT_OK
    # Deleting the stacks of removed instances must have been reviewed as DATA-LOSS.
    delete_stacks = ctx.flag("allow_data_loss") and data["delete_removed_stacks"]
    if ctx.flag("prune") and ctx.flag("allow_data_loss") and not delete_stacks:
        ctx.out(
            "the plan was made without --allow-data-loss: removed instances keep their "
            "stacks; plan again with it to delete them"
        )
    return apply(
        target,
        the_plan,
        template_url=data["template_url"],
        parameters=data["parameters"],
        tags=data["tags"],
        description=_description(ctx, the_plan.template_sha),
        prune=ctx.flag("prune"),
        delete_stacks=delete_stacks,
        out=ctx.out,
        state=override_state(ctx, data["artifact_bucket"], target.name).load(),
    )


def apply(
    target: Target,
    the_plan: preview.Plan,
    *,
    template_url: str,
    parameters: dict[str, str],
    tags: dict[str, str],
    description: str,
    prune: bool,
    delete_stacks: bool,
    out: Callable[[str], None],
    state: OverrideState | None = None,
) -> int:
    """Create/update the stack set, then overrides, new instances, and (--prune) removals.
    Stops at the first operation whose failures exceed the tolerance. `state` learns the
    overrides each operation left (see state.py) and is saved at the end."""
    ops = target.ops
    settings = dict(
        template_url=template_url,
        parameters=parameters,
        description=description,
        tags=tags,
        admin_account=target.admin_account,
    )
    # (what the operation leaves as overrides: "keep", the group's, or "gone"; the call)
    steps: list[tuple[str, Group | None, Callable[[], OperationResult]]] = []
    if not the_plan.exists:
        ops.create_stack_set(**settings)
        out(f"stack set {target.name}: created")
    elif the_plan.update_stack_set:
        regions = sorted({r.instance.region for r in the_plan.rows if r.action != "add"})
        if regions:
            steps.append(("keep", None, lambda: ops.update_stack_set(**settings, regions=regions)))
    steps += [("set", g, lambda g=g: ops.update_instances(g)) for g in the_plan.override_updates]
    steps += [("set", g, lambda g=g: ops.create_instances(g)) for g in the_plan.creates]
    if prune:
        steps += [
            ("gone", g, lambda g=g: ops.delete_instances(g, retain_stacks=not delete_stacks))
            for g in the_plan.removals
        ]
    elif the_plan.removals:
        count = sum(g.size for g in the_plan.removals)
        out(
            f"stack set {target.name}: {count} instance(s) no longer targeted are kept; "
            "run with --prune to remove them"
        )
    try:
        for effect, group_, step in steps:
            result = step()
            ops.report(result)
            if state is not None:
                _learn(state, effect, group_, result)
            if result.exceeded:
                return EXIT_TOLERANCE
        return EXIT_OK
    finally:
        if state is not None:
            state.save()


def _learn(
    state: OverrideState, effect: str, group_: Group | None, result: OperationResult
) -> None:
    """The overrides an operation left on each instance it touched (see state.py)."""
    for r in result.results:
        if r.status != "SUCCEEDED" or effect == "gone" or (effect == "keep" and result.contended):
            state.forget(r.account, r.region)
        elif effect == "keep":
            state.remember(
                r.account, r.region, result.operation_id, state.overrides(r.account, r.region)
            )
        else:
            state.remember(r.account, r.region, result.operation_id, group_.overrides)


def _description(ctx, sha: str) -> str:
    return (f"streamstack {ctx.env}: template sha256 {sha[:12]}, params {ctx.params.path.name}")[
        :1024
    ]


# -- bootstrap -----------------------------------------------------------------------------
# Parameters of templates/bootstrap.py that the bootstrap stack set sets itself: a
# target is deployed by the stack set (no artifact bucket of its own), and the roles
# exist before the stack set can reach it (stackset-role) or belong to Organizations.
BOOTSTRAP_DEFAULTS = dict(STACKSET_TARGET_BOOTSTRAP)
ROLE_TEMPLATE = "stackset-role"


def bootstrap(ctx, *, waiter: Waiter | None = None) -> int:
    """The bootstrap template as a stack set to every target account and region.

    1. the administrator account's own bootstrap stack (deploy.py's ordinary bootstrap),
       with what the stack set environment needs from it: the administration role
       (self-managed) and the target accounts as template readers of the artifact bucket;
    2. checks what cannot be done from the administrator account (each target's
       execution role) and prints the exact commands to run there (exit 4);
    3. the bootstrap stack set, created or updated, with every target instance."""
    target = _target(ctx, bootstrap=True, waiter=waiter)
    entry = _entry(ctx, "bootstrap")
    declared = set(entry.get("parameters", []))
    unknown = sorted(set(target.config.bootstrap_parameters) - declared)
    if unknown:
        raise StreamstackError(
            f"{ctx.params.path.name}: stackset.bootstrap_parameters: "
            f"{', '.join(unknown)} not declared by the bootstrap template; "
            f"allowed: {', '.join(sorted(declared))}"
        )
    code = admin_bootstrap(ctx, admin_bootstrap_parameters(target, declared))
    if code:
        return code
    bucket, base_url = publish(ctx)
    manual = _prerequisites(ctx, target, entry, base_url)
    if manual:
        for line in manual:
            ctx.out(line)
        ctx.out("then run make bootstrap ENV=" + ctx.env + " again")
        return EXIT_REFUSED
    wide, per_region = deploy_time_values(ctx, target, base_url)
    defaults = {**BOOTSTRAP_DEFAULTS, "Environment": ctx.params.parameters.get("Environment", "")}
    parameters = {
        **{k: v for k, v in defaults.items() if k in declared},
        **wide,
        **target.config.bootstrap_parameters,
    }
    # The administrator account's home region has its ordinary bootstrap stack.
    home = Instance(target.admin_account, ctx.params.region)
    the_plan, _, _ = _compute(
        ctx, target, parameters=parameters, region_values=per_region, bucket=bucket, exclude={home}
    )
    for line in preview.render(the_plan, prune=False):
        ctx.out(line)
    if the_plan.no_changes:
        return EXIT_OK
    return apply(
        target,
        the_plan,
        template_url=f"{base_url}/{entry['key']}",
        parameters=parameters,
        tags=ctx.params.tags,
        description=_description(ctx, the_plan.template_sha),
        prune=False,
        delete_stacks=False,
        out=ctx.out,
        state=override_state(ctx, bucket, target.name).load(),
    )


def admin_bootstrap_parameters(target: Target, declared: set[str]) -> dict[str, str]:
    """What the administrator account's bootstrap stack must hold for this stack set."""
    config, admin = target.config, target.admin_account
    wanted = {}
    if config.self_managed:
        wanted["StackSetAdministration"] = "enabled"
        readers = sorted(set(config.accounts) - {admin})
        if readers:
            wanted["TemplateReaderAccountIds"] = ",".join(readers)
    return {k: v for k, v in wanted.items() if k in declared}


def admin_bootstrap(ctx, parameters: dict[str, str]) -> int:
    """deploy.py's ordinary bootstrap of the administrator account, with `parameters` on
    top of the params file's deploy.bootstrap_parameters."""
    settings = ctx.settings
    merged = {**settings.bootstrap_parameters, **parameters}
    if "TemplateReaderAccountIds" in parameters:  # keep readers the file lists itself
        readers = settings.bootstrap_parameters.get("TemplateReaderAccountIds", "").split(",")
        merged["TemplateReaderAccountIds"] = ",".join(
            sorted(
                set(filter(None, readers)) | set(parameters["TemplateReaderAccountIds"].split(","))
            )
        )
    settings = dataclasses.replace(settings, bootstrap_parameters=merged)
    params = dataclasses.replace(ctx.params, sections={**ctx.params.sections, "deploy": settings})
    return stack_commands.bootstrap(dataclasses.replace(ctx, params=params))


def _prerequisites(ctx, target: Target, entry: dict, base_url: str) -> list[str]:
    """What must exist before the bootstrap stack set can reach the targets."""
    config, admin = target.config, target.admin_account
    lines = []
    name = bootstrap_stack.stack_name(ctx.params)
    stack = stacks.describe(ctx.client("cloudformation"), name)
    if stack is None:
        return [
            f"administrator account {admin}: the bootstrap stack {name} does not exist in "
            f"{ctx.params.region}"
        ]
    given = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    file = ctx.params.path.name
    if config.self_managed:
        try:
            ctx.client("iam").get_role(RoleName=config.administration_role_name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchEntity":
                raise
            lines.append(
                f"administrator account {admin}: role {config.administration_role_name} "
                f"is missing although the bootstrap stack was asked for it; check "
                f"deploy.bootstrap_parameters in {file} (StackSetAdministration)"
            )
        readers = set(filter(None, given.get("TemplateReaderAccountIds", "").split(",")))
        wanted = sorted(set(config.accounts) - {admin})
        if "TemplateReaderAccountIds" in entry.get("parameters", []) and not set(wanted) <= readers:
            lines.append(
                f"administrator account {admin}: the artifact bucket must let the "
                f"targets read templates: set TemplateReaderAccountIds: "
                f'"{",".join(wanted)}" in deploy.bootstrap_parameters in {file}'
            )
        lines += target_roles(ctx, target, list(config.accounts), stacks.outputs(stack), base_url)
    return lines


def preview_client(ctx, role: str, account: str):
    """CloudFormation in the administrator region of `account`, as its preview role."""
    return deep_preview.assumed_clients(ctx.session, role, "streamstack-bootstrap-check")(
        account, ctx.params.region
    )


def role_stack_name(target: Target) -> str:
    return f"{target.config.name or target.name.removesuffix('-bootstrap')}-stackset-role"


def target_roles(
    ctx, target: Target, accounts: list[str], admin_outputs: dict[str, str], base_url: str
) -> list[str]:
    """Each target's StackSet execution role (the stackset-role stack, which only that
    account can create): probed through its preview role, compared with the build by
    the digest of the derived policy; the exact command for each one missing or stale.

    Not AdministratorAccess: the role gets the same derived policy as the execution
    role, and trusts only the administrator account's administration role."""
    env = ctx.params.parameters.get("Environment", ctx.env)
    entry = _entry(ctx, ROLE_TEMPLATE)
    built = json.loads((ctx.build_dir / entry["file"]).read_text())
    digest = built["Outputs"]["DeployPermissionsDigest"]["Value"]
    stack_name = role_stack_name(target)
    values = {
        "Environment": env,
        "StackSetName": target.name.removesuffix("-bootstrap"),
        "AdministratorAccountId": target.admin_account,
        "AdministrationRoleName": target.config.administration_role_name,
        "ExecutionRoleName": target.config.execution_role_name,
        "ArtifactBucketName": admin_outputs.get("ArtifactBucketName", ""),
        "ArtifactKeyArn": admin_outputs.get("ArtifactKeyArn", ""),
    }
    arguments = (
        f"--region {ctx.params.region} --stack-name {stack_name} "
        f"--template-url {base_url}/{entry['key']} --capabilities CAPABILITY_NAMED_IAM "
        "--parameters "
        + " ".join(f"ParameterKey={k},ParameterValue={v}" for k, v in sorted(values.items()))
    )
    preview_role = stackset_role.preview_role_name(env)
    lines = []
    for account in accounts:
        try:
            found = stacks.describe(preview_client(ctx, preview_role, account), stack_name)
        except ClientError as exc:
            lines += [
                f"target account {account}: no StackSet execution role yet (cannot "
                f"assume {preview_role}: {exc.response['Error']['Code']}); with "
                f"credentials of {account}, run:",
                f"  aws cloudformation create-stack {arguments}",
            ]
            continue
        deployed = stacks.outputs(found or {}).get("DeployPermissionsDigest")
        if deployed != digest:
            lines += [
                f"target account {account}: its StackSet execution role is older than "
                f"this build (policy digest {deployed or 'none'}, built {digest}); with "
                f"credentials of {account}, run:",
                f"  aws cloudformation update-stack {arguments}",
            ]
    return lines


# -- destroy -------------------------------------------------------------------------------
def destroy(ctx, *, waiter: Waiter | None = None) -> int:
    """Delete every instance (their stacks too) and the stack set; only where the params
    file allows destroy (deploy.allow_destroy, not protected), like deploy.py's destroy."""
    settings = ctx.settings
    if not settings.allow_destroy or settings.protected:
        raise exits.Refused(
            f"{ctx.params.path.name} does not allow destroy (set "
            "deploy.allow_destroy: true and deploy.protected: false)"
        )
    target = _target(ctx, waiter=waiter)
    if target.ops.describe() is None:
        ctx.out(f"stack set {target.name}: does not exist; nothing to destroy")
        return EXIT_OK
    current = preview.read_current(target.ops, overrides=False)
    removals = group({i: () for i in current.instances}, target.config.preferences.region_order)
    for removal in removals:
        result = target.ops.delete_instances(removal, retain_stacks=False)
        target.ops.report(result)
        if result.exceeded:
            return EXIT_TOLERANCE
    target.ops.delete_stack_set()
    ctx.out(f"stack set {target.name}: deleted")
    return EXIT_OK


# -- drift ---------------------------------------------------------------------------------
def drift(ctx, *, waiter: Waiter | None = None) -> int:
    target = _target(ctx, waiter=waiter)
    if target.ops.describe() is None:
        raise StreamstackError(
            f"stack set {target.name} does not exist: run make deploy "
            f"ENV={ctx.env} and make execute first"
        )
    report = drift_report.detect(target.ops)
    for line in drift_report.render(report, target.name):
        ctx.out(line)
    return EXIT_DRIFTED if report.drifted else EXIT_OK
