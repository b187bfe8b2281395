"""Index refresh: a CodeBuild project that runs the build job, started on a schedule.

Why the SAME container image as the Lambda (custom ARM image from the Docker asset) rather than
the CodeBuild standard image with the job pip-installed at build time: the indices are only
valid for the exact embedding code, ONNX model and tokenizer that will embed leads at serving
time. Running the build in the serving image guarantees that by construction (one image digest,
built once per deploy), starts faster (no pip install of onnxruntime/faiss per build), and needs
no network access to PyPI from the build. The cost: the image is the Lambda base image, whose
ENTRYPOINT (/lambda-entrypoint.sh) CodeBuild bypasses by running the buildspec in a shell.

The buildspec is `build_job/buildspec.yml`, and only that file: the project has no source, so
the file is parsed at synth time and inlined into the project. A missing, empty or malformed
file stops the synth (BuildspecError naming the file) rather than deploying a project that runs
something other than what the build job's directory says.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from aws_cdk import Duration, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from leadgen.names import (
    IDENTITY_COL_ENV,
    LIVE_ALIAS,
    METRICS_NAMESPACE,
    SCORE_LOG_PREFIX,
    Env,
)
from stacks.artifact_storage import (
    ARTIFACTS_PREFIX,
    INPUT_PREFIX,
    ArtifactStorage,
    nag_objects_resource,
)
from stacks.config import LeadgenConfig
from stacks.container_image import REPO_ROOT, LeadgenImage
from stacks.duplicate_table import DuplicateTable
from stacks.hash_key import EmailHashKey
from stacks.identity_table import IdentityTable
from stacks.log_groups import frozen_log_group
from stacks.nag import acknowledge

BUILDSPEC_FILE = REPO_ROOT / "build_job" / "buildspec.yml"

# Frozen CloudFormation logical id of the build log group. Never change it.
BUILD_LOG_GROUP_ID = "BuildLogGroup"


class BuildspecError(ValueError):
    """The build job's buildspec is missing, empty or not a buildspec (raised at synth time)."""


