"""The deploy identity's policies, computed from the built templates.

What CloudFormation may do is derived, never listed by hand: the resource types the
templates use, each type's handler permissions (create, read, update, delete) from the
provider schemas, and IAM's policy data for how each action can be scoped:

- an action without resource-level permissions is granted on "*" (AWS authorizes it
  against nothing else);
- any other action is granted on the ARN formats of the resource types it applies to,
  in this partition, account and region (a StackSet role: any region of its account);
- S3, whose bucket ARNs carry no account, only on the bucket names the templates give;
  CloudFormation stacks only on the platform's stack names;
- IAM only on the platform's workload roles (their Path), and only with the workload
  permissions boundary wherever IAM can require it (iam:PermissionsBoundary), passing
  roles only to the services that trust them, attaching only the managed policies the
  templates attach. Explicit denies keep the deploy identity away from its own role,
  its own policies and the boundary, and nothing may remove a boundary.

The workload boundary is derived the same way from the platform's own roles: exactly
the actions their policies grant.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from streamstack.identity import awsdata
from templates.base import DEPLOY_PATH, WORKLOAD_PATH

# IAM's size limit for a managed policy (characters, whitespace not counted), and the
# default number of managed policies a role may carry.
MANAGED_POLICY_CHARS = 6144
MANAGED_POLICIES_PER_ROLE = 10
# The longest values the ARNs take when IAM receives the policy (for the size check).
LONGEST = {
    "${AWS::Partition}": "aws-us-gov",
    "${AWS::Region}": "ap-southeast-7x",
    "${AWS::AccountId}": "123456789012",
    "${Environment}": "staging",
    "${PlatformStackName}": "x" * 64,
    "${StackSetName}": "x" * 64,
}

# IAM actions that accept the iam:PermissionsBoundary condition key (IAM's Service
# Authorization Reference): each is allowed only with the workload boundary in place.
BOUNDARY_CONDITIONED = frozenset(
    {
        "iam:createrole",
        "iam:putrolepolicy",
        "iam:attachrolepolicy",
        "iam:detachrolepolicy",
        "iam:deleterolepolicy",
        "iam:putrolepermissionsboundary",
    }
)
# Never granted, although a handler lists it: removing a boundary (the Role update
# handler, when a boundary is dropped), reading Windows instances' administrator
# passwords (part of the AutoScalingGroup handler's ec2:Get*; the platform's instances
# run Linux) and assuming a role (the CloudFront VpcOrigin handlers list sts:AssumeRole;
# CloudFront works through its service-linked role, which only CloudFront may assume).
NEVER = frozenset({"iam:deleterolepermissionsboundary", "ec2:getpassworddata", "sts:assumerole"})
# What CloudFormation does as the stack's role without a handler that lists it: it
# invokes a custom resource's function (ServiceToken) itself.
EXTRA = {"AWS::CloudFormation::CustomResource": ("lambda:InvokeFunction",)}
# PassRole is checked against the service that receives the role; for these trust
# principals the receiving service answers with its own name as well.
PASSED_TO_ALSO = {
    "monitoring.rds.amazonaws.com": ("rds.amazonaws.com",),
    "vpc-flow-logs.amazonaws.com": ("ec2.amazonaws.com",),
}
SERVICE_LINKED_ROLES = "role/aws-service-role/*"
# Services whose resources are scoped by the platform's names rather than the account.
NAMED_SERVICES = frozenset({"s3", "iam", "cloudformation", "ssm"})

# What CloudFormation itself does around the resources (beyond their handlers).
SSM_PARAMETER_TYPE = "AWS::SSM::Parameter::Value<"
DYNAMIC_SECRET = re.compile(r"\{\{resolve:secretsmanager:")


@dataclass(frozen=True)
class Scope:
    """Where a deploy identity works, as Fn::Sub fragments of its own template."""

    region: str  # "${AWS::Region}", or "*" for a StackSet role
    stacks: tuple[str, ...]  # stack name patterns (after "stack/")
    workload_path: str  # Path of the roles it creates, as a pattern
    boundary: dict  # the workload boundary's ARN (an intrinsic)
    protected: tuple[str, ...]  # IAM ARN patterns it must never change
    passes_itself_to_cloudformation: bool = False  # RoleARN: nested stacks pass it on
    own_role: dict | None = None  # its own ARN, when it passes itself
    extra: tuple[dict, ...] = ()  # statements the deploy mode needs besides handlers


@dataclass
class Needs:
    """What the built templates ask of a deploy identity."""

    types: dict[str, list[str]] = field(default_factory=dict)  # type -> templates
    actions: dict[str, set[str]] = field(default_factory=dict)  # action -> types
    buckets: list[str] = field(default_factory=list)  # bucket name Subs
    passed_to: set[str] = field(default_factory=set)  # services roles go to
    attached_policies: list[str] = field(default_factory=list)  # managed policy ARN Subs
    ssm_parameters: list[str] = field(default_factory=list)  # parameter names
    dynamic_secrets: bool = False
    transforms: list[str] = field(default_factory=list)  # e.g. AWS::LanguageExtensions


def needs(templates: dict[str, dict]) -> Needs:
    """Resource types, their handler actions, and the names the policies scope to."""
    found = Needs()
    for name, template in sorted(templates.items()):
        for logical, resource in sorted(template.get("Resources", {}).items()):
            rtype = resource["Type"]
            found.types.setdefault(rtype, [])
            if name not in found.types[rtype]:
                found.types[rtype].append(name)
            props = resource.get("Properties", {})
            if rtype == "AWS::S3::Bucket":
                bucket = _sub_text(props.get("BucketName"))
                if bucket is None:
                    raise ValueError(
                        f"{name}: bucket {logical} has no BucketName; the deploy "
                        "identity is scoped to named buckets: name it"
                    )
                if bucket not in found.buckets:
                    found.buckets.append(bucket)
            if rtype == "AWS::IAM::Role":
                found.passed_to |= _trusted_services(props.get("AssumeRolePolicyDocument", {}))
                for arn in props.get("ManagedPolicyArns", []):
                    text = _sub_text(arn)
                    if text is None:
                        raise ValueError(
                            f"{name}: role {logical} attaches a managed policy "
                            "that is not a literal or Fn::Sub ARN"
                        )
                    if text not in found.attached_policies:
                        found.attached_policies.append(text)
        for parameter in ssm_parameters({name: template}):
            if parameter not in found.ssm_parameters:
                found.ssm_parameters.append(parameter)
        if DYNAMIC_SECRET.search(json.dumps(template)):
            found.dynamic_secrets = True
        for transform in transforms({name: template}):
            if transform not in found.transforms:
                found.transforms.append(transform)
    spellings: dict[str, str] = {}
    for rtype in found.types:
        for actions in (*awsdata.handler_permissions(rtype).values(), EXTRA.get(rtype, ())):
            for action in actions:
                for granted in _granted(action):
                    # IAM actions are case-insensitive; keep the first spelling.
                    name = spellings.setdefault(granted.lower(), granted)
                    found.actions.setdefault(name, set()).add(rtype)
    return found


def _granted(action: str) -> tuple[str, ...]:
    """What to grant for one handler action: a handler's wildcard (ec2:Describe*) stays
    one action when none of the actions it matches has resource-level permissions (it
    is granted on "*" either way); otherwise the concrete actions, each scoped. A name
    IAM's data does not know is an API name, not an IAM action (s3:DeleteBucketCors,
    s3:REST.PUT.OBJECT): IAM never asks for it, so nothing is granted, unless it is the
    stem of IAM actions (kms:ReEncrypt: ReEncryptFrom and ReEncryptTo)."""
    concrete = awsdata.expand(action)
    if len(concrete) == 1 and not awsdata.action_info(concrete[0]).known:
        stem = awsdata.expand(action + "*")
        return stem if awsdata.action_info(stem[0]).known else ()
    if len(concrete) > 1 and not any(awsdata.action_info(a).resource_level for a in concrete):
        return (action,)
    return concrete


def unknown_actions(templates: dict[str, dict]) -> list[str]:
    """Handler actions of the templates' types that are no IAM action (see _granted)."""
    types = {r["Type"] for t in templates.values() for r in t.get("Resources", {}).values()}
    return sorted(
        {
            a
            for t in types
            for names in awsdata.handler_permissions(t).values()
            for a in names
            if not _granted(a)
        },
        key=str.lower,
    )


