"""Proofs over the rendered templates, run by `make build` (and the tests).

permission  For every resource of the templates a deploy role deploys, every action its
            type's handlers call (provider schemas) is allowed by the rendered role, on
            the ARN the resource would have; an action without resource-level
            permissions must be allowed on "*". So is what CloudFormation does around
            them: reading nested templates, resolving SSM parameter types and secret
            references, passing the role on to nested stacks.
escalation  Each way the deploy role could give itself or anyone more power is denied:
            changing its own role or policies, the boundary, creating or changing a role
            without the boundary, attaching an administrator policy, passing a role it
            does not own.
boundary    Every role of the platform carries the workload boundary under the workload
            path, and the boundary allows everything the role's own policies grant.

Each finding is one line naming the template, the resource, the action and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from streamstack.identity import awsdata, derive, managed_policies
from streamstack.identity.evaluate import (
    SAMPLE_ACCOUNT,
    PolicySet,
    Request,
    Resolved,
    role_policies,
)

SAMPLE_REGION = "us-west-2"
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
FOREIGN_ROLE = f"arn:aws:iam::{SAMPLE_ACCOUNT}:role/someone-elses-admin-role"
STACKSET_UUID = "11111111-2222-3333-4444-555555555555"
# Roles a resource passes: the properties that name one (by type), for iam:PassRole.
FIX = (
    "re-derive it with `make build`; if the gap stays, streamstack/identity/derive.py "
    "does not cover this case"
)


@dataclass
class Mode:
    """How a deploy role deploys, with the sample values the proof resolves it with."""

    name: str  # "execution role" or "StackSet execution role"
    template: str  # its template's name ("deploy-role", "stackset-role")
    role_stack: str  # the stack its template is deployed as
    role: str  # its logical id
    parameters: dict[str, str]  # for its own template
    stack_name: str  # the root stack's sample name
    nested_prefix: str  # what nested stack names start with
    passes_itself: bool  # RoleARN: nested stacks pass it on
    templates_arn: str  # where nested templates are read
    key_arn: str  # the key that encrypts them
    regions: tuple[str, ...] = (SAMPLE_REGION,)
    buckets: list[str] = field(default_factory=list)  # the tree's bucket names, per region
    ssm_parameters: list[str] = field(default_factory=list)  # the parameters it resolves


def execution_mode(environment: str, role_template: str = "deploy-role") -> Mode:
    bucket = "s3-sample-artifacts"
    stack = f"streamstack-{environment}"
    return Mode(
        name="execution role",
        template=role_template,
        role="ExecutionRole",
        role_stack=f"{stack}-{role_template}",
        parameters={
            "Environment": environment,
            "PlatformStackName": stack,
            "ArtifactBucketName": bucket,
            "ArtifactKeyArn": f"arn:aws:kms:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:key/"
            "00000000-0000-0000-0000-00000000000a",
        },
        stack_name=stack,
        nested_prefix=f"{stack}-",
        passes_itself=True,
        templates_arn=f"arn:aws:s3:::{bucket}/templates/" + "0" * 64 + ".json",
        key_arn=f"arn:aws:kms:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:key/"
        "00000000-0000-0000-0000-00000000000a",
    )


def stackset_mode(environment: str) -> Mode:
    name = f"streamstack-{environment}-global"
    central = "s3-sample-central-artifacts"
    key = "arn:aws:kms:us-west-2:999999999999:key/00000000-0000-0000-0000-00000000000b"
    instance = f"StackSet-{name}-{STACKSET_UUID}"
    return Mode(
        name="StackSet execution role",
        template="stackset-role",
        role="StackSetExecutionRole",
        role_stack=f"{name}-stackset-role",
        parameters={
            "Environment": environment,
            "StackSetName": name,
            "AdministratorAccountId": "999999999999",
            "ArtifactBucketName": central,
            "ArtifactKeyArn": key,
        },
        stack_name=instance,
        nested_prefix=f"{instance}-",
        passes_itself=False,
        templates_arn=f"arn:aws:s3:::{central}/templates/" + "0" * 64 + ".json",
        key_arn=key,
        regions=("us-west-2", "us-east-1"),
    )


@dataclass
class Proof:
    findings: list[str] = field(default_factory=list)
    checked: int = 0  # requests evaluated
    denied_by_design: set[str] = field(default_factory=set)


# -- permission proof ---------------------------------------------------------------------
def permissions(
    tree: dict[str, dict],
    role_template: dict,
    mode: Mode,
    environment: str,
    fixed: dict[str, dict] | None = None,
) -> Proof:
    """Every handler action of every resource in `tree` is allowed (see module doc).

    Every resource counts, whatever its condition (some environment enables it), except
    in the templates of `fixed`, deployed with those parameter values only."""
    proof = Proof()
    fixed = fixed or {}
    role = _role(role_template, mode, mode.regions[0])
    policies = role_policies(role, mode.role)
    own_arn = role.physical(mode.role)["Arn"]
    boundary_name = _boundary_output(role)
    seen: set = set()
    mode.ssm_parameters = derive.ssm_parameters(tree)
    for region in mode.regions:
        mode.buckets = bucket_names(tree, environment, region)
        role_here = _role(role_template, mode, region)
        policies = role_policies(role_here, mode.role)
        for name, template in sorted(tree.items()):
            resolved = Resolved(
                template,
                {
                    "Environment": environment,
                    "WorkloadBoundaryPolicy": boundary_name,
                    **fixed.get(name, {}),
                },
                region=region,
                stack_name=f"{mode.nested_prefix}X",
            )
            for logical, raw in sorted(template.get("Resources", {}).items()):
                if name in fixed and not resolved.exists(logical):
                    continue
                resource = resolved.value(raw)
                for action in _handler_actions(raw["Type"]):
                    if action.lower() in derive.NEVER:
                        proof.denied_by_design.add(action)
                        continue
                    for request in _requests(
                        action, raw["Type"], logical, resource, resolved, mode, own_arn
                    ):
                        key = (
                            request.action,
                            request.resource,
                            tuple(sorted((k, str(v)) for k, v in request.context.items())),
                        )
                        if key in seen:
                            continue
                        seen.add(key)
                        proof.checked += 1
                        if not policies.allows(request):
                            proof.findings.append(
                                _missing(mode, request, name, raw["Type"], logical)
                            )
            for request in _template_requests(template, resolved, mode, own_arn):
                proof.checked += 1
                if not policies.allows(request):
                    proof.findings.append(_missing(mode, request, name, "the template", "-"))
    proof.findings = _first_per_action(proof.findings)
    return proof


def _role(role_template: dict, mode: Mode, region: str) -> Resolved:
    return Resolved(role_template, mode.parameters, region=region, stack_name=mode.role_stack)


def _boundary_output(role: Resolved) -> str:
    output = role.raw.get("Outputs", {}).get("WorkloadBoundaryPolicy")
    return role.value(output["Value"]) if output else "no-boundary-output"


def _handler_actions(resource_type: str) -> list[str]:
    """The IAM actions a type's handlers call (names IAM does not know are API names it
    never authorizes: derive.unknown_actions)."""
    actions: list[str] = []
    extra = derive.EXTRA.get(resource_type, ())
    for names in (*awsdata.handler_permissions(resource_type).values(), extra):
        for action in names:
            for concrete in awsdata.expand(action):
                if not awsdata.action_info(concrete).known:
                    concrete_stem = awsdata.expand(concrete + "*")
                    known = [a for a in concrete_stem if awsdata.action_info(a).known]
                else:
                    known = [concrete]
                for name in known:
                    if name not in actions:
                        actions.append(name)
    return actions


def _missing(mode: Mode, request: Request, template: str, rtype: str, logical: str) -> str:
    need = (
        ' (it has no resource-level permissions, so it must be granted on "*")'
        if request.resource == "*"
        else ""
    )
    return (
        f"{mode.template}: the {mode.name} may not {request.describe()}{need}, which "
        f"{rtype} {logical} in {template} needs: {FIX}"
    )


def _first_per_action(findings: list[str]) -> list[str]:
    """One line per (template, action): the first failing resource stands for the rest."""
    out, seen = [], set()
    for line in findings:
        match = re.match(r"^(\S+): the .*? may not (\S+) ", line)
        key = match.groups() if match else line
        if key not in seen:
            seen.add(key)
            out.append(line)
    return out


def _requests(
    action: str,
    rtype: str,
    logical: str,
    resource: dict,
    resolved: Resolved,
    mode: Mode,
    own_arn: str,
) -> list[Request]:
    info = awsdata.action_info(action)
    lowered = action.lower()
    if not info.resource_level:
        return [Request(action, "*")]
    props = resource.get("Properties", {})
    if lowered == "iam:passrole":
        return _pass_role_requests(action, rtype, logical, resource, resolved, mode, own_arn)
    context: dict = {}
    if lowered in derive.BOUNDARY_CONDITIONED:
        boundary = (
            props.get("PermissionsBoundary")
            if rtype == "AWS::IAM::Role"
            else _workload_boundary(resolved)
        )
        if boundary:  # a role without one asks without the key
            context["iam:PermissionsBoundary"] = boundary
    if lowered == "iam:attachrolepolicy":
        arns = props.get("ManagedPolicyArns", []) if rtype == "AWS::IAM::Role" else []
        if not arns:
            return []  # the handler attaches nothing
        return [
            Request(
                action,
                _own_or_sample_role(rtype, logical, resolved),
                {**context, "iam:PolicyARN": a},
            )
            for a in arns
        ]
    requests = []
    for arn_format in info.arn_patterns:
        if arn_format.split(":")[2].startswith("${"):
            continue  # other services' namespaces (backup recovery points): none created
        for arn in _sample_arns(action, arn_format, rtype, logical, resolved, mode):
            requests.append(Request(action, arn, dict(context)))
    return requests


def _workload_boundary(resolved: Resolved) -> str:
    return resolved.value(
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${WorkloadBoundaryPolicy}"}
    )


def _own_or_sample_role(rtype: str, logical: str, resolved: Resolved) -> str:
    if rtype == "AWS::IAM::Role":
        return resolved.physical(logical)["Arn"]
    path = resolved.value({"Fn::Sub": derive.WORKLOAD_PATH})
    return f"arn:aws:iam::{resolved.account}:role{path}SampleRole"


def _sample_arns(
    action: str, arn_format: str, rtype: str, logical: str, resolved: Resolved, mode: Mode
) -> list[str]:
    """The ARNs one action is authorized against, as the platform's resources have them."""
    service = action.split(":")[0].lower()
    region, account = resolved.region, resolved.account
    base = (
        arn_format.replace("${Partition}", "aws")
        .replace("${Region}", region)
        .replace("${Account}", account)
        .replace("${AccountId}", account)
    )
    base = re.sub(r"\$\{[^}]+\}", "sample", base)
    if service == "s3":
        buckets = mode.buckets or ["s3-sample"]
        return [f"arn:aws:s3:::{b}" for b in buckets] + [
            f"arn:aws:s3:::{b}/sample-key" for b in buckets
        ]
    if service == "iam" and ":role/" in base:
        if action.lower() == "iam:createservicelinkedrole":
            return [
                f"arn:aws:iam::{account}:role/aws-service-role/ecs.amazonaws.com/"
                "AWSServiceRoleForECS"
            ]
        return [_own_or_sample_role(rtype, logical, resolved)]
    if service == "iam" and ":instance-profile/" in base:
        if rtype == "AWS::IAM::InstanceProfile":
            return [resolved.physical(logical)["Arn"]]
        path = resolved.value({"Fn::Sub": derive.WORKLOAD_PATH})
        return [f"arn:aws:iam::{account}:instance-profile{path}SampleProfile"]
    if service == "iam" and ":policy/" in base:
        path = resolved.value({"Fn::Sub": derive.WORKLOAD_PATH})
        return [f"arn:aws:iam::{account}:policy{path}SamplePolicy"]
    if service == "ssm" and ":parameter/" in base:
        return [
            f"arn:aws:ssm:{region}:{'' if n.startswith('/aws/') else account}:parameter{n}"
            for n in mode.ssm_parameters
        ] or [base.replace(".*", "sample")]
    if service == "cloudformation" and ":stack/" in base:
        return [
            f"arn:aws:cloudformation:{region}:{account}:stack/"
            f"{mode.nested_prefix}{logical}-SAMPLE/{STACKSET_UUID}"
        ]
    return [base.replace(".*", "sample")]