def load_buildspec(path: Path = BUILDSPEC_FILE) -> dict[str, Any]:
    """The buildspec in `path`, parsed, for `codebuild.BuildSpec.from_object`."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BuildspecError(
            f"{path}: not found; the index build project runs the buildspec in this file"
        ) from None
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BuildspecError(f"{path}: not valid YAML: {exc}") from exc
    if spec is None:  # empty, or comments only
        raise BuildspecError(f"{path}: empty; the index build project needs its buildspec")
    if not isinstance(spec, dict) or "version" not in spec or not spec.get("phases"):
        raise BuildspecError(f"{path}: not a buildspec (a mapping with version and phases)")
    return spec


BUILD_COMPUTE: dict[str, codebuild.ComputeType] = {
    "SMALL": codebuild.ComputeType.SMALL,
    "LARGE": codebuild.ComputeType.LARGE,
}


# What the build job calls on the scoring function to roll a new artifact version out to it
# (leadgen/rollout.py): exactly these, on that function and its `live` alias only.
ROLLOUT_ACTIONS = (
    "lambda:GetFunctionConfiguration",
    "lambda:UpdateFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:GetAlias",
    "lambda:UpdateAlias",
)


def build_environment(
    config: LeadgenConfig,
    storage: ArtifactStorage,
    table: DuplicateTable,
    identity: IdentityTable,
    hash_key: EmailHashKey,
    function: lambda_.IFunction | None = None,
) -> dict[str, str]:
    """The build job's settings (leadgen.names.Env): input, columns, outputs, high-value rule,
    and the scoring function it rolls out to, with the memory and /tmp a version must fit."""
    environment: dict[str, str] = {
        Env.INPUT_PATH: config.input_path or storage.default_input_uri,
        Env.TEXT_COLS: ",".join(config.text_cols),
        Env.CAT_COLS: ",".join(config.cat_cols),
        Env.NUM_COLS: ",".join(config.num_cols),
        Env.ARTIFACTS_URI: storage.artifacts_uri,
        Env.DUP_TABLE_NAME: table.table_name,
        Env.IDENTITY_TABLE_NAME: identity.table_name,
        Env.EMAIL_HASH_KEY_SECRET_ARN: hash_key.secret_arn,
        Env.KEEP_VERSIONS: str(config.keep_versions),
        Env.EMBEDDER: config.embedder,
        Env.FUNCTION_MEMORY_MB: str(config.memory_mb),
        Env.FUNCTION_TMP_MB: str(config.ephemeral_storage_mib),
        # the score log the build reads the logged leads' outcomes from
        Env.SCORE_LOG: storage.score_log_uri,
        Env.MATURITY_DAYS: str(config.maturity_days),
        Env.MAX_REALIZED_AUC_DROP: str(config.max_realized_auc_drop),
    }
    if function is not None:
        environment[Env.FUNCTION_NAME] = function.function_name
    if config.max_psi is not None:
        environment[Env.MAX_PSI] = str(config.max_psi)
    if config.value_col is not None:
        environment[Env.VALUE_COL] = config.value_col
        environment[Env.VALUE_QUANTILE] = str(config.value_quantile)
    else:
        assert config.high_value_col is not None  # exactly one rule: validated by LeadgenConfig
        environment[Env.HIGH_VALUE_COL] = config.high_value_col
    environment.update(export_environment(config))
    return environment


def export_environment(config: LeadgenConfig) -> dict[str, str]:
    """How to read the export: its format, its own names for the non-feature columns (id, email,
    the identity columns of the duplicate check) and which rows are customers."""
    environment = {Env.INPUT_FORMAT: config.input_format, Env.ID_COL: config.id_col}
    optional = {
        Env.EMAIL_COL: config.email_col,
        Env.CURRENT_COL: config.current_col,
        Env.HIGH_VALUE_VALUES: ",".join(config.high_value_values) or None,
        Env.DATE_COLS: ",".join(config.date_cols) or None,
        Env.DECIMAL: config.decimal,
        Env.DAYFIRST: None if config.dayfirst is None else ("yes" if config.dayfirst else "no"),
        Env.CUSTOMER_COL: config.customer_col,
        Env.CUSTOMER_VALUES: ",".join(config.customer_values) or None,
        Env.ALLOW_COLUMNS: ",".join(config.allow_columns) or None,
        Env.ALLOW_HIGH_AUC: "yes" if config.allow_high_auc else None,
        **{IDENTITY_COL_ENV[f]: col for f, col in config.identity_cols},
    }
    environment.update({name: value for name, value in optional.items() if value})
    return environment


def grant_put_metrics(role: iam.IRole) -> None:
    """Put metrics in the project's namespace only: PutMetricData has no resource-level
    permissions, the namespace condition is the limit (build_job/metrics.py)."""
    iam.Grant.add_to_principal(
        grantee=role,
        actions=["cloudwatch:PutMetricData"],
        resource_arns=["*"],
        conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
    )


def grant_rollout(role: iam.IRole, function: lambda_.IFunction) -> None:
    """The roll-out's calls, on the scoring function and its `live` alias (no other function,
    no other alias, no version deletion, no code change)."""
    iam.Grant.add_to_principal(
        grantee=role,
        actions=list(ROLLOUT_ACTIONS),
        resource_arns=[function.function_arn, f"{function.function_arn}:{LIVE_ALIAS}"],
    )


class IndexRefresh(Construct):
    """CodeBuild index-build project + EventBridge schedule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LeadgenConfig,
        image: LeadgenImage,
        storage: ArtifactStorage,
        table: DuplicateTable,
        identity: IdentityTable,
        hash_key: EmailHashKey,
        function: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = frozen_log_group(
            self, "BuildLogs", config=config, logical_id=BUILD_LOG_GROUP_ID
        )
        environment = build_environment(config, storage, table, identity, hash_key, function)
        self.project = self._project(config, image, environment)
        role = self.project.role
        assert role is not None
        self._grant(role, config, storage, table)
        identity.grant_sync(role)
        hash_key.grant_read(role)
        if function is not None:
            grant_rollout(role, function)
        acknowledge_image_project(
            self.project,
            role,
            "ecr:GetAuthorizationToken (pulling the build image) and cloudwatch:PutMetricData "
            "(the drift metrics, limited to the project's namespace by a condition) support no "
            "resource-level permissions; AWS requires Resource '*' for them.",
        )
        self._acknowledge_role(role, config)
        self.rule = self._schedule(config)

    def _project(
        self, config: LeadgenConfig, image: LeadgenImage, environment: dict[str, str]
    ) -> codebuild.Project:
        return image_project(
            self,
            "Project",
            description="leadgen: build FAISS indices from the CRM export, publish an artifact "
            "version, sync the duplicate table",
            buildspec=load_buildspec(),
            image=image,
            compute=config.build_compute,
            timeout_minutes=config.build_timeout_minutes,
            environment=environment,
            log_group=self.log_group,
            concurrent_build_limit=1,  # two builds racing to move LATEST gain nothing
        )

    def _grant(
        self,
        role: iam.IRole,
        config: LeadgenConfig,
        storage: ArtifactStorage,
        table: DuplicateTable,
    ) -> None:
        """Read the input, publish and prune artifact versions, sync the duplicate table."""
        if config.input_path is None:
            storage.grant_read_input(role)
        else:
            self._grant_external(role, config)
        storage.grant_publish_artifacts(role)
        storage.grant_read_score_log(role)
        table.grant_sync(role)
        self._grant_drift_metrics(role)

    @staticmethod
    def _grant_drift_metrics(role: iam.IRole) -> None:
        """Put the drift and backtest metrics (build_job/metrics.py)."""
        grant_put_metrics(role)

    def _schedule(self, config: LeadgenConfig) -> events.Rule:
        return events.Rule(
            self,
            "Schedule",
            description="leadgen: scheduled index refresh",
            schedule=events.Schedule.expression(config.schedule),
            targets=[
                targets.CodeBuildProject(
                    self.project, retry_attempts=2, max_event_age=Duration.hours(2)
                )
            ],
        )

    # -- cdk-nag acknowledgements, each for its reason -----------------------------------------
    def _acknowledge_role(self, role: iam.IRole, config: LeadgenConfig) -> None:
        """Acknowledge the wildcard resources of the build role, each for its reason."""
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_objects_resource(ARTIFACTS_PREFIX)}]",
            "The build job writes new artifact version directories (names unknown in advance) "
            "and prunes old ones, only below the artifacts/ prefix of the artifact bucket.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_objects_resource(SCORE_LOG_PREFIX)}]",
            "The build job reads the score log's objects (named by delivery time and part) to "
            "measure logged leads' outcomes: read-only, only below the score-log/ prefix.",
        )
        self._acknowledge_input(role, config)

    def _acknowledge_input(self, role: iam.IRole, config: LeadgenConfig) -> None:
        if config.input_path is None:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{nag_objects_resource(INPUT_PREFIX)}]",
                "The CRM export is a parquet file or a folder of parts under input/: read-only "
                "access to that prefix of the artifact bucket.",
            )
        else:
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::"
                f"{config.input_path.removeprefix('s3://')}*]",
                "The configured CRM export may be a folder of parquet parts: read-only access "
                "to that key and what lies below it.",
            )

    def _grant_external(self, role: iam.IRole, config: LeadgenConfig) -> None:
        """Read an input path outside the artifact bucket (key and anything below it)."""
        location = config.input_location
        assert location is not None
        bucket_name, key = location
        bucket = s3.Bucket.from_bucket_name(self, "InputBucket", bucket_name)
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["s3:GetObject"],
            resource_arns=[bucket.arn_for_objects(f"{key}*")],
        )
        iam.Grant.add_to_principal(
            grantee=role,
            actions=["s3:ListBucket"],
            resource_arns=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{key}*"]}},
        )