def transforms(templates: dict[str, dict]) -> list[str]:
    """The transforms (macros run by CloudFormation) the templates declare."""
    found: list[str] = []
    for template in templates.values():
        for name in _list(template.get("Transform")):
            if isinstance(name, str) and name not in found:
                found.append(name)
    return found


def transform_arn(name: str, region: str, partition: str = "${AWS::Partition}") -> str:
    """What CreateChangeSet is authorized against for a template with this transform."""
    return f"arn:{partition}:cloudformation:{region}:aws:transform/{name.removeprefix('AWS::')}"


def ssm_parameters(templates: dict[str, dict]) -> list[str]:
    """Names of the SSM parameters the templates' SSM-typed parameters resolve."""
    names: list[str] = []
    for template in templates.values():
        for param in template.get("Parameters", {}).values():
            if (
                param.get("Type", "").startswith(SSM_PARAMETER_TYPE)
                and "Default" in param
                and param["Default"] not in names
            ):
                names.append(param["Default"])
    return names


def _sub_text(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]
    return None


def _trusted_services(document: dict) -> set[str]:
    services = set()
    for statement in document.get("Statement", []):
        principal = statement.get("Principal", {})
        if isinstance(principal, dict):
            for service in _list(principal.get("Service")):
                if isinstance(service, str):
                    services.add(service)
                    services.update(PASSED_TO_ALSO.get(service, ()))
    return services