def bucket_names(tree: dict[str, dict], environment: str, region: str) -> list[str]:
    """The names the tree's buckets get in one environment and region."""
    names = []
    for template in tree.values():
        resolved = Resolved(template, {"Environment": environment}, region=region)
        for raw in template.get("Resources", {}).values():
            if raw["Type"] == "AWS::S3::Bucket" and "BucketName" in raw.get("Properties", {}):
                names.append(resolved.value(raw["Properties"]["BucketName"]))
    return sorted(set(names))


def _pass_role_requests(
    action: str,
    rtype: str,
    logical: str,
    resource: dict,
    resolved: Resolved,
    mode: Mode,
    own_arn: str,
) -> list[Request]:
    """PassRole of each role the resource names, to each service that role trusts; a
    nested stack passes the deploy role itself to CloudFormation (RoleARN)."""
    if rtype == "AWS::CloudFormation::Stack":
        if not mode.passes_itself:
            return []
        return [Request(action, own_arn, {"iam:PassedToService": "cloudformation.amazonaws.com"})]
    roles = _roles_named_in(resource, resolved)
    requests = []
    for role_logical in roles:
        role = resolved.raw["Resources"][role_logical]
        trust = resolved.value(role["Properties"].get("AssumeRolePolicyDocument", {}))
        for service in sorted(derive._trusted_services(trust)):
            requests.append(
                Request(
                    action, resolved.physical(role_logical)["Arn"], {"iam:PassedToService": service}
                )
            )
    return requests


