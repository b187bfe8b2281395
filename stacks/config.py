"""Per-environment configuration of the leadgen stack: ONE typed place.

`cdk synth -c env=prod` picks the environment (default `dev`). A few settings can be overridden
from the CDK context without editing code (all optional, all strings as `-c` gives them):

    -c env=dev|prod
    -c auth=iam|jwt            (default iam)
    -c jwt_issuer=https://...  -c jwt_audience=aud1,aud2   (required with auth=jwt)
    -c input_path=s3://bucket/key.parquet   (default: s3://<artifact bucket>/input/crm.parquet)
    -c input_key=input/accounts.csv         (another key in the artifact bucket, under input/)
    -c alarm_email=ops@example.com          (subscribes the address to the alarm topic)
    -c max_psi=1.0                          (the build refuses a version drifted beyond it)
    -c max_realized_auc_drop=0.05           (the challenger gate's limit; default 0.02)
    -c account=123456789012 -c region=eu-west-1   (optional; else the CLI's default env)

Nothing here calls AWS: the synth is offline and deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from leadgen.names import (
    DEFAULT_CAT_COLS,
    DEFAULT_HIGH_VALUE_COL,
    DEFAULT_ID_COL,
    DEFAULT_NUM_COLS,
    DEFAULT_TEXT_COLS,
    DUPLICATE_THRESHOLD,
    IDENTITY_COL_ENV,
    INPUT_FORMATS,
    POSSIBLE_THRESHOLD,
)

AuthMode = Literal["iam", "jwt"]
BuildCompute = Literal["SMALL", "LARGE"]

# Key (under the artifact bucket) read by the build job when no input path is configured.
DEFAULT_INPUT_KEY = "input/crm.parquet"

_CRON = re.compile(r"^cron\((\S+ ){5}\S+\)$|^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(\S+)$")


class ConfigError(ValueError):
    """An invalid environment configuration or context value (raised at synth time)."""


@dataclass(frozen=True)
class LeadgenConfig:
    """Everything that differs between environments. Frozen: derive variants with `replace`."""

    env_name: str

    # -- scoring Lambda (container image, arm64) ------------------------------------------------
    memory_mb: int = 2048
    timeout_seconds: int = 29  # API Gateway HTTP APIs time out at 30 s
    ephemeral_storage_mib: int = 2048  # /tmp holds the downloaded artifact version
    provisioned_min: int = 1  # 0 disables provisioned concurrency (and its autoscaling)
    provisioned_max: int = 2
    provisioned_utilisation_target: float = 0.7
    refresh_seconds: int = 300
    max_batch_size: int = 100
    lead_ttl_days: int = 90
    fuzzy_threshold: float = DUPLICATE_THRESHOLD  # fuzzy match -> duplicate (docs/duplicates.md)
    possible_threshold: float = POSSIBLE_THRESHOLD  # fuzzy match -> possible_duplicate
    embedder: str = "onnx"
    log_level: str = "INFO"

    # -- HTTP API -------------------------------------------------------------------------------
    auth_mode: AuthMode = "iam"
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()
    throttle_rate_limit: float = 50.0  # steady requests per second, whole stage
    throttle_burst_limit: int = 100

    # -- index refresh (CodeBuild + EventBridge) ------------------------------------------------
    # Columns default to the layout `leadgen build` defaults to (leadgen.names, spelled once).
    schedule: str = "cron(0 3 * * ? *)"  # EventBridge expression (UTC)
    input_path: str | None = None  # None -> s3://<artifact bucket>/input/crm.parquet
    text_cols: tuple[str, ...] = DEFAULT_TEXT_COLS
    cat_cols: tuple[str, ...] = DEFAULT_CAT_COLS
    num_cols: tuple[str, ...] = DEFAULT_NUM_COLS
    date_cols: tuple[str, ...] = ()  # dates as features: days before the export's snapshot
    high_value_col: str | None = DEFAULT_HIGH_VALUE_COL  # boolean column, or ...
    value_col: str | None = None  # ... a numeric column whose top quantile is high-value
    value_quantile: float = 0.9
    # the export's own names (a CRM's CSV: Id / Email / StageName = "Closed Won", ...)
    input_key: str = DEFAULT_INPUT_KEY  # used when input_path is None
    input_format: str = "auto"  # auto (by extension) | parquet | csv | xlsx
    # how to read the export where its bytes and values do not say (None: detected)
    decimal: str | None = None  # "." or ","
    dayfirst: bool | None = None
    id_col: str = DEFAULT_ID_COL
    email_col: str | None = None  # None: "email" when the export has it
    current_col: str | None = None  # None: "is_current" when the export has it
    high_value_values: tuple[str, ...] = ()  # () = a true/false flag column
    # Who a person is, for the duplicate check: (field, the export's column) pairs, e.g.
    # (("first_name", "First Name"), ("postcode", "Postal Code")); fields of
    # leadgen.names.IDENTITY_COL_ENV. Unset fields: a column named like the field.
    identity_cols: tuple[tuple[str, str], ...] = ()
    # Which rows are customers (only they are answered without a score): a stage column and its
    # values; None: the label when it is a stage, else every row (leadgen.config.CustomerRule).
    customer_col: str | None = None
    customer_values: tuple[str, ...] = ()
    # Columns the leak checks flag that the build may use anyway (each a warning at the top of
    # the report), and a holdout AUC above the ceiling accepted (leadgen.builder.leaks): the
    # build refuses both by default.
    allow_columns: tuple[str, ...] = ()
    allow_high_auc: bool = False
    # customers | known: which known people the API and bulk scoring answer without a score
    short_circuit: str = "customers"
    keep_versions: int = 5
    # the build's drift gate (LEADGEN_MAX_PSI): None publishes whatever the drift, which the
    # drift alarm below still reports
    max_psi: float | None = None
    build_compute: BuildCompute = "SMALL"
    build_timeout_minutes: int = 60
    # outcomes of logged leads (leadgen.builder.outcomes) and the challenger gate
    maturity_days: int = 90
    max_realized_auc_drop: float = 0.02

    # -- bulk scoring (uploads under score-requests/ -> CodeBuild -> scored/) -------------------
    bulk_compute: BuildCompute = "SMALL"
    bulk_timeout_minutes: int = 120

    # -- storage, logs, lifecycle ---------------------------------------------------------------
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    removal_policy: RemovalPolicy = RemovalPolicy.DESTROY
    noncurrent_version_days: int = 7  # old S3 object versions (replaced LATEST, pruned builds)
    access_log_days: int = 90
    # the score log under score-log/ (stacks/score_log.py): kept this long, then expired
    score_log_days: int = 400
    # The scoring function's own log group holds the printed score records too, where erasure
    # cannot reach them: short in every environment (docs/outcomes.md).
    function_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH

    # -- alarms ---------------------------------------------------------------------------------
    alarm_email: str | None = None
    api_5xx_threshold: int = 5  # 5xx responses per 5 minutes
    p99_latency_ms: int = 1500
    max_artifact_age_hours: int = 50  # the served artifact version is older than this
    missing_build_days: int = 2  # no successful build for this many consecutive days
    # a build's largest column PSI against the previous version (leadgen.builder.drift): above
    # 0.25 reads as a population change
    drift_psi_threshold: float = 0.25
    # the backtest (leadgen.builder.backtest): the pooled realised AUC of matured logged leads
    # below this floor, or further below the new build's holdout AUC than this gap, alarms
    realized_auc_floor: float = 0.6
    realized_auc_max_gap: float = 0.15

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", self.env_name):
            raise ConfigError(f"env name must be lowercase [a-z0-9-], got {self.env_name!r}")
        if not 128 <= self.memory_mb <= 10240:
            raise ConfigError(f"memory_mb must be in [128, 10240], got {self.memory_mb}")
        if not 1 <= self.timeout_seconds <= 29:
            raise ConfigError("timeout_seconds must be in [1, 29] (HTTP API integration limit)")
        if not 512 <= self.ephemeral_storage_mib <= 10240:
            raise ConfigError("ephemeral_storage_mib must be in [512, 10240]")
        if self.provisioned_min < 0 or self.provisioned_max < max(self.provisioned_min, 1):
            raise ConfigError(
                f"need 0 <= provisioned_min <= provisioned_max (>= 1), got "
                f"{self.provisioned_min}..{self.provisioned_max}"
            )
        if not 0.1 <= self.provisioned_utilisation_target <= 0.9:
            raise ConfigError("provisioned_utilisation_target must be in [0.1, 0.9]")
        if self.auth_mode not in ("iam", "jwt"):
            raise ConfigError(f"auth must be 'iam' or 'jwt', got {self.auth_mode!r}")
        if self.auth_mode == "jwt":
            if not self.jwt_issuer or not self.jwt_issuer.startswith("https://"):
                raise ConfigError("auth=jwt needs -c jwt_issuer=https://... (the OIDC issuer URL)")
            if not self.jwt_audience:
                raise ConfigError("auth=jwt needs -c jwt_audience=aud1[,aud2] (client ids)")
        if not _CRON.match(self.schedule):
            raise ConfigError(
                f"schedule must be an EventBridge cron(...) with 6 fields or rate(...), "
                f"got {self.schedule!r}"
            )
        if self.input_path is not None and not _S3_URI.match(self.input_path):
            raise ConfigError(f"input_path must be s3://bucket/key, got {self.input_path!r}")
        if (self.high_value_col is None) == (self.value_col is None):
            raise ConfigError("set exactly one of high_value_col or value_col (+ value_quantile)")
        if not 0.0 < self.value_quantile < 1.0:
            raise ConfigError(f"value_quantile must be in (0, 1), got {self.value_quantile}")
        cols = (*self.text_cols, *self.cat_cols, *self.num_cols, *self.date_cols)
        if not cols or len(set(cols)) != len(cols):
            raise ConfigError("feature columns must be non-empty and not repeated")
        if not 0.0 < self.possible_threshold <= self.fuzzy_threshold <= 1.0:
            raise ConfigError("need 0 < possible_threshold <= fuzzy_threshold <= 1")
        if self.embedder not in ("onnx", "hashing"):
            raise ConfigError(f"embedder must be 'onnx' or 'hashing', got {self.embedder!r}")
        if self.keep_versions < 2:
            raise ConfigError("keep_versions must be >= 2 (the served one and a fallback)")
        if not 5 <= self.build_timeout_minutes <= 480:
            raise ConfigError("build_timeout_minutes must be in [5, 480]")
        if not 5 <= self.bulk_timeout_minutes <= 480:
            raise ConfigError("bulk_timeout_minutes must be in [5, 480]")
        if not self.input_key.startswith("input/") or self.input_key.endswith("/"):
            raise ConfigError(f"input_key must be a key under input/, got {self.input_key!r}")
        if self.input_format not in INPUT_FORMATS:
            raise ConfigError(
                f"input_format must be {'|'.join(INPUT_FORMATS)}, got {self.input_format!r}"
            )
        if self.decimal not in (None, ".", ","):
            raise ConfigError(f"decimal must be '.' or ',', got {self.decimal!r}")
        if self.high_value_values and self.value_col is not None:
            raise ConfigError("high_value_values go with high_value_col, not value_col")
        if self.max_psi is not None and not self.max_psi > 0:
            raise ConfigError(f"max_psi must be above 0, got {self.max_psi}")
        unknown = sorted(f for f, _ in self.identity_cols if f not in IDENTITY_COL_ENV)
        if unknown:
            raise ConfigError(f"identity_cols: unknown field(s) {unknown}")
        if self.customer_values and not self.customer_col:
            raise ConfigError("customer_values go with customer_col")
        if self.short_circuit not in ("customers", "known"):
            raise ConfigError(f"short_circuit must be customers|known, got {self.short_circuit!r}")
        if not self.drift_psi_threshold > 0:
            raise ConfigError(
                f"drift_psi_threshold must be above 0, got {self.drift_psi_threshold}"
            )
        if not 1 <= self.missing_build_days <= 7:
            raise ConfigError("missing_build_days must be in [1, 7] (CloudWatch: 7 days max)")
        if not self.maturity_days <= self.score_log_days <= 3650:
            raise ConfigError(
                "need maturity_days <= score_log_days <= 3650 (a lead must outlive its maturity)"
            )
        if not 0 <= self.max_realized_auc_drop <= 1:
            raise ConfigError("max_realized_auc_drop must be in [0, 1]")

    @property
    def stack_name(self) -> str:
        return f"leadgen-{self.env_name}"

    @property
    def retain_data(self) -> bool:
        """Whether stateful resources survive `cdk destroy` (prod) or go with it (dev)."""
        return self.removal_policy == RemovalPolicy.RETAIN

    @property
    def input_location(self) -> tuple[str, str] | None:
        """(bucket, key) of an external input path; None = the artifact bucket's input/ key."""
        if self.input_path is None:
            return None
        m = _S3_URI.match(self.input_path)
        assert m is not None  # validated in __post_init__
        return m.group(1), m.group(2)


