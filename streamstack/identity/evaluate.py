"""IAM as AWS evaluates it, over rendered templates.

`Resolved` turns a rendered template into what CloudFormation would create for one set
of parameter values: conditions decided, Fn::If branches taken, Ref/Fn::GetAtt/Fn::Sub/
Fn::Join resolved, with sample physical names for the template's own resources (the
names CloudFormation would generate: `<logical id>-SAMPLE`, under the role's Path).

`PolicySet` evaluates a request (action, resource ARN, condition context) against a set
of statements the way IAM does: an explicit Deny wins, then any Allow, else the implicit
deny. Action, NotAction, Resource and NotResource take wildcards; the condition
operators the platform's policies use are implemented, and an operator this module does
not know is an error, never a silent match. A permissions boundary is a second
PolicySet that must allow the request too.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field

SAMPLE_ACCOUNT = "123456789012"
SAMPLE_PARTITION = "aws"
SAMPLE_SUFFIX = "SAMPLE"
NO_VALUE = object()


class EvaluationError(ValueError):
    """A template or policy this evaluator cannot decide (a bug to fix, never a pass)."""


# -- templates ---------------------------------------------------------------------------
class Resolved:
    """A template resolved for one set of parameter values (see the module docstring)."""

    def __init__(
        self,
        template: dict,
        parameters: dict[str, str] | None = None,
        *,
        region: str = "us-west-2",
        account: str = SAMPLE_ACCOUNT,
        stack_name: str = "streamstack-sample",
    ) -> None:
        self.raw = template
        self.region, self.account = region, account
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": SAMPLE_PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/"
            f"{stack_name}/00000000-0000-0000-0000-000000000000",
        }
        self.parameters: dict[str, object] = {}
        for name, spec in template.get("Parameters", {}).items():
            given = (parameters or {}).get(name, spec.get("Default"))
            if given is None:
                given = f"{name}-{SAMPLE_SUFFIX}"
            value = str(given).lower() if isinstance(given, bool) else str(given)
            is_list = spec.get("Type", "").startswith(("CommaDelimitedList", "List<"))
            self.parameters[name] = (
                ([v.strip() for v in value.split(",")] if value else []) if is_list else value
            )
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions", {}):
            self.condition(name)
        self._physical: dict[str, dict[str, str]] = {}

    # -- conditions --------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self._decide(self.raw["Conditions"][name]))
        return self.conditions[name]

    def _decide(self, node) -> bool:
        ((fn, arg),) = node.items()
        if fn == "Fn::Equals":
            left, right = (self.value(a) for a in arg)
            return _text(left) == _text(right)
        if fn == "Fn::Not":
            return not self._decide(arg[0])
        if fn == "Fn::And":
            return all(self._decide(a) for a in arg)
        if fn == "Fn::Or":
            return any(self._decide(a) for a in arg)
        if fn == "Condition":
            return self.condition(arg)
        raise EvaluationError(f"condition function {fn} is not supported")

    # -- resources ---------------------------------------------------------------
    def exists(self, logical: str) -> bool:
        condition = self.raw["Resources"][logical].get("Condition")
        return condition is None or self.condition(condition)

    def resources(self, resource_type: str | None = None) -> dict[str, dict]:
        """Resources that exist under these parameters, resolved."""
        return {
            logical: self.value(res)
            for logical, res in self.raw.get("Resources", {}).items()
            if (resource_type is None or res["Type"] == resource_type) and self.exists(logical)
        }

    def physical(self, logical: str) -> dict[str, str]:
        """Sample Ref and attribute values of one of this template's resources."""
        if logical not in self._physical:
            self._physical[logical] = {}  # guards against self-reference
            self._physical[logical] = self._sample(logical)
        return self._physical[logical]

    def _sample(self, logical: str) -> dict[str, str]:
        resource = self.raw["Resources"].get(logical)
        if resource is None:
            raise EvaluationError(f"Ref/GetAtt to {logical}, which the template does not declare")
        rtype = resource["Type"]
        props = resource.get("Properties", {})
        region, account = self.region, self.account
        # CloudFormation's generated names: <stack name>-<logical id>-<random>.
        name = f"{self.pseudo['AWS::StackName']}-{logical}-{SAMPLE_SUFFIX}"
        if rtype == "AWS::IAM::Role":
            path = self.value(props.get("Path", "/"))
            role = self.value(props["RoleName"]) if "RoleName" in props else name
            return {
                "Ref": role,
                "Arn": f"arn:aws:iam::{account}:role{path}{role}",
                "RoleId": f"AROA{SAMPLE_SUFFIX}",
            }
        if rtype == "AWS::IAM::ManagedPolicy":
            path = self.value(props.get("Path", "/"))
            policy = (
                self.value(props["ManagedPolicyName"]) if "ManagedPolicyName" in props else name
            )
            arn = f"arn:aws:iam::{account}:policy{path}{policy}"
            return {"Ref": arn, "PolicyArn": arn}
        if rtype == "AWS::IAM::InstanceProfile":
            path = self.value(props.get("Path", "/"))
            return {"Ref": name, "Arn": f"arn:aws:iam::{account}:instance-profile{path}{name}"}
        if rtype == "AWS::S3::Bucket":
            bucket = self.value(props["BucketName"]) if "BucketName" in props else name.lower()
            return {
                "Ref": bucket,
                "Arn": f"arn:aws:s3:::{bucket}",
                "DomainName": f"{bucket}.s3.amazonaws.com",
                "RegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com",
            }
        if rtype == "AWS::KMS::Key":
            arn = f"arn:aws:kms:{region}:{account}:key/{name}"
            return {"Ref": name, "Arn": arn, "KeyId": name}
        service = rtype.split("::")[1].lower()
        return {"Ref": name, "Arn": f"arn:aws:{service}:{region}:{account}:{name}"}

    # -- values ------------------------------------------------------------------
    def value(self, node):
        """node with every intrinsic resolved (AWS::NoValue entries dropped)."""
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._getatt(logical, attribute)
            if fn == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if fn == "Fn::Sub":
                return self._sub(arg)
            if fn == "Fn::Join":
                separator, items = arg
                items = self.value(items)
                return separator.join(_text(i) for i in items)
            if fn == "Fn::Select":
                index, items = self.value(arg)
                items = items if isinstance(items, list) else [items]
                # A sample list may be shorter than the real one (subnet ids, AZs).
                return (
                    items[int(index)] if int(index) < len(items) else f"item{index}-{SAMPLE_SUFFIX}"
                )
            if fn == "Fn::Split":
                separator, text = self.value(arg)
                return text.split(separator)
            if fn == "Fn::GetAZs":
                return [f"{self.region}{z}" for z in "abc"]
            if fn == "Fn::Base64":
                return self.value(arg)  # the text is what a policy could contain
            if fn == "Fn::FindInMap":
                name, top, second = self.value(arg)[:3]
                rows = self.raw["Mappings"][name]
                # A sample key (a wired input's stand-in) has no row: its value is a sample.
                if top not in rows and str(top).endswith(SAMPLE_SUFFIX):
                    return f"{name}.{second}-{SAMPLE_SUFFIX}"
                return rows[top][second]
            if fn in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
                return self._decide(node)
            if fn.startswith("Fn::"):
                raise EvaluationError(f"intrinsic {fn} is not supported")
        out = {}
        for key, value in node.items():
            resolved = self.value(value)
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def _ref(self, name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical(name)["Ref"]

    def _getatt(self, logical: str, attribute: str):
        if attribute.startswith("Outputs."):
            return f"{logical}.{attribute}-{SAMPLE_SUFFIX}"
        values = self.physical(logical)
        return values.get(attribute, f"{values['Ref']}.{attribute}")

    def _sub(self, arg) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        variables = {k: self.value(v) for k, v in variables.items()}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _text(variables[name])
            if "." in name and name.split(".", 1)[0] in self.raw.get("Resources", {}):
                return _text(self._getatt(*name.split(".", 1)))
            return _text(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def _text(value) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- policies ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    action: str
    resource: str = "*"
    context: dict = field(default_factory=dict, hash=False, compare=False)

    def describe(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in sorted(self.context.items()))
        return f"{self.action} on {self.resource}{extra}"


@functools.lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern:
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE if ignore_case else 0)


@functools.lru_cache(maxsize=8192)
def _arn_pattern(pattern: str) -> re.Pattern:
    """An IAM resource pattern as IAM matches it: wildcards stay within an ARN segment,
    except a * that ends a segment, which may run on past its colons; no wildcard may
    name the service."""
    if pattern == "*":
        return re.compile(r".*", re.DOTALL)
    segments = pattern.split(":", 5)
    if len(segments) > 2 and any(c in segments[2] for c in "*?"):
        raise EvaluationError(
            f"resource {pattern} has a wildcard in its service segment, which IAM does not allow"
        )
    out = []
    for index, char in enumerate(pattern):
        if char == "*":
            ends = index + 1 == len(pattern) or pattern[index + 1] == ":"
            out.append(".*" if ends else "[^:]*")
        elif char == "?":
            out.append("[^:]")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _matches_arn(patterns, value: str) -> bool:
    return any(_arn_pattern(str(p)).match(value) for p in _as_list(patterns))


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_STRING_OPERATORS = {
    "StringEquals": lambda have, want: have == want,
    "StringEqualsIgnoreCase": lambda have, want: have.lower() == want.lower(),
    "StringLike": lambda have, want: bool(_pattern(want, False).match(have)),
    "ArnEquals": lambda have, want: have == want,
    "ArnLike": lambda have, want: bool(_arn_pattern(want).match(have)),
    "Bool": lambda have, want: have.lower() == want.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(operator: str, key: str, wanted, context: dict) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    wanted = [_text(w) for w in _as_list(wanted)]
    present = key in context
    have = [_text(v) for v in _as_list(context.get(key))]
    if base == "Null":
        return (not present) == (wanted[0].lower() == "true")
    if not present:
        return if_exists or base in _NEGATED
    negated = base in _NEGATED
    test = _STRING_OPERATORS.get(_NEGATED.get(base, base))
    if test is None:
        raise EvaluationError(f"condition operator {operator} is not supported")

    def one(value: str) -> bool:
        hit = any(test(value, w) for w in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in have)
    if qualifier == "ForAnyValue" or len(have) == 1:
        return any(one(v) for v in have)
    if not qualifier:
        # A single-valued operator on a multivalued key: AWS documents this as unsafe;
        # the platform never does it, so refuse to guess.
        raise EvaluationError(
            f"{operator} on the multivalued key {key} needs ForAnyValue/ForAllValues"
        )
    raise EvaluationError(f"condition qualifier {qualifier} is not supported")


class _Actions:
    """A statement's Action (or NotAction) list, compiled once: exact names in a set,
    wildcards as patterns (IAM actions are case-insensitive)."""

    def __init__(self, patterns) -> None:
        names = [str(p).lower() for p in _as_list(patterns)]
        self.exact = frozenset(n for n in names if "*" not in n and "?" not in n)
        self.wild = [_pattern(n, True) for n in names if n not in self.exact]

    def match(self, action: str) -> bool:
        lowered = action.lower()
        return lowered in self.exact or any(p.match(lowered) for p in self.wild)


def statement_matches(statement: dict, request: Request, actions: _Actions | None = None) -> bool:
    """Whether one statement applies to the request (actions: its Action or NotAction,
    compiled; PolicySet passes them)."""
    kind = "Action" if "Action" in statement else "NotAction"
    actions = actions or _Actions(statement.get(kind))
    if actions.match(request.action) != (kind == "Action"):
        return False
    if "Resource" in statement:
        if not _matches_arn(statement["Resource"], request.resource):
            return False
    elif "NotResource" in statement:
        if _matches_arn(statement["NotResource"], request.resource):
            return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, wanted, request.context):
                return False
    return True


@dataclass
class PolicySet:
    """Statements of one principal's identity policies (or of one boundary)."""

    statements: list[dict]
    name: str = "policy"

    def __post_init__(self) -> None:
        self._actions = [
            _Actions(s.get("Action" if "Action" in s else "NotAction")) for s in self.statements
        ]
        # A statement that names its actions exactly can apply only to those: decide()
        # looks at it only for them. The others (wildcards, NotAction) it always tries.
        self._by_action: dict[str, list[int]] = {}
        self._always: list[int] = []
        for index, (statement, actions) in enumerate(
            zip(self.statements, self._actions, strict=True)
        ):
            if "Action" in statement and not actions.wild:
                for name in actions.exact:
                    self._by_action.setdefault(name, []).append(index)
            else:
                self._always.append(index)

    @classmethod
    def of(cls, documents, name: str = "policy") -> PolicySet:
        statements = [s for doc in documents for s in _as_list(doc.get("Statement"))]
        for statement in statements:
            # What IAM refuses as a malformed policy document, the proof refuses too.
            if statement.get("Effect") not in ("Allow", "Deny"):
                raise EvaluationError(f"{name}: a statement has Effect {statement.get('Effect')!r}")
            if not (statement.get("Action") or statement.get("NotAction")):
                raise EvaluationError(
                    f"{name}: statement {statement.get('Sid', '')} has no "
                    "actions (IAM refuses the policy)"
                )
            if (
                not (statement.get("Resource") or statement.get("NotResource"))
                and "Principal" not in statement
            ):
                raise EvaluationError(
                    f"{name}: statement {statement.get('Sid', '')} has no "
                    "resources (IAM refuses the policy)"
                )
        return cls(statements, name)

    def decide(self, request: Request) -> str:
        """ "Deny" (explicit), "Allow", or "NotAllowed" (implicit deny)."""
        candidates = self._by_action.get(request.action.lower(), []) + self._always
        matching = [
            self.statements[i]
            for i in candidates
            if statement_matches(self.statements[i], request, self._actions[i])
        ]
        if any(s["Effect"] == "Deny" for s in matching):
            return "Deny"
        return "Allow" if matching else "NotAllowed"

    def allows(self, request: Request, boundary: PolicySet | None = None) -> bool:
        if self.decide(request) != "Allow":
            return False
        return boundary is None or boundary.decide(request) == "Allow"


def role_policies(resolved: Resolved, role_logical: str) -> PolicySet:
    """Every identity policy attached to one role of a resolved template: its inline
    Policies and the template's managed policies it names in ManagedPolicyArns."""
    role = resolved.resources("AWS::IAM::Role")[role_logical]["Properties"]
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    attached = set(role.get("ManagedPolicyArns", []))
    for logical, policy in resolved.resources("AWS::IAM::ManagedPolicy").items():
        props = policy["Properties"]
        if (
            resolved.physical(logical)["Ref"] in attached
            or role_logical in [r for r in props.get("Roles", [])]
            or resolved.physical(role_logical)["Ref"] in props.get("Roles", [])
        ):
            documents.append(props["PolicyDocument"])
    return PolicySet.of(documents, role_logical)