def _roles_named_in(node, resolved: Resolved) -> list[str]:
    """Logical ids of the template's IAM roles whose ARN the (resolved) node contains."""
    text = repr(node)
    return [
        logical
        for logical, res in resolved.raw.get("Resources", {}).items()
        if res["Type"] == "AWS::IAM::Role" and resolved.physical(logical)["Arn"] in text
    ]


def _template_requests(
    template: dict, resolved: Resolved, mode: Mode, own_arn: str
) -> list[Request]:
    """What CloudFormation does for the template itself, as the deploy role."""
    requests = [
        Request("s3:GetObject", mode.templates_arn),
        Request(
            "kms:Decrypt", mode.key_arn, {"kms:ViaService": f"s3.{resolved.region}.amazonaws.com"}
        ),
    ]
    for param in template.get("Parameters", {}).values():
        if param.get("Type", "").startswith(derive.SSM_PARAMETER_TYPE) and "Default" in param:
            name = param["Default"]
            account = "" if name.startswith("/aws/") else resolved.account
            requests.append(
                Request(
                    "ssm:GetParameters", f"arn:aws:ssm:{resolved.region}:{account}:parameter{name}"
                )
            )
    for transform in derive.transforms({"t": template}):
        requests.append(
            Request(
                "cloudformation:CreateChangeSet",
                derive.transform_arn(transform, resolved.region, "aws"),
            )
        )
    if derive.DYNAMIC_SECRET.search(repr(template)):
        requests.append(
            Request(
                "secretsmanager:GetSecretValue",
                f"arn:aws:secretsmanager:{resolved.region}:{resolved.account}:"
                "secret:SampleSecret-AbCdEf",
            )
        )
    return requests


