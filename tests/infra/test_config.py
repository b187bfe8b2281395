"""Per-environment config: one typed place, chosen and overridden from the CDK context."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import RemovalPolicy

from stacks.config import ENVIRONMENTS, ConfigError, LeadgenConfig, config_from_context


def ctx(**values: Any) -> Any:
    return values.get


def test_default_is_dev_with_iam_auth() -> None:
    cfg = config_from_context(ctx())
    assert cfg == ENVIRONMENTS["dev"]
    assert cfg.stack_name == "leadgen-dev"
    assert cfg.auth_mode == "iam"
    assert cfg.removal_policy == RemovalPolicy.DESTROY


def test_prod_differs_where_it_should() -> None:
    dev, prod = ENVIRONMENTS["dev"], config_from_context(ctx(env="prod"))
    assert prod.stack_name == "leadgen-prod"
    assert prod.retain_data and not dev.retain_data
    assert prod.provisioned_min > dev.provisioned_min
    assert prod.provisioned_max > dev.provisioned_max
    assert prod.log_retention.value > dev.log_retention.value


def test_jwt_from_context() -> None:
    cfg = config_from_context(
        ctx(auth="jwt", jwt_issuer="https://idp.example.com/", jwt_audience=" a, b ,")
    )
    assert cfg.auth_mode == "jwt"
    assert cfg.jwt_issuer == "https://idp.example.com/"
    assert cfg.jwt_audience == ("a", "b")


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"env": "staging"}, "unknown env"),
        ({"auth": "jwt"}, "jwt_issuer"),
        ({"auth": "jwt", "jwt_issuer": "https://idp.example.com/"}, "jwt_audience"),
        ({"auth": "jwt", "jwt_issuer": "http://insecure", "jwt_audience": "a"}, "jwt_issuer"),
        ({"auth": "basic"}, "auth must be"),
        ({"input_path": "/local/crm.parquet"}, "input_path"),
        ({"max_psi": "high"}, "max_psi must be a number"),
        ({"max_psi": "-1"}, "max_psi must be above 0"),
    ],
)
def test_bad_context_fails_the_synth_with_a_clear_message(
    context: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_context(ctx(**context))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": "0 3 * * *"}, "schedule"),
        ({"provisioned_min": 3, "provisioned_max": 2}, "provisioned"),
        ({"timeout_seconds": 60}, "timeout"),
        ({"value_col": "arr"}, "exactly one"),
        ({"high_value_col": None}, "exactly one"),
        ({"text_cols": ("bio",), "cat_cols": ("bio",)}, "repeated"),
        ({"missing_build_days": 8}, "missing_build_days"),
        ({"bulk_timeout_minutes": 1}, "bulk_timeout_minutes"),
        ({"input_key": "crm.csv"}, "input_key"),
        ({"input_format": "xls"}, "input_format"),
        ({"value_col": "arr", "high_value_col": None, "high_value_values": ("won",)}, "go with"),
        ({"drift_psi_threshold": 0.0}, "drift_psi_threshold"),
    ],
)
def test_invalid_environment_values_are_rejected(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        replace(ENVIRONMENTS["dev"], **change)


def test_value_quantile_rule_and_external_input() -> None:
    cfg = replace(
        ENVIRONMENTS["dev"],
        high_value_col=None,
        value_col="annual_revenue",
        value_quantile=0.8,
        input_path="s3://my-crm/exports/2024/",
    )
    assert cfg.input_location == ("my-crm", "exports/2024/")


def test_provisioned_concurrency_can_be_disabled(tmp_path: Path) -> None:
    """The README's cheaper dev (`provisioned_min=0`), synthesised: no provisioned concurrency
    on the alias, no autoscaling of it, no spill-over alarm (nothing to spill over from), the
    API still integrated with the alias, and cdk-nag clean."""
    from aws_cdk import App

    from stacks.leadgen_stack import LeadgenStack
    from stacks.nag import add_nag_checks, assert_nag_clean
    from tests.infra.conftest import cdk_json_context

    cfg: LeadgenConfig = replace(ENVIRONMENTS["dev"], provisioned_min=0, provisioned_max=1)
    app = App(outdir=str(tmp_path), context=cdk_json_context())
    stack = LeadgenStack(app, "leadgen-cheap-dev", config=cfg)
    add_nag_checks(app)
    assembly = app.synth()
    assert_nag_clean(assembly.directory)
    template = assembly.get_stack_artifact(stack.artifact_id).template
    resources = template["Resources"].values()
    (alias,) = [r for r in resources if r["Type"] == "AWS::Lambda::Alias"]
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]
    types = {r["Type"] for r in resources}
    assert "AWS::ApplicationAutoScaling::ScalableTarget" not in types
    assert "AWS::ApplicationAutoScaling::ScalingPolicy" not in types
    alarms = [json.dumps(r) for r in resources if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert alarms and not [a for a in alarms if "ProvisionedConcurrencySpillover" in a]
    (integration,) = [r for r in resources if r["Type"] == "AWS::ApiGatewayV2::Integration"]
    assert "LiveAlias" in json.dumps(integration["Properties"]["IntegrationUri"])


def test_app_py_fails_on_a_warning_level_nag_finding(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`cdk synth` runs app.py: a lone unacknowledged warning (DynamoDB without point-in-time
    recovery) must fail it, even when cdk-nag's own verdict lets it through (here it does, once
    another finding is acknowledged): app.py exits 1 and names the finding."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk import aws_s3 as s3

    import app as cdk_app
    from stacks.nag import acknowledge, add_nag_checks

    def build_with_a_warning(app: App) -> Stack:
        stack = Stack(app, "WarningOnly")
        key = dynamodb.Attribute(name="k", type=dynamodb.AttributeType.STRING)
        dynamodb.Table(stack, "NoPitr", partition_key=key)
        bucket = s3.Bucket(stack, "Logged", enforce_ssl=True)
        acknowledge(bucket, "AwsSolutions-S1", "a throwaway bucket in a test of app.py's nag gate")
        add_nag_checks(app)
        return stack

    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path))
    monkeypatch.setattr(cdk_app, "build_app", build_with_a_warning)
    assert cdk_app.main() == 1
    err = capsys.readouterr().err
    assert "cdk-nag: 1 unacknowledged cdk-nag finding(s)" in err, err
    assert "AwsSolutions-DDB3" in err and "WarningOnly/NoPitr" in err


def test_the_exports_own_names_reach_the_build_environment() -> None:
    """A CRM's CSV configured in stacks/config.py: its names go to the build job as LEADGEN_*."""
    from stacks.index_refresh import export_environment

    assert export_environment(ENVIRONMENTS["dev"]) == {
        "LEADGEN_INPUT_FORMAT": "auto",
        "LEADGEN_ID_COL": "customer_id",
    }
    crm = replace(
        ENVIRONMENTS["dev"],
        input_key="input/accounts.csv",
        input_format="csv",
        id_col="Id",
        email_col="Email",
        current_col="Is Current",
        high_value_col="StageName",
        high_value_values=("Closed Won", "customer"),
        date_cols=("Created Date", "Last Activity"),
        decimal=",",
        dayfirst=True,
    )
    assert export_environment(crm) == {
        "LEADGEN_INPUT_FORMAT": "csv",
        "LEADGEN_ID_COL": "Id",
        "LEADGEN_EMAIL_COL": "Email",
        "LEADGEN_CURRENT_COL": "Is Current",
        "LEADGEN_HIGH_VALUE_VALUES": "Closed Won,customer",
        "LEADGEN_DATE_COLS": "Created Date,Last Activity",
        "LEADGEN_DECIMAL": ",",
        "LEADGEN_DAYFIRST": "yes",
    }
    assert config_from_context({"input_key": "input/accounts.csv"}.get).input_key == (
        "input/accounts.csv"
    )