# -- a CodeBuild project on the serving image (index refresh; bulk scoring reuses it) ------------
def image_project(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    buildspec: dict[str, Any],
    image: LeadgenImage,
    compute: str,
    timeout_minutes: int,
    environment: dict[str, str],
    log_group: Any,
    concurrent_build_limit: int | None = None,
) -> codebuild.Project:
    """A project that runs `buildspec` in the serving image (see the module docstring), with no
    source and no artifacts, logging to `log_group`."""
    return codebuild.Project(
        scope,
        construct_id,
        description=description,
        build_spec=codebuild.BuildSpec.from_object(buildspec),
        environment=codebuild.BuildEnvironment(
            build_image=codebuild.LinuxArmBuildImage.from_ecr_repository(
                image.repository, image.tag
            ),
            compute_type=BUILD_COMPUTE[compute],
            privileged=False,
        ),
        environment_variables={
            name: codebuild.BuildEnvironmentVariable(value=value)
            for name, value in sorted(environment.items())
        },
        timeout=Duration.minutes(timeout_minutes),
        queued_timeout=Duration.hours(1),
        concurrent_build_limit=concurrent_build_limit,
        logging=codebuild.LoggingOptions(
            cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)
        ),
    )


IMAGE_PULL_STAR = (
    "ecr:GetAuthorizationToken (pulling the build image) supports no resource-level "
    "permissions; AWS requires Resource '*' for it."
)


def acknowledge_image_project(
    project: codebuild.Project, role: iam.IRole, star_reason: str = IMAGE_PULL_STAR
) -> None:
    """What every serving-image project is acknowledged for, each with its reason (`star_reason`:
    why the role holds Resource '*' statements)."""
    acknowledge(
        project,
        "AwsSolutions-CB4",
        "The project produces no CodeBuild artifacts or caches (NoArtifacts); its outputs go "
        "to the SSE-S3 artifact bucket and the encrypted table, and its logs to a log group.",
    )
    acknowledge(
        project,
        "AwsSolutions-CB5",
        "A custom image is deliberate: the build runs in the serving image so leads and "
        "customers are embedded by identical code and model (see the module docstring).",
    )
    _acknowledge_codebuild_defaults(project, role)
    acknowledge(role, "AwsSolutions-IAM5[Resource::*]", star_reason)


def _acknowledge_codebuild_defaults(project: codebuild.Project, role: iam.IRole) -> None:
    """CDK's own grants to every project, named after the project's logical id."""
    project_id = Stack.of(project).resolve(
        typing.cast(codebuild.CfnProject, project.node.default_child).logical_id
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:"
        f"<AWS::AccountId>:log-group:/aws/codebuild/<{project_id}>:*]",
        "CDK's default CodeBuild grant for this project's own default log group; log "
        "streams are named per build, so AWS requires the ':*' stream wildcard.",
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:"
        f"<AWS::AccountId>:report-group/<{project_id}>-*]",
        "CDK's default CodeBuild grant for test report groups named after this project "
        "only; the job creates none, and the grant cannot be removed.",
    )
