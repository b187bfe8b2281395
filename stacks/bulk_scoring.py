"""Bulk scoring in AWS: a lead file uploaded under score-requests/ is scored by CodeBuild.

S3 sends the artifact bucket's events to EventBridge (a bucket property, stacks/artifact_storage);
a rule matches "Object Created" under score-requests/ and starts a CodeBuild build whose input
(the StartBuild payload) sets LEADGEN_SCORE_REQUEST_BUCKET / _KEY from the event. The build runs
`python -m bulk_job` (bulk_job/buildspec.yml) in the serving image, i.e. `leadgen score-file`
into scored/<name>.parquet (+ .rejects.parquet), the artifact version in the object metadata.

Why a second CodeBuild project rather than the index-refresh project with an overridden command
and environment:
- least privilege: this role reads score-requests/ and artifacts/, writes scored/, and only
  looks duplicates up; the index role publishes and prunes artifacts/ and rewrites the table.
  One project is one role, which would hold the union of both;
- independence: the index project runs one build at a time (two builds moving LATEST gain
  nothing); uploads are independent files that may run side by side, and a queue of them must not
  hold back the nightly refresh (nor a refresh hold back a sales team's file);
- its own alarms: a failed bulk run is not a failed refresh, and its successful runs must not
  count as the index builds whose absence the BuildMissing alarm watches.
It shares the image (leads are embedded by the same code and model as the served version) and the
project factory of stacks/index_refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from leadgen.names import SCORE_LOG_PREFIX, SCORE_REQUESTS_PREFIX, SCORED_PREFIX, Env
from stacks.artifact_storage import ARTIFACTS_PREFIX, ArtifactStorage, nag_objects_resource
from stacks.config import LeadgenConfig
from stacks.container_image import REPO_ROOT, LeadgenImage
from stacks.duplicate_table import DuplicateTable
from stacks.hash_key import EmailHashKey
from stacks.identity_table import IdentityTable
from stacks.index_refresh import (
    acknowledge_image_project,
    grant_put_metrics,
    image_project,
    load_buildspec,
)
from stacks.log_groups import frozen_log_group
from stacks.nag import acknowledge

BULK_BUILDSPEC_FILE = REPO_ROOT / "bulk_job" / "buildspec.yml"
# Frozen CloudFormation logical id of the bulk job's log group. Never change it.
BULK_LOG_GROUP_ID = "BulkScoringLogGroup"
# Where the job's request comes from in the S3 "Object Created" event (EventBridge JSON paths).
REQUEST_FIELDS: dict[str, str] = {
    Env.SCORE_REQUEST_BUCKET: "$.detail.bucket.name",
    Env.SCORE_REQUEST_KEY: "$.detail.object.key",
}
# The duplicate check's lookups only (leadgen.duplicates.store.LookupOnly never records a bulk
# row): the BatchGetItem of stacks.duplicate_table.SCORING_ACTIONS, without its PutItem.
LOOKUP_ACTIONS: tuple[str, ...] = ("dynamodb:BatchGetItem",)


def bulk_environment(
    config: LeadgenConfig, storage: ArtifactStorage, tables: DuplicateTables
) -> dict[str, str]:
    """The project's settings; the request itself arrives per build from the rule."""
    return {
        Env.ARTIFACTS_URI: storage.artifacts_uri,
        Env.DUP_TABLE_NAME: tables.emails.table_name,
        Env.IDENTITY_TABLE_NAME: tables.identity.table_name,
        Env.EMAIL_HASH_KEY_SECRET_ARN: tables.hash_key.secret_arn,
        Env.SHORT_CIRCUIT: config.short_circuit,
        Env.EMBEDDER: config.embedder,
        # the scored leads, as parquet parts under score-log/ (leadgen.stores.score_log)
        Env.SCORE_LOG: storage.score_log_uri,
    }


@dataclass(frozen=True)
class DuplicateTables:
    """What the duplicate check reads: the email table, the identity table and the key the
    emails were hashed with (a lookup with another key would never match)."""

    emails: DuplicateTable
    identity: IdentityTable
    hash_key: EmailHashKey


def start_build_input() -> events.RuleTargetInput:
    """The StartBuild payload: environmentVariablesOverride from the event's bucket and key."""
    overrides: list[dict[str, Any]] = [
        {"name": name, "type": "PLAINTEXT", "value": events.EventField.from_path(path)}
        for name, path in REQUEST_FIELDS.items()
    ]
    return events.RuleTargetInput.from_object({"environmentVariablesOverride": overrides})


class BulkScoring(Construct):
    """The bulk scoring CodeBuild project and the EventBridge rule that starts it on uploads."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LeadgenConfig,
        image: LeadgenImage,
        storage: ArtifactStorage,
        tables: DuplicateTables,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = frozen_log_group(self, "Logs", config=config, logical_id=BULK_LOG_GROUP_ID)
        self.project = image_project(
            self,
            "Project",
            description="leadgen: score a lead file uploaded under score-requests/ into scored/",
            buildspec=load_buildspec(BULK_BUILDSPEC_FILE),
            image=image,
            compute=config.bulk_compute,
            timeout_minutes=config.bulk_timeout_minutes,
            environment=bulk_environment(config, storage, tables),
            log_group=self.log_group,
        )
        role = self.project.role
        assert role is not None
        self._grant(role, storage, tables)
        acknowledge_image_project(
            self.project,
            role,
            "ecr:GetAuthorizationToken (pulling the build image) and cloudwatch:PutMetricData "
            "(score-log failures, limited to the project's namespace by a condition) support no "
            "resource-level permissions; AWS requires Resource '*' for them.",
        )
        self._acknowledge_role(role)
        self.rule = self._rule(storage)

    def _grant(self, role: iam.IRole, storage: ArtifactStorage, tables: DuplicateTables) -> None:
        """Read the upload and the served version, write the result, look duplicates up."""
        storage.grant_read_score_requests(role)
        storage.grant_read_artifacts(role)
        storage.grant_write_scored(role)
        storage.grant_write_score_log(role)
        grant_put_metrics(role)
        iam.Grant.add_to_principal(
            grantee=role,
            actions=list(LOOKUP_ACTIONS),
            resource_arns=[tables.emails.table.table_arn],
        )
        tables.identity.grant_lookup(role)
        tables.hash_key.grant_read(role)

    def _rule(self, storage: ArtifactStorage) -> events.Rule:
        return events.Rule(
            self,
            "OnUpload",
            description=f"leadgen: score lead files uploaded under {SCORE_REQUESTS_PREFIX}/",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [storage.bucket.bucket_name]},
                    "object": {"key": events.Match.prefix(f"{SCORE_REQUESTS_PREFIX}/")},
                },
            ),
            targets=[
                targets.CodeBuildProject(
                    self.project,
                    event=start_build_input(),
                    retry_attempts=2,
                    max_event_age=Duration.hours(2),
                )
            ],
        )

    def _acknowledge_role(self, role: iam.IRole) -> None:
        for prefix, why in (
            (SCORE_REQUESTS_PREFIX, "reads the uploaded lead file named by the event"),
            (ARTIFACTS_PREFIX, "reads the LATEST pointer and the version it names"),
            (SCORED_PREFIX, "writes the scored file and its rejects, named after the upload"),
            (SCORE_LOG_PREFIX, "logs the scored leads as parts named by day, time and run"),
        ):
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{nag_objects_resource(prefix)}]",
                f"The bulk scoring job {why}; object names are unknown in advance, so the "
                f"grant is the {prefix}/ prefix of the artifact bucket and nothing wider.",
            )
