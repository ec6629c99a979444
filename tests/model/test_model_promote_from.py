"""`promote_from` in gripctl.yaml: parsed into the environment, and each mistake refused with its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from model_helpers import PlatformFactory, snapshot

from gripctl.errors import ConfigError
from gripctl.model import load_platform

HEAD = "apiVersion: gripctl/v1\nenvironments:\n"


def refused(root: Path) -> ConfigError:
    before = snapshot(root)
    with pytest.raises(ConfigError) as info:
        load_platform(root, "production")
    assert snapshot(root) == before
    return info.value


def test_promote_from_is_parsed_and_defaults_to_none(make_platform: PlatformFactory) -> None:
    root = make_platform(
        HEAD + "  staging: {deploy: auto}\n  production: {promote_from: staging}\n", charts=["010-a"]
    )
    assert load_platform(root, "production").environment.promote_from == "staging"
    staging = load_platform(root, "staging").environment
    assert staging.promote_from is None and staging.deploy == "auto"
    assert load_platform(root, "production").environment.deploy == "manual"


def test_promote_from_an_unknown_environment_names_the_line_and_suggests(
    make_platform: PlatformFactory,
) -> None:
    root = make_platform(HEAD + "  staging: {}\n  production:\n    promote_from: stagign\n")
    err = refused(root)
    assert err.message == "promote_from names 'stagign', which is not an environment of this platform"
    assert err.location is not None and (err.location.line, err.location.key_path) == (
        5,
        "environments.production.promote_from",
    )
    assert err.hint is not None and "staging" in err.hint


def test_promote_from_itself_is_refused(make_platform: PlatformFactory) -> None:
    root = make_platform(HEAD + "  production:\n    promote_from: production\n")
    err = refused(root)
    assert err.message == "environment 'production' cannot promote from itself"
    assert err.location is not None and err.location.line == 4


def test_a_promotion_cycle_is_refused_naming_it(make_platform: PlatformFactory) -> None:
    root = make_platform(
        HEAD + "  staging:\n    promote_from: production\n  production:\n    promote_from: staging\n"
    )
    err = refused(root)
    assert err.message == "promote_from forms a cycle: staging <- production <- staging"
    assert err.location is not None and err.location.key_path == "environments.staging.promote_from"


def test_promote_from_must_be_a_string(make_platform: PlatformFactory) -> None:
    root = make_platform(HEAD + "  staging: {}\n  production:\n    promote_from: [staging]\n")
    err = refused(root)
    assert "expected a non-empty string" in err.message