def test_identity_columns_and_the_customer_rule_reach_the_build_environment() -> None:
    """The duplicate check's columns by the export's names, and who is a customer: to the build
    job as the variables `leadgen build` reads (leadgen.config.IdentityColumns, CustomerRule)."""
    from leadgen.config import BuildConfig
    from stacks.index_refresh import export_environment

    hubspot = replace(
        ENVIRONMENTS["dev"],
        identity_cols=(("first_name", "First Name"), ("postcode", "Postal Code")),
        customer_col="Lifecycle Stage",
        customer_values=("customer", "evangelist"),
    )
    env = export_environment(hubspot)
    cfg = BuildConfig.from_env(env)
    assert cfg.identity.configured() == {"first_name": "First Name", "postcode": "Postal Code"}
    assert (cfg.customers.column, cfg.customers.values) == (
        "Lifecycle Stage", ("customer", "evangelist"),
    )  # fmt: skip
    with pytest.raises(ConfigError, match="identity_cols"):
        replace(ENVIRONMENTS["dev"], identity_cols=(("fax", "Fax"),))
    with pytest.raises(ConfigError, match="short_circuit"):
        replace(ENVIRONMENTS["dev"], short_circuit="everyone")


def test_columns_allowed_past_the_leak_checks_reach_the_build_environment() -> None:
    """A column the leak checks flag, allowed in stacks/config.py, and the AUC ceiling waived:
    the build job reads them as `leadgen build --allow-column ... --allow-high-auc` would."""
    from leadgen.config import BuildConfig
    from stacks.index_refresh import export_environment

    default = BuildConfig.from_env(export_environment(ENVIRONMENTS["dev"]))
    assert default.allow_columns == () and default.allow_high_auc is False
    allowed = replace(ENVIRONMENTS["dev"], allow_columns=("Lead Source",), allow_high_auc=True)
    cfg = BuildConfig.from_env(export_environment(allowed))
    assert cfg.allow_columns == ("Lead Source",) and cfg.allow_high_auc is True
