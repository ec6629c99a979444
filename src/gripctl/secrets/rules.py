"""`.sops.yaml` creation rules: which age recipients encrypt which paths, read and updated in place.

Matching follows sops: rules are tried in order, the first whose `path_regex` is found in the file's
path (relative to the folder of `.sops.yaml`) wins, and a rule without `path_regex` matches anything.
Updates go through ruamel.yaml's round trip so that existing rules, order and comments survive.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gripctl.errors import ConfigError, Location, SecretsError
from gripctl.secrets.layout import rel, secrets_dir, sops_config


@dataclass(frozen=True)
class Rule:
    index: int
    path_regex: str | None
    recipients: tuple[str, ...]  # age recipients, in file order


def _split(value: object) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]
    if isinstance(value, list):
        return [str(part).strip() for part in value if str(part).strip()]
    return []


def load_rules(root: Path) -> list[Rule]:
    """The creation rules of the platform's `.sops.yaml` ([] when the file does not exist)."""
    path = sops_config(root)
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"not valid YAML: {exc}", location=Location(str(path)), hint="fix the YAML syntax"
        ) from None
    raw = data.get("creation_rules") if isinstance(data, dict) else None
    rules: list[Rule] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(item, dict):
            continue
        recipients = _split(item.get("age"))
        for group in item.get("key_groups") or []:
            if isinstance(group, dict):
                recipients += _split(group.get("age"))
        regex = item.get("path_regex") or item.get("filename_regex")
        rules.append(Rule(i, str(regex) if regex is not None else None, tuple(recipients)))
    return rules


def rule_for(root: Path, file: Path, rules: list[Rule] | None = None) -> Rule | None:
    """The creation rule sops will use for `file`, or None when no rule matches."""
    config_dir = sops_config(root).parent.resolve()
    try:
        relative = str(file.resolve().relative_to(config_dir))
    except ValueError:
        relative = str(file.resolve())
    for rule in load_rules(root) if rules is None else rules:
        if rule.path_regex is None:
            return rule
        try:
            if re.search(rule.path_regex, relative):
                return rule
        except re.error:
            continue  # a Go-only regex construct; sops will judge it when it runs
    return None


def require_rule(root: Path, file: Path) -> Rule:
    """The matching rule, or a SecretsError saying which path is uncovered and how to fix it."""
    config = sops_config(root)
    if not config.is_file():
        raise SecretsError(
            f"no {config.name} at the platform root, so sops does not know whom to encrypt "
            f"{rel(file, root)} for",
            hint="create it with `gripctl secrets init` (or `--recipient age1...` for an existing key)",
        )
    rule = rule_for(root, file)
    if rule is None:
        patterns = ", ".join(repr(r.path_regex) for r in load_rules(root)) or "(no rules)"
        raise SecretsError(
            f"no creation rule in {config.name} matches {rel(file, root)}",
            location=Location(str(config)),
            hint=f"rules' path_regex: {patterns}; add a rule for this path, e.g. "
            f"`gripctl secrets init --recipient age1...`",
        )
    if not rule.recipients:
        raise SecretsError(
            f"the {config.name} rule #{rule.index + 1} for {rel(file, root)} has no age recipients",
            location=Location(str(config)),
            hint="add one with `gripctl secrets init --recipient age1...`",
        )
    return rule


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # keep each rule's recipient list on one line
    return y


def environment_regex(environment: str) -> str:
    return rf"^envs/{re.escape(environment)}/.*\.sops\.ya?ml$"


def platform_regex(root: Path) -> str:
    base = rel(secrets_dir(root), root).strip("/")
    return rf"^{re.escape(base)}/.*\.sops\.ya?ml$".replace("\\/", "/")


def _matches(rule: object, relative: str) -> bool:
    if not isinstance(rule, CommentedMap):
        return False
    regex = rule.get("path_regex") or rule.get("filename_regex")
    if regex is None:
        return True
    try:
        return re.search(str(regex), relative) is not None
    except re.error:
        return False


def _add_to(rule: CommentedMap, recipient: str) -> bool:
    """Add an age recipient to a rule, keeping its style (comma string, YAML list, key_groups)."""
    groups = rule.get("key_groups")
    if isinstance(groups, list) and groups and isinstance(groups[0], dict):
        target: Any = groups[0]
    else:
        target = rule
    current = target.get("age")
    if recipient in _split(current):
        return False
    if isinstance(current, list):
        current.append(recipient)
    else:
        target["age"] = ",".join([*_split(current), recipient])
    return True


def add_recipient(root: Path, recipient: str, environment: str | None = None) -> list[str]:
    """Add `recipient` to the rule sops uses for the platform's secrets files (`ops/secrets/...`),
    creating one when none matches; with `environment`, also to the rule for that environment's files
    (`envs/ENV/*.sops.yaml`; when none matches, one is created before the platform rule and seeded
    with its recipients, so the people who edit secrets keep access). Other rules are kept as they are.

    Returns the path_regex of each rule that changed.
    """
    path = sops_config(root)
    y = _yaml()
    doc: Any = y.load(path.read_text()) if path.is_file() else None
    if not isinstance(doc, CommentedMap):
        doc = CommentedMap()
    rules = doc.get("creation_rules")
    if not isinstance(rules, CommentedSeq):
        rules = CommentedSeq()
        doc["creation_rules"] = rules

    def first_match(relative: str) -> CommentedMap | None:
        return next((r for r in rules if _matches(r, relative)), None)

    changed: list[str] = []
    probe = f"{rel(secrets_dir(root), root).strip('/')}/000-probe-secrets/values.sops.yaml"
    platform_rule = first_match(probe)
    if platform_rule is None:
        platform_rule = CommentedMap([("path_regex", platform_regex(root)), ("age", recipient)])
        rules.append(platform_rule)
        changed.append(platform_regex(root))
    elif _add_to(platform_rule, recipient):
        changed.append(str(platform_rule.get("path_regex", "(all paths)")))
    if environment is not None:
        env_rule = first_match(f"envs/{environment}/probe.sops.yaml")
        if env_rule is None:
            env_regex = environment_regex(environment)
            seed = [r for r in _split(platform_rule.get("age")) if r != recipient]
            env_rule = CommentedMap([("path_regex", env_regex), ("age", ",".join([*seed, recipient]))])
            rules.insert(rules.index(platform_rule), env_rule)  # first match wins: the narrower rule first
            changed.append(env_regex)
        elif env_rule is not platform_rule and _add_to(env_rule, recipient):
            changed.append(str(env_rule.get("path_regex", "(all paths)")))
    if changed:
        buf = io.StringIO()
        y.dump(doc, buf)
        path.write_text(buf.getvalue())
    return changed
