"""The leadgen Stack: storage, duplicate tables and hash key, scoring API, the score log's
delivery, index refresh, bulk scoring and monitoring."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, CfnOutput, Environment, Stack, Tags
from constructs import Construct

from stacks.artifact_storage import ArtifactStorage
from stacks.bulk_scoring import BulkScoring, DuplicateTables
from stacks.config import LeadgenConfig, config_from_context
from stacks.container_image import LeadgenImage
from stacks.duplicate_table import DuplicateTable
from stacks.hash_key import EmailHashKey
from stacks.identity_table import IdentityTable
from stacks.index_refresh import IndexRefresh
from stacks.monitoring import Monitoring
from stacks.nag import add_nag_checks
from stacks.score_log import ScoreLogDelivery
from stacks.scoring_api import ScoringApi


class LeadgenStack(Stack):
    """Everything `cdk deploy` creates for one environment (dev or prod)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: LeadgenConfig, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"leadgen lead-scoring service ({config.env_name})",
            **kwargs,
        )
        self.config = config
        Tags.of(self).add("project", "leadgen")
        Tags.of(self).add("environment", config.env_name)

        self.image = LeadgenImage(self, "Image")
        self.storage = ArtifactStorage(self, "ArtifactStorage", config=config)
        self.duplicates = DuplicateTable(self, "DuplicateTable", config=config)
        self.identity = IdentityTable(self, "IdentityTable", config=config)
        self.hash_key = EmailHashKey(self, "EmailHashKey", config=config)
        self.scoring = ScoringApi(
            self,
            "ScoringApi",
            config=config,
            image=self.image,
            storage=self.storage,
            table=self.duplicates,
            identity=self.identity,
            hash_key=self.hash_key,
        )
        self.score_log = ScoreLogDelivery(
            self,
            "ScoreLog",
            config=config,
            storage=self.storage,
            function_logs=self.scoring.log_group,
        )
        self.refresh = IndexRefresh(
            self,
            "IndexRefresh",
            config=config,
            image=self.image,
            storage=self.storage,
            table=self.duplicates,
            identity=self.identity,
            hash_key=self.hash_key,
            function=self.scoring.function,
        )
        self.bulk = BulkScoring(
            self,
            "BulkScoring",
            config=config,
            image=self.image,
            storage=self.storage,
            tables=DuplicateTables(self.duplicates, self.identity, self.hash_key),
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            api=self.scoring.api,
            function=self.scoring.function,
            alias=self.scoring.alias,
            project=self.refresh.project,
            provisioned=self.scoring.scaling is not None,
            bulk=(self.bulk.project, self.bulk.rule),
            score_log=self.score_log.delivery_success(),
        )

        self._outputs()

    def _outputs(self) -> None:
        """What a user needs after `cdk deploy` (the README reads them by these keys)."""
        CfnOutput(self, "ApiUrl", value=self.scoring.url, description="Scoring API base URL")
        CfnOutput(
            self,
            "ArtifactBucketName",
            value=self.storage.bucket.bucket_name,
            description="Artifacts under artifacts/, default CRM input at input/crm.parquet",
        )
        CfnOutput(self, "DuplicateTableName", value=self.duplicates.table_name)
        CfnOutput(self, "IdentityTableName", value=self.identity.table_name)
        CfnOutput(self, "BuildProjectName", value=self.refresh.project.project_name)
        CfnOutput(
            self,
            "BulkScoringProjectName",
            value=self.bulk.project.project_name,
            description="Scores lead files uploaded under score-requests/ into scored/",
        )
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)


def build_app(app: App) -> LeadgenStack:
    """Add the stack selected by the app's context (`-c env=...`) and the cdk-nag checks."""
    config = config_from_context(app.node.try_get_context)
    account = app.node.try_get_context("account")
    region = app.node.try_get_context("region")
    env = Environment(account=account, region=region) if account or region else None
    stack = LeadgenStack(app, config.stack_name, config=config, env=env)
    add_nag_checks(app)
    return stack
