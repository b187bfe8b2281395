"""The CDK app, synthesised ONCE per session (jsii start-up costs seconds), for every test that
reads the template: the infra tests, and the functional tests that run the handler and the jobs
with the template's own environment and role policies (tests/deployed.py). Registered as a
plugin by tests/conftest.py.

One in-process App holds two stacks, synthesised together, with the cdk-nag plugin registered
exactly as app.py does it:
  - `dev`: the default (`cdk synth` with no context): IAM auth, provisioned concurrency 1..2;
  - `prod`: `-c env=prod -c auth=jwt ...` resolved through `config_from_context`, so the JWT
    option, an external CRM input path and the retain-everything policies are covered too.
The CLI path (`npx cdk synth`) is exercised separately, in a subprocess, in test_synth_cli.py.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO_ROOT = Path(__file__).resolve().parents[1]

# What `-c key=value` would pass for the prod/JWT variant.
PROD_JWT_CONTEXT: dict[str, str] = {
    "env": "prod",
    "auth": "jwt",
    "jwt_issuer": "https://issuer.example.com/",
    "jwt_audience": "leadgen-client, crm-sync",
    "input_path": "s3://crm-exports-example/leadgen/crm.parquet",
    "alarm_email": "ops@example.com",
    "max_psi": "1.0",
}


def cdk_json_context() -> dict[str, Any]:
    """The feature flags from cdk.json, so in-process synths behave like `cdk synth`."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


@dataclass
class Synth:
    outdir: Path
    dev_json: dict[str, Any]
    prod_json: dict[str, Any]
    dev: Any  # aws_cdk.assertions.Template
    prod: Any

    def resources(self, which: str, type_: str | None = None) -> dict[str, dict[str, Any]]:
        template = self.dev_json if which == "dev" else self.prod_json
        return {
            k: v for k, v in template["Resources"].items() if type_ is None or v["Type"] == type_
        }


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from stacks.config import config_from_context
    from stacks.leadgen_stack import LeadgenStack
    from stacks.nag import add_nag_checks

    outdir = tmp_path_factory.mktemp("cdk-out")
    app = App(outdir=str(outdir), context=cdk_json_context())
    dev_cfg = config_from_context(lambda key: None)
    prod_cfg = config_from_context(PROD_JWT_CONTEXT.get)
    dev_stack = LeadgenStack(app, dev_cfg.stack_name, config=dev_cfg)
    prod_stack = LeadgenStack(app, prod_cfg.stack_name, config=prod_cfg)
    add_nag_checks(app)
    assembly = app.synth()  # raises on unacknowledged cdk-nag errors

    def load(stack: Any) -> dict[str, Any]:
        template: dict[str, Any] = assembly.get_stack_artifact(stack.artifact_id).template
        return template

    dev_json, prod_json = load(dev_stack), load(prod_stack)
    return Synth(
        outdir=Path(assembly.directory),
        dev_json=dev_json,
        prod_json=prod_json,
        dev=Template.from_json(dev_json),
        prod=Template.from_json(prod_json),
    )
