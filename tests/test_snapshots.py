"""Snapshots of the rendered templates (tests/templates) are reviewed like code: a
template without a committed snapshot fails instead of writing one and passing."""

import pytest

from tests import conftest


def test_a_missing_snapshot_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "SNAPSHOTS", tmp_path)
    monkeypatch.delenv("UPDATE_SNAPSHOTS", raising=False)
    with pytest.raises(pytest.fail.Exception, match="snapshot .* is missing"):
        conftest.assert_snapshot("new-tier", "{}\n")
    assert not (tmp_path / "new-tier.json").exists()