ENVIRONMENTS: dict[str, LeadgenConfig] = {
    "dev": LeadgenConfig(env_name="dev"),
    "prod": LeadgenConfig(
        env_name="prod",
        memory_mb=3008,
        provisioned_min=2,
        provisioned_max=10,
        throttle_rate_limit=200.0,
        throttle_burst_limit=400,
        schedule="cron(0 2 * * ? *)",
        build_compute="LARGE",
        build_timeout_minutes=120,
        log_retention=logs.RetentionDays.ONE_YEAR,
        removal_policy=RemovalPolicy.RETAIN,
        noncurrent_version_days=30,
        access_log_days=365,
        max_artifact_age_hours=26,
        missing_build_days=1,
        drift_psi_threshold=0.2,
    ),
}


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def config_from_context(get: Callable[[str], Any]) -> LeadgenConfig:
    """Resolve the config from CDK context (`app.node.try_get_context`); see the module doc."""

    def text(key: str) -> str | None:
        value = get(key)
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    env_name = text("env") or "dev"
    if env_name not in ENVIRONMENTS:
        raise ConfigError(f"unknown env {env_name!r}: choose one of {sorted(ENVIRONMENTS)}")
    base = ENVIRONMENTS[env_name]
    overrides: dict[str, Any] = {}
    auth = text("auth")
    if auth is not None:
        overrides["auth_mode"] = auth
    issuer = text("jwt_issuer")
    if issuer is not None:
        overrides["jwt_issuer"] = issuer
    audience = text("jwt_audience")
    if audience is not None:
        overrides["jwt_audience"] = _csv(audience)
    input_path = text("input_path")
    if input_path is not None:
        overrides["input_path"] = input_path
    input_key = text("input_key")
    if input_key is not None:
        overrides["input_key"] = input_key
    email = text("alarm_email")
    if email is not None:
        overrides["alarm_email"] = email
    for key in ("max_psi", "max_realized_auc_drop"):
        value = text(key)
        if value is not None:
            try:
                overrides[key] = float(value)
            except ValueError:
                raise ConfigError(f"{key} must be a number, got {value!r}") from None
    return replace(base, **overrides)
