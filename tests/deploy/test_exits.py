"""deploy.py's exit codes are the documented ones, for both kinds of environment: the
same refusal ends with the same code whether the environment is one stack tree or a
stack set, and the table users read lists exactly the codes the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streamstack import cli as entry
from streamstack.deploy import cli, exits, plans
from streamstack.params import EnvParams
from streamstack.stacksets.config import Preferences, StackSetConfig
from tests.stacksets.conftest import StubSession, make_context

ROOT = Path(__file__).resolve().parents[2]
STACKSET = StackSetConfig(
    name=None,
    permission_model="self-managed",
    call_as="self",
    accounts=("222222222222",),
    organizational_units=(),
    regions=("us-west-2",),
    preferences=Preferences(region_order=("us-west-2",)),
)


def context(tmp_path, stackset: bool):
    sections = {"stackset": STACKSET} if stackset else {}
    env = EnvParams(
        "prod", tmp_path / "prod.yaml", "streamstack-prod", "us-west-2", None, {}, {}, sections
    )
    session = StubSession()  # no response queued: any AWS call fails the test
    return make_context(env, session, {"templates": {}}, tmp_path), session


def exit_code(ctx, command: str) -> int:
    """What deploy.py exits with (cli.run prints the error line)."""
    return entry.run(lambda: cli.dispatch(ctx, command))


def blocked_plan(ctx, kind: str) -> None:
    details = {
        key: (expected[0] if isinstance(expected, tuple) else expected)()
        for key, expected in plans.REQUIRED[kind].items()
    }
    details.update(stack_name="streamstack-prod", stack_set="streamstack-prod")
    plans.write(
        ctx.plans,
        plans.PlanFile(
            kind, "prod", "us-west-2", blocked=True, allow_data_loss=False, details=details
        ),
        "",
    )


def documented_codes() -> dict[int, str]:
    text = (ROOT / "docs" / "deploy.md").read_text()
    table = text[text.index("| code | meaning |") :]
    return {
        int(code): meaning
        for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", table.split("\n\n")[0], re.M)
    }


def test_the_documented_table_lists_exactly_the_codes_in_use():
    used = {
        exits.OK,
        exits.ERROR,
        exits.PARAMS,
        exits.BLOCKED,
        exits.REFUSED,
        exits.FAILED,
        exits.DRIFTED,
        exits.INVALID,
        exits.INTERRUPTED,
    }
    assert set(documented_codes()) == used
    assert "DATA-LOSS" in documented_codes()[exits.BLOCKED]
    assert "refused" in documented_codes()[exits.REFUSED]


@pytest.mark.parametrize("stackset", [False, True], ids=["stack", "stackset"])
def test_executing_a_blocked_plan_exits_3(tmp_path, stackset, capsys):
    ctx, session = context(tmp_path, stackset)
    blocked_plan(ctx, plans.STACKSET if stackset else plans.STACK)
    assert exit_code(ctx, "execute") == exits.BLOCKED == 3
    assert "DATA-LOSS" in capsys.readouterr().err
    session.assert_done()


@pytest.mark.parametrize("stackset", [False, True], ids=["stack", "stackset"])
def test_destroy_of_a_protected_environment_exits_4(tmp_path, stackset, capsys):
    ctx, session = context(tmp_path, stackset)
    assert exit_code(ctx, "destroy") == exits.REFUSED == 4
    assert "does not allow destroy" in capsys.readouterr().err
    session.assert_done()


def test_a_plan_of_the_other_kind_is_refused_with_one_line(tmp_path, capsys):
    ctx, _ = context(tmp_path, stackset=True)
    blocked_plan(ctx, plans.STACK)
    assert exit_code(ctx, "execute") == exits.ERROR
    assert "is a plan for a stack environment, but prod is a StackSet environment" in (
        capsys.readouterr().err
    )


def test_drift_of_a_stack_environment_is_a_problem_to_fix(tmp_path, capsys):
    ctx, _ = context(tmp_path, stackset=False)
    assert exit_code(ctx, "drift") == exits.ERROR
    assert "drift is for StackSet environments" in capsys.readouterr().err


def test_web_acl_is_required_only_where_the_environment_is_protected():
    from streamstack.deploy import safety

    safety.require_web_acl("dev", False, ["no CdnWebAclArn"], "run make edge")
    safety.require_web_acl("prod", True, [], "run make edge")
    with pytest.raises(exits.Refused, match=r"^prod is protected .* \(a, b\): run make edge$"):
        safety.require_web_acl("prod", True, ["a", "b"], "run make edge")