def _list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# -- statements ----------------------------------------------------------------------------
def _sub(text: str) -> dict:
    return {"Fn::Sub": text}


def _resources(action: str, info: awsdata.ActionInfo, need: Needs, scope: Scope) -> list:
    """The Resource list of one resource-level action (Fn::Sub values)."""
    service = action.split(":")[0].lower()
    patterns: list[str] = []

    def add(pattern: str) -> None:
        if pattern not in patterns:
            patterns.append(pattern)

    for arn_format in info.arn_patterns:
        pattern = awsdata.arn_pattern(
            arn_format,
            partition="${AWS::Partition}",
            region=scope.region,
            account="${AWS::AccountId}",
        )
        pattern = re.sub(r"\$\{(?!AWS::)[^}]+\}", "*", pattern)
        if service == "s3":
            for bucket in need.buckets:
                bucket = bucket.replace("${AWS::Region}", scope.region)
                add(f"arn:${{AWS::Partition}}:s3:::{bucket}")
                add(f"arn:${{AWS::Partition}}:s3:::{bucket}/*")
        elif service == "iam" and ":role/" in pattern:
            if action.lower() == "iam:createservicelinkedrole":
                add(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:{SERVICE_LINKED_ROLES}")
            else:
                add(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{scope.workload_path}*")
        elif service == "iam" and (":policy/" in pattern or ":instance-profile/" in pattern):
            kind = "policy" if ":policy/" in pattern else "instance-profile"
            add(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:{kind}{scope.workload_path}*")
        elif service == "ssm" and ":parameter/" in pattern:
            # The parameters the templates resolve (none: the platform's own prefix).
            for name in need.ssm_parameters or ["/streamstack/${Environment}/*"]:
                add(_ssm_arn(name, scope))
        elif service == "cloudformation" and ":stack/" in pattern:
            for stack in scope.stacks:
                add(pattern.replace("stack/*", f"stack/{stack}/*"))
        else:
            # Any resource of the service in this account and region: naming each
            # resource type would only repeat that scope (ec2:CreateTags lists 106).
            # (IAM allows no wildcard in the service segment.)
            parts = arn_format.split(":", 5)
            if parts[2].startswith("${"):
                # A resource type living in other services' namespaces (backup's recovery
                # points: arn:${Partition}:${Vendor}:...): CloudFormation creates none.
                continue
            region = scope.region if parts[3] else ""
            account = (
                ""
                if not parts[4]
                else "${AWS::AccountId}"
                if parts[4] in ("${Account}", "${AccountId}")
                else "*"
            )
            add(f"arn:${{AWS::Partition}}:{parts[2]}:{region}:{account}:*")
    return [_sub(p) for p in patterns]


def _conditions(action: str, need: Needs, scope: Scope) -> dict:
    lowered = action.lower()
    condition: dict = {}
    if lowered in BOUNDARY_CONDITIONED:
        condition.setdefault("StringEquals", {})["iam:PermissionsBoundary"] = scope.boundary
    if lowered == "iam:attachrolepolicy":
        condition["ArnEquals"] = {"iam:PolicyARN": [_sub(a) for a in need.attached_policies]}
    if lowered == "iam:passrole":
        condition.setdefault("StringEquals", {})["iam:PassedToService"] = sorted(need.passed_to)
    return condition


def statements(need: Needs, scope: Scope) -> list[dict]:
    """Allow and Deny statements for one deploy identity, deterministic and grouped.

    Actions without resource-level permissions share one statement on "*"; actions
    scoped to this account and region share one statement whose resources are the ARN
    shapes of them all (a service wildcard widens nothing, see _resources); the actions
    of the named services (S3, IAM, CloudFormation) and conditioned ones get a statement
    per (resources, condition)."""
    unscoped: list[str] = []
    account: dict[str, list] = {}
    named: dict[tuple, list[str]] = {}
    for action in sorted(need.actions, key=str.lower):
        if action.lower() in NEVER:
            continue
        if action.lower() == "iam:attachrolepolicy" and not need.attached_policies:
            continue
        info = awsdata.action_info(action)
        service = action.split(":")[0].lower()
        if not info.resource_level:
            unscoped.append(action)
            continue
        resources = _resources(action, info, need, scope)
        condition = _conditions(action, need, scope)
        if service in NAMED_SERVICES or condition:
            key = (
                service,
                json.dumps(resources, sort_keys=True),
                json.dumps(condition, sort_keys=True),
            )
            named.setdefault(key, []).append(action)
        else:
            account[action] = resources
    out = (
        [
            {
                "Sid": "NoResourceLevelPermissions",
                "Effect": "Allow",
                "Action": unscoped,
                "Resource": ["*"],
            }
        ]
        if unscoped
        else []
    )
    by_scope: dict[str, list[str]] = {}
    for action, resources in account.items():
        by_scope.setdefault(json.dumps(resources, sort_keys=True), []).append(action)
    for resources, actions in sorted(by_scope.items()):
        services = sorted({a.split(":")[0].lower() for a in actions})
        out.append(
            {
                "Sid": "".join(_sid(s) for s in services) + "InThisAccount",
                "Effect": "Allow",
                "Action": sorted(actions, key=str.lower),
                "Resource": json.loads(resources),
            }
        )
    for (service, resources, condition), actions in sorted(named.items()):
        statement = {
            "Sid": _sid(service) + _named_scope(resources),
            "Effect": "Allow",
            "Action": sorted(actions, key=str.lower),
            "Resource": json.loads(resources),
        }
        if condition != "{}":
            statement["Condition"] = json.loads(condition)
        out.append(statement)
    out += _mode_statements(need, scope)
    out += _denies(scope)
    _unique_sids(out)
    return out


def _named_scope(resources: str) -> str:
    for marker, name in (
        (":role/aws-service-role", "ServiceLinkedRoles"),
        (":role/", "WorkloadRoles"),
        (":policy/", "WorkloadPolicies"),
        (":instance-profile/", "InstanceProfiles"),
        (":stack/", "PlatformStacks"),
        (":s3:::", "PlatformBuckets"),
        (":parameter/", "PlatformParameters"),
    ):
        if marker in resources:
            return name
    return "Named"


def _unique_sids(statements: list[dict]) -> None:
    """Number repeated Sids (IAM wants them unique within a policy)."""
    seen: dict[str, int] = {}
    for statement in statements:
        base = statement["Sid"]
        seen[base] = seen.get(base, 0) + 1
    counters: dict[str, int] = {}
    for statement in statements:
        base = statement["Sid"]
        if seen[base] > 1:
            counters[base] = counters.get(base, 0) + 1
            statement["Sid"] = f"{base}{counters[base]}"


def _sid(service: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", service))


def _mode_statements(need: Needs, scope: Scope) -> list[dict]:
    """What CloudFormation does around the handlers: resolve SSM parameter types and
    secret dynamic references, and pass itself on to nested stacks."""
    out = list(scope.extra)
    if need.ssm_parameters:
        out.append(
            {
                "Sid": "ResolveSsmParameterTypes",
                "Effect": "Allow",
                "Action": ["ssm:GetParameters"],
                "Resource": [_sub(_ssm_arn(name, scope)) for name in need.ssm_parameters],
            }
        )
    if need.dynamic_secrets:
        out.append(
            {
                "Sid": "ResolveSecretReferences",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [
                    _sub(
                        "arn:${AWS::Partition}:secretsmanager:"
                        + scope.region
                        + ":${AWS::AccountId}:secret:*"
                    )
                ],
            }
        )
    if need.transforms:
        out.append(
            {
                "Sid": "RunTemplateTransforms",
                "Effect": "Allow",
                "Action": ["cloudformation:CreateChangeSet"],
                "Resource": [_sub(transform_arn(t, scope.region)) for t in need.transforms],
            }
        )
    if scope.passes_itself_to_cloudformation:
        out.append(
            {
                "Sid": "PassItselfToNestedStacks",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [scope.own_role],
                "Condition": {
                    "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
                },
            }
        )
    return out


def _ssm_arn(name: str, scope: Scope) -> str:
    # AWS's public parameters (/aws/service/...) belong to no account.
    account = "" if name.startswith("/aws/") else "${AWS::AccountId}"
    return f"arn:${{AWS::Partition}}:ssm:{scope.region}:{account}:parameter{name}"


def _denies(scope: Scope) -> list[dict]:
    protected = [_sub(p) for p in scope.protected]
    return [
        {
            "Sid": "DenyChangingTheDeployIdentity",
            "Effect": "Deny",
            "NotAction": ["iam:Get*", "iam:List*", "iam:PassRole"],
            "Resource": protected,
        },
        {
            "Sid": "DenyPassingTheDeployIdentity",
            "Effect": "Deny",
            "Action": ["iam:PassRole"],
            "Resource": protected,
            "Condition": {
                "StringNotEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}
            },
        },
        {
            "Sid": "DenyRemovingBoundaries",
            "Effect": "Deny",
            "Action": ["iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary"],
            "Resource": ["*"],
        },
    ]


# -- the workload boundary -------------------------------------------------------------------
def workload_actions(templates: dict[str, dict]) -> list[str]:
    """Every action the platform's own roles are granted (their inline policies and the
    AWS managed policies they attach), wildcards expanded, sorted."""
    from streamstack.identity import managed_policies

    actions: set[str] = set()
    for template in templates.values():
        for resource in template.get("Resources", {}).values():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            props = resource.get("Properties", {})
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
            documents += [
                managed_policies.document(_sub_text(a)) for a in props.get("ManagedPolicyArns", [])
            ]
            for document in documents:
                for statement in _statements_of(document):
                    if statement.get("Effect") != "Allow":
                        continue
                    for action in _list(statement.get("Action")):
                        actions.update(awsdata.expand(action))
    return sorted(actions, key=str.lower)


def _statements_of(document) -> list[dict]:
    """Statements of a policy document, both branches of any Fn::If."""
    out = []
    for statement in _list(document.get("Statement")):
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
            for branch in statement["Fn::If"][1:]:
                if isinstance(branch, dict) and "Effect" in branch:
                    out.append(branch)
        else:
            out.append(statement)
    return out


def boundary_statements(templates: dict[str, dict]) -> list[dict]:
    """The workload boundary: at most the actions the platform's roles use. Resources
    stay "*" (the roles' own policies scope them; some, like image pulls and public
    parameters, live outside the account)."""
    actions = workload_actions(templates)
    by_service: dict[str, list[str]] = {}
    for action in actions:
        by_service.setdefault(action.split(":")[0].lower(), []).append(action)
    statements = [
        {"Sid": "Workload" + _sid(service), "Effect": "Allow", "Action": names, "Resource": "*"}
        for service, names in sorted(by_service.items())
    ]
    # No workload role: the boundary allows nothing (IAM refuses an empty policy).
    return statements or [
        {"Sid": "NoWorkloadRoles", "Effect": "Deny", "Action": "*", "Resource": "*"}
    ]


# -- packing into managed policies ----------------------------------------------------------
def resolved_size(node) -> int:
    """Characters IAM counts for a policy fragment, with the longest pseudo values."""
    text = json.dumps(node, separators=(",", ":"), sort_keys=True)
    for name, value in LONGEST.items():
        text = text.replace(name, value)
    text = re.sub(r'\{"Fn::Sub":("[^"]*")\}', r"\1", text)
    text = re.sub(r'\{"Ref":"[^"]*"\}', '"' + "x" * 128 + '"', text)
    return len(text)


def pack(all_statements: list[dict], limit: int = MANAGED_POLICY_CHARS) -> list[list[dict]]:
    """Statements into as few managed policies as fit IAM's size limit, in order; a
    statement too large for one policy is split by its actions."""
    envelope = resolved_size({"Version": "2012-10-17", "Statement": []})
    policies: list[list[dict]] = [[]]
    used = envelope
    for statement in _split(all_statements, limit - envelope):
        size = resolved_size(statement) + 1
        if used + size > limit and policies[-1]:
            policies.append([])
            used = envelope
        policies[-1].append(statement)
        used += size
    return policies


def _split(all_statements: list[dict], room: int) -> list[dict]:
    out = []
    for statement in all_statements:
        if resolved_size(statement) <= room or "Action" not in statement:
            out.append(statement)
            continue
        actions, part = list(statement["Action"]), 1
        while actions:
            # Measured with the Sid it gets: the suffix counts against the limit too.
            piece = {**statement, "Sid": f"{statement['Sid']}Part{part}"}
            chunk: list[str] = []
            while actions and resolved_size({**piece, "Action": chunk + actions[:1]}) <= room:
                chunk.append(actions.pop(0))
            if not chunk:
                raise ValueError(f"statement {statement.get('Sid')} does not fit a managed policy")
            out.append({**piece, "Action": chunk})
            part += 1
    return out


# -- the two deploy identities ---------------------------------------------------------------
def execution_scope() -> Scope:
    """The CloudFormation execution role (templates/deploy_role.py): one account
    and region, the root stack named by PlatformStackName, passed as RoleARN."""
    from templates.deploy_role import EXECUTION_PATH, NESTED_STACKS
    from templates.parts.deploy import PULL_REQUEST_PREFIX, TEMPLATES_PREFIX

    bucket = "arn:${AWS::Partition}:s3:::${ArtifactBucketName}/"
    templates = [
        _sub(bucket + TEMPLATES_PREFIX + "*"),
        _sub(bucket + PULL_REQUEST_PREFIX + TEMPLATES_PREFIX + "*"),
    ]
    return Scope(
        region="${AWS::Region}",
        stacks=("${PlatformStackName}", NESTED_STACKS),
        workload_path=WORKLOAD_PATH,
        boundary={"Ref": "WorkloadBoundary"},
        protected=(
            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{DEPLOY_PATH}*",
            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy{DEPLOY_PATH}*",
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/AWSCloudFormationStackSet*",
        ),
        passes_itself_to_cloudformation=True,
        own_role=_sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{EXECUTION_PATH}*"),
        extra=(
            {
                "Sid": "ReadNestedTemplates",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": templates,
            },
            {
                "Sid": "DecryptNestedTemplates",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": [{"Ref": "ArtifactKeyArn"}],
            },
            # A secret's replica in the standby region is encrypted with the standby
            # stack's key there, on the caller's behalf (ReplicateSecretToRegions): the
            # one use of a key outside this region, and only through Secrets Manager.
            {
                "Sid": "EncryptSecretReplicas",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": [_sub("arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*")],
                "Condition": {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}},
            },
        ),
    )


# What StackSets does on an instance stack in a target account, with the execution role.
STACKSET_STACK_ACTIONS = (
    "cloudformation:CreateStack",
    "cloudformation:UpdateStack",
    "cloudformation:DeleteStack",
    "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents",
    "cloudformation:DescribeStackResource",
    "cloudformation:DescribeStackResources",
    "cloudformation:ListStackResources",
    "cloudformation:GetTemplate",
    "cloudformation:GetTemplateSummary",
    "cloudformation:DetectStackDrift",
    "cloudformation:DetectStackResourceDrift",
    "cloudformation:DescribeStackResourceDrifts",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:TagResource",
    "cloudformation:UntagResource",
)
STACKSET_ANY_ACTIONS = (
    "cloudformation:DescribeStackDriftDetectionStatus",
    "cloudformation:ValidateTemplate",
)


def stackset_scope() -> Scope:
    """The StackSet execution role of a target account (templates/stackset_role.py): any
    region of its account, the stack set's instance stacks, no RoleARN."""
    workload = WORKLOAD_PATH.replace("${AWS::Region}", "*")
    stacks = _sub(
        "arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:"
        "stack/StackSet-${StackSetName}-*/*"
    )
    return Scope(
        region="*",
        stacks=("StackSet-${StackSetName}-*",),
        workload_path=workload,
        boundary={"Ref": "WorkloadBoundary"},
        protected=(
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${ExecutionRoleName}",
            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{DEPLOY_PATH}*",
            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy{DEPLOY_PATH}*",
        ),
        extra=(
            {
                "Sid": "InstanceStacks",
                "Effect": "Allow",
                "Action": list(STACKSET_STACK_ACTIONS),
                "Resource": [stacks],
            },
            {
                "Sid": "StackReads",
                "Effect": "Allow",
                "Action": list(STACKSET_ANY_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "ReadCentralTemplates",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [_sub("arn:${AWS::Partition}:s3:::${ArtifactBucketName}/templates/*")],
            },
            {
                "Sid": "DecryptCentralTemplates",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": [_sub("${ArtifactKeyArn}")],
            },
        ),
    )


def digest(policies: list[list[dict]], boundary: list[dict]) -> str:
    import hashlib

    text = json.dumps({"policies": policies, "boundary": boundary}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def identity(deployed: dict[str, dict], workloads: dict[str, dict], scope: Scope):
    """The DeployIdentity a deploy role's template embeds: its policies (packed into
    managed policies), the workload boundary, their digest and the SSM parameters the
    templates resolve. Raises ValueError when IAM's limits cannot hold it."""
    from templates.parts.deploy import DeployIdentity

    need = needs(deployed)
    policies = pack(statements(need, scope))
    if len(policies) > MANAGED_POLICIES_PER_ROLE:
        raise ValueError(
            f"the derived deploy policy needs {len(policies)} managed policies, "
            f"more than the {MANAGED_POLICIES_PER_ROLE} a role may carry"
        )
    boundary = boundary_statements(workloads)
    if len(pack(boundary)) > 1:
        raise ValueError(
            f"the workload boundary is {resolved_size(boundary)} characters, more "
            f"than one managed policy holds ({MANAGED_POLICY_CHARS})"
        )
    return DeployIdentity(
        policies=policies,
        boundary=boundary,
        digest=digest(policies, boundary),
        ssm_parameters=list(need.ssm_parameters),
    )
