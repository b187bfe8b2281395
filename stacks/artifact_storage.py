"""Artifact storage: the S3 bucket holding artifact versions (and, by default, the CRM input).

Layout of the bucket:
    artifacts/VERSION/...   immutable artifact versions written by the build job
    artifacts/LATEST        the pointer, written last by the build job, polled by the Lambda
    input/crm.parquet       the default CRM export location read by the build job
    score-requests/NAME.csv lead files to score: an upload starts the bulk scoring job
    scored/NAME.parquet     its results (+ NAME.rejects.parquet)
    score-log/              the score log (stacks/score_log.py): firehose/YYYY/MM/DD/HH/ from the
                            Lambda, day=YYYY-MM-DD/ parts from the bulk job; expires after
                            score_log_days

Versioned, SSE-S3, TLS only, public access blocked, server access logs to a second bucket, S3
events to EventBridge (the bulk scoring rule listens for score-requests/ uploads). Grants are per
prefix: the Lambda can only read artifacts/, the build job reads input/ and reads/writes/prunes
artifacts/ and reads score-log/, the bulk job reads score-requests/ and artifacts/ and writes
scored/ and score-log/, Firehose writes score-log/firehose/.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from leadgen.names import SCORE_LOG_PREFIX, SCORE_REQUESTS_PREFIX, SCORED_PREFIX
from stacks.config import DEFAULT_INPUT_KEY, LeadgenConfig

ARTIFACTS_PREFIX = "artifacts"
INPUT_PREFIX = DEFAULT_INPUT_KEY.split("/", 1)[0]

# Frozen CloudFormation logical ids: replacing a bucket loses its data. Never change them.
ARTIFACT_BUCKET_ID = "ArtifactBucket"
ACCESS_LOG_BUCKET_ID = "AccessLogBucket"


def nag_objects_resource(prefix: str) -> str:
    """How cdk-nag prints the object ARN pattern of `prefix` (for acknowledging IAM5)."""
    return f"<{ARTIFACT_BUCKET_ID}.Arn>/{prefix}/*"


class ArtifactStorage(Construct):
    """The artifact bucket and its server-access-log bucket."""

    def __init__(self, scope: Construct, construct_id: str, *, config: LeadgenConfig) -> None:
        super().__init__(scope, construct_id)
        self.access_log_bucket = self._access_log_bucket(config)
        self.bucket = self._artifact_bucket(config)
        self.input_key = config.input_key
        # S3 -> EventBridge as the bucket's own property: no notification custom resource (and
        # no Lambda of CDK's) is needed for the bulk scoring rule to see uploads.
        cfn = self.bucket.node.default_child
        assert isinstance(cfn, s3.CfnBucket)
        cfn.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
                event_bridge_enabled=True
            )
        )

    def _access_log_bucket(self, config: LeadgenConfig) -> s3.Bucket:
        # No AwsSolutions-S1 finding here: cdk-nag recognises the S3 log-delivery bucket policy.
        return self._secure_bucket(
            "AccessLogs",
            ACCESS_LOG_BUCKET_ID,
            config,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(config.access_log_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )

    def _artifact_bucket(self, config: LeadgenConfig) -> s3.Bucket:
        return self._secure_bucket(
            "Artifacts",
            ARTIFACT_BUCKET_ID,
            config,
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="artifact-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-object-versions",
                    # Overwritten LATEST pointers and pruned artifact versions stay recoverable
                    # for a while, then go (the build job keeps the newest N versions current).
                    noncurrent_version_expiration=Duration.days(config.noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    expired_object_delete_marker=True,
                ),
                s3.LifecycleRule(
                    id="expire-score-log",
                    prefix=f"{SCORE_LOG_PREFIX}/",
                    expiration=Duration.days(config.score_log_days),
                ),
            ],
        )

    def _secure_bucket(
        self,
        construct_id: str,
        logical_id: str,
        config: LeadgenConfig,
        *,
        versioned: bool,
        lifecycle_rules: list[s3.LifecycleRule],
        server_access_logs_bucket: s3.IBucket | None = None,
        server_access_logs_prefix: str | None = None,
    ) -> s3.Bucket:
        """A bucket with what both buckets share: SSE-S3 (S3 log delivery requires it), no
        public access, bucket-owner objects, TLS 1.2+ only, the environment's removal policy
        (dev also empties it on destroy), and a frozen logical id (a replaced bucket loses its
        data)."""
        bucket = s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=versioned,
            server_access_logs_bucket=server_access_logs_bucket,
            server_access_logs_prefix=server_access_logs_prefix,
            lifecycle_rules=lifecycle_rules,
            removal_policy=config.removal_policy,
            auto_delete_objects=config.removal_policy == RemovalPolicy.DESTROY,
        )
        cfn = bucket.node.default_child
        assert isinstance(cfn, s3.CfnBucket)
        cfn.override_logical_id(logical_id)
        return bucket

    # -- locations ------------------------------------------------------------------------------
    @property
    def artifacts_uri(self) -> str:
        return f"s3://{self.bucket.bucket_name}/{ARTIFACTS_PREFIX}"

    @property
    def default_input_uri(self) -> str:
        return f"s3://{self.bucket.bucket_name}/{self.input_key}"

    def _objects(self, prefix: str) -> str:
        return self.bucket.arn_for_objects(f"{prefix}/*")

    def _list(self, grantee: iam.IGrantable, prefix: str) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:ListBucket"],
            resource_arns=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}},
        )

    # -- grants ---------------------------------------------------------------------------------
    def grant_read_artifacts(self, grantee: iam.IGrantable) -> None:
        """Read the LATEST pointer and artifact versions (the scoring Lambda). s3:ListBucket
        (under artifacts/ only) is used: when LATEST's version is refused at start-up the
        function lists the versions to fall back to the newest older one that verifies
        (leadgen.serve.lifecycle), and without it a missing key reads as 403, not 404."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[self._objects(ARTIFACTS_PREFIX)],
        )
        self._list(grantee, ARTIFACTS_PREFIX)

    def grant_publish_artifacts(self, grantee: iam.IGrantable) -> None:
        """Write new versions, move LATEST and prune old versions (the build job)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            resource_arns=[self._objects(ARTIFACTS_PREFIX)],
        )
        self._list(grantee, ARTIFACTS_PREFIX)

    def grant_read_input(self, grantee: iam.IGrantable) -> None:
        """Read the CRM export under input/ (the build job, default input location)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[self._objects(INPUT_PREFIX)],
        )
        self._list(grantee, INPUT_PREFIX)

    def grant_read_score_requests(self, grantee: iam.IGrantable) -> None:
        """Read uploaded lead files under score-requests/ (the bulk job; the key comes from the
        event, so no listing)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[self._objects(SCORE_REQUESTS_PREFIX)],
        )

    @property
    def score_log_uri(self) -> str:
        return f"s3://{self.bucket.bucket_name}/{SCORE_LOG_PREFIX}"

    def grant_read_score_log(self, grantee: iam.IGrantable) -> None:
        """Read the whole score log (the build job's outcomes)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetObject"],
            resource_arns=[self._objects(SCORE_LOG_PREFIX)],
        )
        self._list(grantee, SCORE_LOG_PREFIX)

    def grant_write_score_log(self, grantee: iam.IGrantable) -> None:
        """Put parquet parts into the score log (the bulk job; one PUT per part)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:PutObject"],
            resource_arns=[self._objects(SCORE_LOG_PREFIX)],
        )

    def grant_score_log_delivery(self, grantee: iam.IGrantable, prefix: str) -> None:
        """What Firehose needs to deliver objects under `prefix` (and nothing else)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resource_arns=[self._objects(prefix)],
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:GetBucketLocation"],
            resource_arns=[self.bucket.bucket_arn],
        )

    def grant_write_scored(self, grantee: iam.IGrantable) -> None:
        """Write scored files under scored/ (one streamed, possibly multipart, upload each)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resource_arns=[self._objects(SCORED_PREFIX)],
        )