# -- escalation proof ----------------------------------------------------------------------
@dataclass(frozen=True)
class Path:
    """One way to more power, and what AWS must answer."""

    what: str
    request: Request
    allowed: bool = False  # a control case: the legitimate action that must work


def escalation_paths(role: Resolved, mode: Mode) -> list[Path]:
    account = role.account
    own = role.physical(mode.role)["Arn"]
    policies = [
        role.physical(p)["Ref"]
        for p in role.raw["Resources"]
        if role.raw["Resources"][p]["Type"] == "AWS::IAM::ManagedPolicy" and p != "WorkloadBoundary"
    ]
    boundary = (
        role.physical("WorkloadBoundary")["Ref"]
        if "WorkloadBoundary" in role.raw["Resources"]
        else f"arn:aws:iam::{account}:policy/no-workload-boundary-exists"
    )
    workload_path = Resolved(
        {"Parameters": {"Environment": {"Type": "String"}}},
        {"Environment": mode.parameters["Environment"]},
        region=role.region,
    ).value({"Fn::Sub": derive.WORKLOAD_PATH})
    workload_role = f"arn:aws:iam::{account}:role{workload_path}TaskRole-SAMPLE"
    bounded = {"iam:PermissionsBoundary": boundary}
    paths = [
        Path(
            "attach AdministratorAccess to its own role",
            Request("iam:AttachRolePolicy", own, {"iam:PolicyARN": ADMIN_POLICY}),
        ),
        Path("put an inline policy on its own role", Request("iam:PutRolePolicy", own)),
        Path("change its own trust policy", Request("iam:UpdateAssumeRolePolicy", own)),
        Path(
            "give its own role the boundary's place",
            Request("iam:PutRolePermissionsBoundary", own, bounded),
        ),
        Path("create a role without the boundary", Request("iam:CreateRole", workload_role)),
        Path(
            "create a role with another boundary",
            Request("iam:CreateRole", workload_role, {"iam:PermissionsBoundary": ADMIN_POLICY}),
        ),
        Path(
            "create a bounded role outside the workload path",
            Request("iam:CreateRole", f"arn:aws:iam::{account}:role/admin", bounded),
        ),
        Path(
            "attach AdministratorAccess to a workload role",
            Request(
                "iam:AttachRolePolicy", workload_role, {**bounded, "iam:PolicyARN": ADMIN_POLICY}
            ),
        ),
        Path(
            "remove a workload role's boundary",
            Request("iam:DeleteRolePermissionsBoundary", workload_role, bounded),
        ),
        Path(
            "replace a workload role's boundary",
            Request(
                "iam:PutRolePermissionsBoundary",
                workload_role,
                {"iam:PermissionsBoundary": ADMIN_POLICY},
            ),
        ),
        Path(
            "change the boundary (a new default version)",
            Request("iam:CreatePolicyVersion", boundary),
        ),
        Path(
            "switch the boundary to another version",
            Request("iam:SetDefaultPolicyVersion", boundary),
        ),
        Path("delete the boundary", Request("iam:DeletePolicy", boundary)),
        Path(
            "pass an unbounded role to Lambda",
            Request("iam:PassRole", FOREIGN_ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}),
        ),
        Path(
            "pass an unbounded role to ECS",
            Request(
                "iam:PassRole", FOREIGN_ROLE, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
            ),
        ),
        Path(
            "pass itself to ECS",
            Request("iam:PassRole", own, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
        ),
        Path(
            "pass a workload role to a service that uses none",
            Request("iam:PassRole", workload_role, {"iam:PassedToService": "glue.amazonaws.com"}),
        ),
        Path(
            "create an IAM user", Request("iam:CreateUser", f"arn:aws:iam::{account}:user/backdoor")
        ),
        Path(
            "create an access key",
            Request("iam:CreateAccessKey", f"arn:aws:iam::{account}:user/backdoor"),
        ),
        Path("assume another role", Request("sts:AssumeRole", FOREIGN_ROLE)),
        # Control cases: what the deploy role must still do.
        Path(
            "create a workload role with the boundary",
            Request("iam:CreateRole", workload_role, bounded),
            allowed=True,
        ),
        Path(
            "put an inline policy on a bounded workload role",
            Request("iam:PutRolePolicy", workload_role, bounded),
            allowed=True,
        ),
        Path(
            "pass a workload role to ECS tasks",
            Request(
                "iam:PassRole", workload_role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
            ),
            allowed=True,
        ),
    ]
    for policy in policies:
        paths += [
            Path(
                f"create a policy version of its own policy {policy.rsplit('/', 1)[-1]}",
                Request("iam:CreatePolicyVersion", policy),
            ),
            Path(
                f"detach its own policy {policy.rsplit('/', 1)[-1]}",
                Request("iam:DetachRolePolicy", own, {"iam:PolicyARN": policy}),
            ),
        ]
    if mode.passes_itself:
        paths.append(
            Path(
                "pass itself to CloudFormation for nested stacks",
                Request(
                    "iam:PassRole", own, {"iam:PassedToService": "cloudformation.amazonaws.com"}
                ),
                allowed=True,
            )
        )
    return paths


