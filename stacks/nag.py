"""cdk-nag (AwsSolutions) wiring: a validation plugin, acknowledgements, and strictness.

cdk-nag 3 runs as a CDK policy-validation plugin: after synthesis it reports its findings and
the synth fails when the plugin concludes "failure". That conclusion is reliable for errors but
not for warnings: with cdk-nag 3.0.2 a lone warning fails the synth, yet the same warning passes
once any other finding in the app is acknowledged. So `assert_nag_clean` (called by app.py after
`app.synth()`) reads the validation report and fails on ANY unacknowledged finding, whatever its
severity: every exception in this repository is an explicit `acknowledge(...)` with a reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"
REPORT_FILE = "validation-report.json"


class NagFindingsError(RuntimeError):
    """The synthesised app has cdk-nag findings that nobody acknowledged."""


def add_nag_checks(scope: IConstruct) -> None:
    """Register the AwsSolutions rule pack on the app (or a stage)."""
    Validations.of(scope).add_plugins(AwsSolutionsChecks(scope))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope`
    and everything below it. The reason is recorded in the validation report."""
    if len(reason.split()) < 6:
        raise ValueError(f"acknowledging {rule} needs a real reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{PACK}::{rule}", reason=reason))


def unacknowledged_findings(assembly_dir: str | Path) -> list[str]:
    """Every unacknowledged violation (errors and warnings) in the assembly's validation report.

    Raises NagFindingsError if the report is missing: that means the plugin was not registered.
    """
    path = Path(assembly_dir) / REPORT_FILE
    if not path.is_file():
        raise NagFindingsError(f"{path} not found: cdk-nag did not run (add_nag_checks missing?)")
    report: dict[str, Any] = json.loads(path.read_text())
    plugins = {p.get("pluginName") for p in report.get("pluginReports", [])}
    if PACK not in plugins:
        raise NagFindingsError(f"{path}: no {PACK} plugin report (add_nag_checks missing?)")
    findings: list[str] = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                findings.append(
                    f"{violation.get('severity', '?').upper()} {violation.get('ruleName')} "
                    f"at {construct.get('constructPath')}: {violation.get('description')}"
                )
    return findings


def assert_nag_clean(assembly_dir: str | Path) -> None:
    """Raise NagFindingsError listing every unacknowledged finding, if any."""
    findings = unacknowledged_findings(assembly_dir)
    if findings:
        lines = "\n  ".join(findings)
        raise NagFindingsError(
            f"{len(findings)} unacknowledged cdk-nag finding(s); fix them or acknowledge each "
            f"with stacks.nag.acknowledge(scope, rule, reason):\n  {lines}"
        )
