"""The `stackset:` section of a params file, validated as strictly as the rest.

    stackset:
      name: streamstack-prod-global          # optional; default: the params stack_name
      permission_model: self-managed         # or service-managed (AWS Organizations)
      call_as: self                          # or delegated-admin (service-managed only)
      accounts: ["111111111111", ...]        # self-managed targets
      # organizational_units: [ou-ab12-cd345678]   # service-managed targets
      # auto_deployment: {enabled: true, retain_stacks_on_account_removal: true}
      regions: [us-west-2, us-east-1]        # the first one is the canary
      overrides:
        regions:  {us-east-1: {VpcCidr: 10.1.0.0/16, ...}}
        accounts: {"222222222222": {NatLayout: single}}
      web_acls:                              # each target account's CloudFront web ACL
        "222222222222": arn:aws:wafv2:us-east-1:222222222222:global/webacl/waf-cdn-prod/...
      preferences:
        region_order: [us-west-2, us-east-1] # default: the order of `regions`
        region_concurrency: sequential       # or parallel
        max_concurrent_count: 1              # or max_concurrent_percentage: 25
        failure_tolerance_count: 0           # or failure_tolerance_percentage: 10
        concurrency_mode: strict             # or soft

Override values are checked against the root template's parameter declarations, on
top of the environment's `parameters` (so a region's VpcCidr is checked against the
subnets that region really gets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streamstack.validation import (
    ACCOUNT_ID,
    ParameterContext,
    Problems,
    parameter_map,
    region_problem,
    validate_parameters,
    yaml_type,
)

OU_ID = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
STACK_SET_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$")
ROLE_NAME = re.compile(r"^[a-zA-Z_0-9+=,.@-]{1,64}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[a-zA-Z_0-9+=,.@/-]{1,512}$")
WEB_ACL_ARN = re.compile(
    r"^arn:aws[a-z-]*:wafv2:us-east-1:(?P<account>[0-9]{12}):global/webacl/[A-Za-z0-9_-]+/"
    r"[0-9a-f-]+$"
)
# The root's deploy-time parameter each instance's distribution takes its web ACL from.
WEB_ACL_PARAMETER = "CdnWebAclArn"

SELF_MANAGED, SERVICE_MANAGED = "self-managed", "service-managed"
PERMISSION_MODELS = {SELF_MANAGED: "SELF_MANAGED", SERVICE_MANAGED: "SERVICE_MANAGED"}
CALL_AS = {"self": "SELF", "delegated-admin": "DELEGATED_ADMIN"}
REGION_CONCURRENCY = {"sequential": "SEQUENTIAL", "parallel": "PARALLEL"}
CONCURRENCY_MODES = {"strict": "STRICT_FAILURE_TOLERANCE", "soft": "SOFT_FAILURE_TOLERANCE"}

# AWS's conventional role names (the bootstrap template creates them).
DEFAULT_ADMINISTRATION_ROLE = "AWSCloudFormationStackSetAdministrationRole"
DEFAULT_EXECUTION_ROLE = "AWSCloudFormationStackSetExecutionRole"

# permission model -> (the targets it needs, what they are, settings of the other model)
MODEL_SETTINGS = {
    SELF_MANAGED: ("accounts", "target account ids", ("organizational_units", "auto_deployment")),
    SERVICE_MANAGED: (
        "organizational_units",
        "target OU ids (Organizations manages the roles)",
        ("accounts", "administration_role_name", "execution_role_name"),
    ),
}

TOP_KEYS = (
    "name",
    "permission_model",
    "call_as",
    "accounts",
    "organizational_units",
    "auto_deployment",
    "regions",
    "overrides",
    "preferences",
    "administration_role_name",
    "execution_role_name",
    "bootstrap_parameters",
    "web_acls",
)
PREFERENCE_KEYS = (
    "region_order",
    "region_concurrency",
    "max_concurrent_count",
    "max_concurrent_percentage",
    "failure_tolerance_count",
    "failure_tolerance_percentage",
    "concurrency_mode",
)
AUTO_DEPLOYMENT_KEYS = ("enabled", "retain_stacks_on_account_removal")


@dataclass(frozen=True)
class Preferences:
    region_order: tuple[str, ...]
    region_concurrency: str = "sequential"
    max_concurrent: tuple[str, int] = ("count", 1)  # ("count"|"percentage", n)
    failure_tolerance: tuple[str, int] = ("count", 0)
    concurrency_mode: str = "strict"

    def api(self, regions: list[str] | None = None) -> dict:
        """OperationPreferences for an operation over `regions` (default: all), canary
        first; a region no longer targeted (instances left there) goes last."""
        order = [r for r in self.region_order if regions is None or r in regions]
        order += sorted(set(regions or ()) - set(order))
        kind, value = self.max_concurrent
        tolerance_kind, tolerance = self.failure_tolerance
        return {
            "RegionOrder": order,
            "RegionConcurrencyType": REGION_CONCURRENCY[self.region_concurrency],
            ("MaxConcurrentCount" if kind == "count" else "MaxConcurrentPercentage"): value,
            (
                "FailureToleranceCount"
                if tolerance_kind == "count"
                else "FailureTolerancePercentage"
            ): tolerance,
            "ConcurrencyMode": CONCURRENCY_MODES[self.concurrency_mode],
        }

    def tolerated_failures(self, accounts_in_region: int) -> int:
        """Failed accounts a region may have, as CloudFormation computes it (rounds down)."""
        kind, value = self.failure_tolerance
        return value if kind == "count" else accounts_in_region * value // 100


@dataclass(frozen=True)
class StackSetConfig:
    name: str | None  # None: the params stack_name
    permission_model: str
    call_as: str
    accounts: tuple[str, ...]
    organizational_units: tuple[str, ...]
    regions: tuple[str, ...]
    preferences: Preferences
    region_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    account_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    auto_deployment: tuple[bool, bool] = (True, True)  # enabled, retain on removal
    administration_role_name: str = DEFAULT_ADMINISTRATION_ROLE
    execution_role_name: str = DEFAULT_EXECUTION_ROLE
    bootstrap_parameters: dict[str, str] = field(default_factory=dict)
    # account -> the CloudFront-scope web ACL in that account's us-east-1
    web_acls: dict[str, str] = field(default_factory=dict)

    @property
    def self_managed(self) -> bool:
        return self.permission_model == SELF_MANAGED

    @property
    def call_as_api(self) -> str:
        return CALL_AS[self.call_as]

    def overrides_for(self, account: str | None, region: str) -> dict[str, str]:
        """Parameter overrides of one instance: region first, then account (its web ACL
        included)."""
        web_acl = self.web_acls.get(account) if account else None
        return {
            **self.region_overrides.get(region, {}),
            **(self.account_overrides.get(account, {}) if account else {}),
            **({WEB_ACL_PARAMETER: web_acl} if web_acl else {}),
        }

    def accounts_without_web_acl(self) -> list[str]:
        """Targets whose distributions would run without WAF (every OU target)."""
        if not self.self_managed:
            return list(self.organizational_units)
        return [a for a in self.accounts if a not in self.web_acls]


def validate_section(
    value: Any, problems: Problems, key: str, context: ParameterContext
) -> StackSetConfig | None:
    """SECTIONS validator for `stackset:`; reports every problem, returns None if any.
    Override values are checked on top of context.values against context.declarations."""
    before = len(problems)
    if not isinstance(value, dict):
        problems.add(key, f"must be a mapping of StackSet settings, not {yaml_type(value)}")
        return None
    _unknown(value, TOP_KEYS, problems, key)

    name = value.get("name")
    if name is not None and (not isinstance(name, str) or not STACK_SET_NAME.match(name)):
        problems.add(
            f"{key}.name",
            f"{name!r} is not a valid stack set name: start with a "
            "letter, then letters, digits and dashes, at most 128",
        )
    model = _choice(value, "permission_model", PERMISSION_MODELS, SELF_MANAGED, problems, key)
    call_as = _choice(value, "call_as", CALL_AS, "self", problems, key)
    if call_as == "delegated-admin" and model == SELF_MANAGED:
        problems.add(
            f"{key}.call_as",
            "delegated-admin works only with permission_model: "
            "service-managed; use self, or switch the model",
        )

    accounts = _id_list(
        value,
        "accounts",
        ACCOUNT_ID,
        'a 12-digit account id in quotes (e.g. "123456789012")',
        problems,
        key,
    )
    ous = _id_list(
        value,
        "organizational_units",
        OU_ID,
        "an OU id like ou-ab12-cd345678 or a root id like r-ab12",
        problems,
        key,
    )
    needed, what, foreign = MODEL_SETTINGS[model]
    other = SERVICE_MANAGED if model == SELF_MANAGED else SELF_MANAGED
    if needed not in value:
        problems.add(f"{key}.{needed}", f"is missing; {model} stack sets need the {what}")
    for setting in foreign:
        if setting in value:
            problems.add(
                f"{key}.{setting}",
                f"applies only to {other} stack sets; remove it, or set permission_model: {other}",
            )
    for role_key in ("administration_role_name", "execution_role_name"):
        role = value.get(role_key)
        if role is not None and (not isinstance(role, str) or not ROLE_NAME.match(role)):
            problems.add(
                f"{key}.{role_key}",
                f"{role!r} is not an IAM role name (1-64 of letters, digits and +=,.@_-)",
            )
    auto = _auto_deployment(value.get("auto_deployment", {}), problems, f"{key}.auto_deployment")

    regions = _regions(value.get("regions"), problems, f"{key}.regions")
    preferences = _preferences(
        value.get("preferences", {}), regions, problems, f"{key}.preferences"
    )
    region_overrides, account_overrides = _overrides(
        value.get("overrides", {}), regions, accounts, model, context, problems, f"{key}.overrides"
    )
    bootstrap_parameters = parameter_map(
        value.get("bootstrap_parameters", {}), problems, f"{key}.bootstrap_parameters"
    )
    web_acls = _web_acls(value.get("web_acls", {}), accounts, model, problems, f"{key}.web_acls")

    if len(problems) > before:
        return None
    return StackSetConfig(
        name=name,
        permission_model=model,
        call_as=call_as,
        accounts=tuple(accounts),
        organizational_units=tuple(ous),
        regions=tuple(regions),
        preferences=preferences,
        region_overrides=region_overrides,
        account_overrides=account_overrides,
        auto_deployment=auto,
        administration_role_name=value.get("administration_role_name", DEFAULT_ADMINISTRATION_ROLE),
        execution_role_name=value.get("execution_role_name", DEFAULT_EXECUTION_ROLE),
        bootstrap_parameters=bootstrap_parameters,
        web_acls=web_acls,
    )


# -- pieces ------------------------------------------------------------------------
def _web_acls(value, accounts: list[str], model: str, problems, key: str) -> dict[str, str]:
    """account -> web ACL ARN of that account in us-east-1 (where CloudFront's live)."""
    found = {}
    raw = _mapping(value, problems, key)
    if raw and model != SELF_MANAGED:
        problems.add(
            key,
            "per-account web ACLs need self-managed account targets; OU members are not "
            "known in advance",
        )
        return {}
    for account, arn in raw.items():
        match = WEB_ACL_ARN.match(arn) if isinstance(arn, str) else None
        if account not in accounts:
            problems.add(f"{key}.{account}", "is not one of the stack set's accounts")
        elif match is None:
            problems.add(
                f"{key}.{account}",
                f"{arn!r} is not a CloudFront-scope web ACL ARN "
                "(arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>)",
            )
        elif match["account"] != account:
            problems.add(
                f"{key}.{account}",
                f"names a web ACL of account {match['account']}; CloudFront takes only one "
                "of the distribution's own account",
            )
        else:
            found[account] = arn
    return found


def _unknown(value: dict, allowed, problems, key: str) -> None:
    for name in value:
        if name not in allowed:
            problems.add(f"{key}.{name}", f"unknown setting; allowed: {', '.join(allowed)}")


def _choice(value: dict, name: str, choices: dict, default: str, problems, key: str) -> str:
    chosen = value.get(name, default)
    if chosen not in choices:
        problems.add(f"{key}.{name}", f"{chosen!r} is not allowed; allowed: {', '.join(choices)}")
        return default
    return chosen


def _id_list(
    value: dict, name: str, pattern: re.Pattern, what: str, problems, key: str
) -> list[str]:
    items = value.get(name, [])
    if not isinstance(items, list):
        problems.add(f"{key}.{name}", f"must be a list, got {yaml_type(items)}")
        return []
    result = []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not pattern.match(item):
            hint = (
                " (quote it: YAML reads bare digits as a number)"
                if isinstance(item, int) and not isinstance(item, bool)
                else ""
            )
            problems.add(f"{key}.{name}[{i}]", f"{item!r} is not {what}{hint}")
        elif item in result:
            problems.add(f"{key}.{name}[{i}]", f"{item} is listed twice; list it once")
        else:
            result.append(item)
    if name in value and not items:
        problems.add(f"{key}.{name}", "is empty; list at least one target")
    return result


def _regions(regions, problems, key: str) -> list[str]:
    if regions is None:
        problems.add(key, "is missing; list the regions to deploy to, the canary first")
        return []
    if not isinstance(regions, list) or not regions:
        problems.add(key, "must be a non-empty list of regions, the canary first")
        return []
    result = []
    for i, region in enumerate(regions):
        if region_problem(region):
            problems.add(f"{key}[{i}]", region_problem(region))
        elif region in result:
            problems.add(f"{key}[{i}]", f"{region} is listed twice; list it once")
        else:
            result.append(region)
    return result


def _auto_deployment(value, problems, key: str) -> tuple[bool, bool]:
    if not isinstance(value, dict):
        problems.add(
            key,
            f"must be a mapping (enabled, retain_stacks_on_account_removal), "
            f"not {yaml_type(value)}",
        )
        return True, True
    _unknown(value, AUTO_DEPLOYMENT_KEYS, problems, key)
    flags = []
    for name in AUTO_DEPLOYMENT_KEYS:
        flag = value.get(name, True)
        if not isinstance(flag, bool):
            problems.add(f"{key}.{name}", f"must be true or false, got {yaml_type(flag)} {flag!r}")
            flag = True
        flags.append(flag)
    return flags[0], flags[1]


def _preferences(value, regions: list[str], problems, key: str) -> Preferences:
    if not isinstance(value, dict):
        problems.add(key, f"must be a mapping of operation preferences, not {yaml_type(value)}")
        value = {}
    _unknown(value, PREFERENCE_KEYS, problems, key)
    order = value.get("region_order", regions)
    if not isinstance(order, list) or sorted(map(str, order)) != sorted(regions):
        problems.add(
            f"{key}.region_order",
            f"must list each of the regions exactly once, the canary first: {', '.join(regions)}",
        )
        order = regions
    concurrency = _choice(
        value, "region_concurrency", REGION_CONCURRENCY, "sequential", problems, key
    )
    mode = _choice(value, "concurrency_mode", CONCURRENCY_MODES, "strict", problems, key)
    max_concurrent = _count_or_percentage(value, "max_concurrent", 1, ("count", 1), problems, key)
    tolerance = _count_or_percentage(value, "failure_tolerance", 0, ("count", 0), problems, key)
    return Preferences(
        region_order=tuple(order),
        region_concurrency=concurrency,
        max_concurrent=max_concurrent,
        failure_tolerance=tolerance,
        concurrency_mode=mode,
    )


def _count_or_percentage(
    value: dict, stem: str, minimum: int, default: tuple[str, int], problems, key: str
) -> tuple[str, int]:
    count_key, percent_key = f"{stem}_count", f"{stem}_percentage"
    if count_key in value and percent_key in value:
        problems.add(f"{key}.{stem}_*", f"set either {count_key} or {percent_key}, not both")
        return default
    for kind, name, low, high in (
        ("count", count_key, minimum, None),
        ("percentage", percent_key, minimum, 100),
    ):
        if name not in value:
            continue
        number = value[name]
        if isinstance(number, bool) or not isinstance(number, int):
            problems.add(
                f"{key}.{name}", f"must be a whole number, got {yaml_type(number)} {number!r}"
            )
        elif number < low or (high is not None and number > high):
            problems.add(
                f"{key}.{name}",
                f"{number} is out of range; allowed: {low}"
                + (f" to {high}" if high else " or more"),
            )
        else:
            return kind, number
        return default
    return default


def _overrides(
    value,
    regions: list[str],
    accounts: list[str],
    model: str,
    context: ParameterContext,
    problems,
    key: str,
) -> tuple[dict, dict]:
    if not isinstance(value, dict):
        problems.add(key, f"must be a mapping with regions and/or accounts, not {yaml_type(value)}")
        return {}, {}
    _unknown(value, ("regions", "accounts"), problems, key)
    base, template_parameters, deploy_time = (
        context.values,
        context.declarations,
        context.deploy_time,
    )
    by_region: dict[str, dict[str, str]] = {}
    for region, raw in _mapping(value.get("regions", {}), problems, f"{key}.regions").items():
        if region not in regions:
            problems.add(
                f"{key}.regions.{region}",
                f"is not one of the stack set's regions ({', '.join(regions) or 'none'})",
            )
            continue
        by_region[region] = _parameter_values(
            raw, base, template_parameters, deploy_time, problems, f"{key}.regions.{region}"
        )
    by_account: dict[str, dict[str, str]] = {}
    raw_accounts = _mapping(value.get("accounts", {}), problems, f"{key}.accounts")
    if raw_accounts and model != SELF_MANAGED:
        problems.add(
            f"{key}.accounts",
            "per-account overrides need self-managed account "
            "targets; OU members are not known in advance",
        )
        return by_region, {}
    for account, raw in raw_accounts.items():
        if not isinstance(account, str) or not ACCOUNT_ID.match(account):
            problems.add(f"{key}.accounts.{account}", "is not a 12-digit account id in quotes")
            continue
        if account not in accounts:
            problems.add(f"{key}.accounts.{account}", "is not one of the stack set's accounts")
            continue
        # Checked on top of every region's values (the account's instances get both);
        # a problem that is the same in every region is reported once.
        collected = Problems(problems.where)
        for region in regions or [None]:
            layered = {**base, **by_region.get(region, {})}
            by_account[account] = _parameter_values(
                raw,
                layered,
                template_parameters,
                deploy_time,
                collected,
                f"{key}.accounts.{account}",
            )
        for line_key, message in dict.fromkeys(collected.items):
            problems.add(line_key, message)
    return by_region, by_account


def _parameter_values(
    raw, base: dict, template_parameters: dict, deploy_time: set, problems, key: str
) -> dict[str, str]:
    """Validate a partial set of overrides; defaults are the values underneath them."""
    if not isinstance(raw, dict):
        problems.add(key, f"must be a mapping of parameter: value, not {yaml_type(raw)}")
        return {}
    # The network check falls back to Default for what is not overridden: make that the
    # value the instance really gets, not the template's default.
    layered = {
        name: ({**spec, "Default": base[name]} if name in base else spec)
        for name, spec in template_parameters.items()
    }
    return validate_parameters(raw, layered, deploy_time, problems, key, require_all=False)


def _mapping(value, problems, key: str) -> dict:
    if not isinstance(value, dict):
        problems.add(key, f"must be a mapping, not {yaml_type(value)}")
        return {}
    return value