def escalation(role_template: dict, mode: Mode) -> tuple[list[str], list[tuple[Path, str]]]:
    """(findings, every path with AWS's answer)."""
    role = _role(role_template, mode, mode.regions[0])
    policies = role_policies(role, mode.role)
    findings, results = [], []
    for path in escalation_paths(role, mode):
        answer = policies.decide(path.request)
        results.append((path, answer))
        if (answer == "Allow") != path.allowed:
            verb = "denied" if path.allowed else "allowed"
            findings.append(
                f"{mode.template}: the {mode.name} is {verb} to {path.what} "
                f"({path.request.describe()}); "
                + (
                    "it needs this to deploy the platform"
                    if path.allowed
                    else "that is a way to more power: deny it in streamstack/identity/derive.py"
                )
            )
    return findings, results


# -- boundary proof ------------------------------------------------------------------------
def boundary(tree: dict[str, dict], role_template: dict, mode: Mode, environment: str) -> list[str]:
    """Every workload role carries the boundary under the workload path, and the boundary
    allows what the role's policies grant."""
    role = _role(role_template, mode, mode.regions[0])
    boundary_policy = role.resources("AWS::IAM::ManagedPolicy").get("WorkloadBoundary")
    if boundary_policy is None:
        return [
            f"{mode.template}: there is no WorkloadBoundary policy; workload roles would "
            "be unbounded: create it"
        ]
    bounds = PolicySet.of([boundary_policy["Properties"]["PolicyDocument"]], "boundary")
    expected = role.physical("WorkloadBoundary")["Ref"]
    name = _boundary_output(role)
    findings = []
    for template_name, template in sorted(tree.items()):
        resolved = Resolved(
            template,
            {"Environment": environment, "WorkloadBoundaryPolicy": name},
            region=role.region,
        )
        path = resolved.value({"Fn::Sub": derive.WORKLOAD_PATH})
        for logical, raw in sorted(template.get("Resources", {}).items()):
            if raw["Type"] != "AWS::IAM::Role":
                continue
            props = resolved.value(raw).get("Properties", {})
            where = f"{template_name}: role {logical}"
            if props.get("PermissionsBoundary") != expected:
                findings.append(
                    f"{where} has no workload boundary ({expected}): build it "
                    "with templates.parts.workload_role"
                )
            if props.get("Path") != path:
                findings.append(
                    f"{where} is not under the workload path {path}: build it "
                    "with templates.parts.workload_role"
                )
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
            documents += [managed_policies.document(a) for a in props.get("ManagedPolicyArns", [])]
            for document in documents:
                for statement in derive._statements_of(document):
                    if statement.get("Effect") != "Allow":
                        continue
                    for action in derive._list(statement.get("Action")):
                        for concrete in awsdata.expand(action):
                            for resource in derive._list(statement.get("Resource", "*")):
                                if bounds.decide(Request(concrete, str(resource))) != "Allow":
                                    findings.append(
                                        f"{where}: the workload boundary does not allow "
                                        f"{concrete} on {resource}, which its policy grants: "
                                        f"{FIX}"
                                    )
    return findings
