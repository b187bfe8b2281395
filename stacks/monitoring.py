"""Monitoring: alarms to an encrypted SNS topic, and one CloudWatch dashboard.

Alarms: API 5xx, p99 API latency, Lambda errors and throttles (alias `live`), invocations
spilling over provisioned concurrency, failed builds, missing successful builds, the age of the
served artifact version (custom metric ArtifactAgeSeconds), artifact refresh failures, a
start-up fallback to an older version (ArtifactFallback), data drift: a build whose largest
column PSI against the previous version passes `drift_psi_threshold` (DriftMaxColumnPsi, put by
the build job, build_job/metrics.py), and bulk scoring: failed runs and uploads whose run could
not be started (the rule's failed invocations).
Custom metrics come from the Lambda's Powertools Metrics: namespace `Leadgen`, dimension
`service=leadgen`. Their names, the namespace and the service come from leadgen.names, which the
Lambda publishes with too.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from leadgen.names import METRICS_NAMESPACE, SERVICE_NAME, Metric
from stacks.config import LeadgenConfig

# Frozen CloudFormation logical ids (subscriptions and encryption key survive refactors).
ALARM_TOPIC_ID = "AlarmTopic"
ALARM_KEY_ID = "AlarmTopicKey"

FIVE_MINUTES = Duration.minutes(5)


def custom_metric(
    name: str,
    statistic: str,
    period: Duration = FIVE_MINUTES,
    extra_dimensions: dict[str, str] | None = None,
) -> cloudwatch.Metric:
    """A metric the Lambda publishes with Powertools (namespace METRICS_NAMESPACE, dimension
    service=SERVICE_NAME). `name` must be one of leadgen.names.Metric: an alarm on a name nobody
    publishes never fires."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME, **(extra_dimensions or {})},
        statistic=statistic,
        period=period,
    )


def graph(title: str, *metrics: cloudwatch.IMetric, width: int = 8) -> cloudwatch.GraphWidget:
    """A dashboard graph, 6 units high: three side by side fill a row."""
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6)


def rule_failed_invocations(rule: events.Rule) -> cloudwatch.Metric:
    """EventBridge targets (here: StartBuild) the rule could not invoke, after its retries."""
    return cloudwatch.Metric(
        namespace="AWS/Events",
        metric_name="FailedInvocations",
        dimensions_map={"RuleName": rule.rule_name},
        statistic="Sum",
        period=FIVE_MINUTES,
    )


def spillover_metric(alias: lambda_.Alias) -> cloudwatch.Metric:
    """Invocations the provisioned concurrency of `alias` could not take (cold starts)."""
    return alias.metric(
        "ProvisionedConcurrencySpilloverInvocations", period=FIVE_MINUTES, statistic="Sum"
    )


class Monitoring(Construct):
    """Alarm topic, alarms and dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LeadgenConfig,
        api: apigwv2.HttpApi,
        function: lambda_.IFunction,
        alias: lambda_.Alias,
        project: codebuild.Project,
        provisioned: bool,
        bulk: tuple[codebuild.Project, events.Rule] | None = None,
        score_log: cloudwatch.IMetric | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = self._topic_key(config)
        self.topic = self._topic(config)
        self._action = cw_actions.SnsAction(self.topic)
        # Insertion order is the order of the dashboard's alarm status widget.
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._api_alarms(config, api)
        self._lambda_alarms(alias, provisioned)
        self._build_alarms(config, project)
        self._artifact_alarms(config)
        if bulk is not None:
            self._bulk_alarms(*bulk)
        self._drift_alarm(config)
        self._outcome_alarms(config, score_log)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            default_interval=Duration.hours(6),
            widgets=[
                self._api_row(api),
                self._lambda_row(function, alias),
                self._data_row(project),
                *([self._bulk_row(*bulk)] if bulk is not None else []),
                self._outcome_row(score_log),
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms", alarms=list(self.alarms.values()), width=24, height=4
                    )
                ],
            ],
        )

    # -- alarm topic ---------------------------------------------------------------------------
    def _topic_key(self, config: LeadgenConfig) -> kms.Key:
        """CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, hence a
        customer-managed key whose policy lets CloudWatch use it."""
        key = kms.Key(
            self,
            "TopicKey",
            description="leadgen alarm topic encryption",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=config.removal_policy,
        )
        cfn_key = key.node.default_child
        assert isinstance(cfn_key, kms.CfnKey)
        cfn_key.override_logical_id(ALARM_KEY_ID)
        key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        return key

    def _topic(self, config: LeadgenConfig) -> sns.Topic:
        topic = sns.Topic(
            self,
            "Topic",
            display_name="leadgen alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        cfn_topic = topic.node.default_child
        assert isinstance(cfn_topic, sns.CfnTopic)
        cfn_topic.override_logical_id(ALARM_TOPIC_ID)
        if config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        return topic

    # -- alarms --------------------------------------------------------------------------------
    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        *,
        evaluation_periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        """An alarm that notifies the topic when it fires AND when it recovers."""
        created = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=evaluation_periods,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=description,
        )
        created.add_alarm_action(self._action)
        created.add_ok_action(self._action)
        self.alarms[name] = created

    def _api_alarms(self, config: LeadgenConfig, api: apigwv2.HttpApi) -> None:
        self._alarm(
            "Api5xx",
            api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            config.api_5xx_threshold,
            "The scoring API returned 5xx responses.",
        )
        self._alarm(
            "ApiLatencyP99",
            api.metric_latency(period=FIVE_MINUTES, statistic="p99"),
            config.p99_latency_ms,
            f"p99 API latency above {config.p99_latency_ms} ms for 15 minutes.",
            evaluation_periods=3,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    def _lambda_alarms(self, alias: lambda_.Alias, provisioned: bool) -> None:
        """On the alias `live`, which serves every request (not on the function's $LATEST)."""
        self._alarm(
            "LambdaErrors",
            alias.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            1,
            "The scoring Lambda (alias live) raised errors.",
        )
        self._alarm(
            "LambdaThrottles",
            alias.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
            1,
            "The scoring Lambda (alias live) was throttled.",
        )
        if provisioned:
            self._alarm(
                "ProvisionedConcurrencySpillover",
                spillover_metric(alias),
                1,
                "Invocations spilled over provisioned concurrency for 15 minutes (cold starts): "
                "raise provisioned_max or check the autoscaling policy.",
                evaluation_periods=3,
            )

    def _build_alarms(self, config: LeadgenConfig, project: codebuild.Project) -> None:
        self._alarm(
            "BuildFailed",
            project.metric_failed_builds(period=FIVE_MINUTES, statistic="Sum"),
            1,
            "An index refresh build failed: the previous artifact version keeps serving.",
        )
        self._alarm(
            "BuildMissing",
            project.metric_succeeded_builds(period=Duration.days(1), statistic="Sum"),
            1,
            f"No successful index refresh build for {config.missing_build_days} day(s).",
            evaluation_periods=config.missing_build_days,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def _artifact_alarms(self, config: LeadgenConfig) -> None:
        """From the Lambda's own metrics: a stale served version, a refused new one."""
        self._alarm(
            "ArtifactAge",
            custom_metric(Metric.ARTIFACT_AGE, "Maximum"),
            config.max_artifact_age_hours * 3600,
            f"The served artifact version is older than {config.max_artifact_age_hours} h.",
            evaluation_periods=3,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self._alarm(
            "ArtifactRefreshFailures",
            custom_metric(Metric.ARTIFACT_REFRESH_FAILURES, "Sum"),
            1,
            "The Lambda refused or failed to load a new artifact version (last good one serves).",
        )
        self._alarm(
            "ArtifactFallback",
            custom_metric(Metric.ARTIFACT_FALLBACK, "Sum"),
            1,
            "LATEST's artifact version was refused at start-up: an older verified version serves "
            "(GET /health names the refused one in fallback_from). Rebuild or fix the version.",
        )

    def _bulk_alarms(self, project: codebuild.Project, rule: events.Rule) -> None:
        """A lead file that was not scored: the run failed, or could not even start."""
        self._alarm(
            "BulkScoringFailed",
            project.metric_failed_builds(period=FIVE_MINUTES, statistic="Sum"),
            1,
            "A bulk scoring run failed: no scored file was written (its log says why).",
        )
        self._alarm(
            "BulkScoringNotStarted",
            rule_failed_invocations(rule),
            1,
            "An upload under score-requests/ could not start its bulk scoring run.",
        )

    def _drift_alarm(self, config: LeadgenConfig) -> None:
        """The build job's drift figures; no datapoint (no build, a first version) is fine."""
        self._alarm(
            "DriftMaxColumnPsi",
            custom_metric(Metric.DRIFT_MAX_PSI, "Maximum", period=Duration.hours(1)),
            config.drift_psi_threshold,
            f"A build's largest column PSI against the previous version passed "
            f"{config.drift_psi_threshold}: the CRM data changed. Read the drift section of the "
            "version's report.html (python -m leadgen report) before trusting its grades.",
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    def _outcome_alarms(self, config: LeadgenConfig, delivery: cloudwatch.IMetric | None) -> None:
        """The score log losing records, and the backtest of logged leads (the build job puts
        it once enough leads matured; no datapoint is fine)."""
        self._alarm(
            "ScoreLogFailures",
            custom_metric(Metric.SCORE_LOG_FAILURES, "Sum"),
            1,
            "Scored leads could not be logged (their answers went out): later builds will not "
            "see their outcomes. The function's or the bulk job's log says why.",
        )
        if delivery is not None:
            self._alarm(
                "ScoreLogDelivery",
                delivery,
                1,
                "Firehose failed to deliver score-log records to S3 (they wait in its buffer or "
                "go to score-log/firehose-errors/): see the stream's delivery log.",
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            )
        hour = Duration.hours(1)
        self._alarm(
            "RealizedAucLow",
            custom_metric(Metric.REALIZED_AUC, "Minimum", period=hour),
            config.realized_auc_floor,
            f"The realised AUC of matured logged leads fell below {config.realized_auc_floor}: "
            "the grades no longer rank who becomes high-value. Read the report's section "
            "'What happened to the leads we scored'.",
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        )
        self._alarm(
            "RealizedAucBelowHoldout",
            custom_metric(Metric.REALIZED_AUC_GAP, "Maximum", period=hour),
            config.realized_auc_max_gap,
            f"The realised AUC of matured logged leads is more than {config.realized_auc_max_gap} "
            "below the new build's holdout AUC: leads differ from the customers the holdout "
            "measures on (drift, or a change in who becomes a lead).",
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    # -- dashboard rows ------------------------------------------------------------------------
    @staticmethod
    def _api_row(api: apigwv2.HttpApi) -> list[cloudwatch.IWidget]:
        return [
            graph(
                "API requests and errors",
                api.metric_count(period=FIVE_MINUTES),
                api.metric_client_error(period=FIVE_MINUTES),
                api.metric_server_error(period=FIVE_MINUTES),
            ),
            graph(
                "API latency (ms)",
                api.metric_latency(period=FIVE_MINUTES, statistic="p50"),
                api.metric_latency(period=FIVE_MINUTES, statistic="p99"),
                api.metric_integration_latency(period=FIVE_MINUTES, statistic="p99"),
            ),
            graph(
                "Scoring latency (ms, in handler)",
                custom_metric(Metric.SCORE_LATENCY, "p50"),
                custom_metric(Metric.SCORE_LATENCY, "p99"),
            ),
        ]

    @staticmethod
    def _lambda_row(function: lambda_.IFunction, alias: lambda_.Alias) -> list[cloudwatch.IWidget]:
        return [
            graph(
                "Lambda (alias live)",
                alias.metric_invocations(period=FIVE_MINUTES),
                alias.metric_errors(period=FIVE_MINUTES),
                alias.metric_throttles(period=FIVE_MINUTES),
            ),
            graph(
                "Provisioned concurrency",
                alias.metric(
                    "ProvisionedConcurrencyUtilization", period=FIVE_MINUTES, statistic="Maximum"
                ),
                spillover_metric(alias),
                # Powertools publishes ColdStart with the function name as a dimension
                custom_metric(
                    Metric.COLD_START,
                    "Sum",
                    extra_dimensions={"function_name": function.function_name},
                ),
            ),
            graph(
                "Function duration (ms)",
                function.metric_duration(period=FIVE_MINUTES, statistic="p50"),
                function.metric_duration(period=FIVE_MINUTES, statistic="p99"),
            ),
        ]

    @staticmethod
    def _outcome_row(delivery: cloudwatch.IMetric | None) -> list[cloudwatch.IWidget]:
        hour = Duration.hours(1)
        return [
            graph(
                "Realised AUC of matured leads",
                custom_metric(Metric.REALIZED_AUC, "Minimum", period=hour),
                custom_metric(Metric.REALIZED_AUC_GAP, "Maximum", period=hour),
                custom_metric(Metric.REALIZED_GRADE_A_HIGH_VALUE, "Average", period=hour),
            ),
            graph(
                "Matured logged leads",
                custom_metric(Metric.MATURED_LEADS, "Maximum", period=hour),
            ),
            graph(
                "Score log",
                custom_metric(Metric.SCORE_LOG_FAILURES, "Sum"),
                *([delivery] if delivery is not None else []),
            ),
        ]

    @staticmethod
    def _bulk_row(project: codebuild.Project, rule: events.Rule) -> list[cloudwatch.IWidget]:
        return [
            graph(
                "Bulk scoring runs",
                project.metric_succeeded_builds(period=Duration.hours(1)),
                project.metric_failed_builds(period=Duration.hours(1)),
                rule_failed_invocations(rule),
                width=12,
            ),
            graph(
                "Bulk scoring duration (s)",
                project.metric_duration(period=Duration.hours(1), statistic="Maximum"),
                width=12,
            ),
        ]

    @staticmethod
    def _data_row(project: codebuild.Project) -> list[cloudwatch.IWidget]:
        """What the service did with leads, and the health of the data behind it."""
        return [
            graph(
                "Leads scored / duplicates",
                custom_metric(Metric.LEADS_SCORED, "Sum"),
                custom_metric(Metric.DUPLICATES, "Sum"),
            ),
            graph(
                "Artifact age (s) / refresh failures",
                custom_metric(Metric.ARTIFACT_AGE, "Maximum"),
                custom_metric(Metric.ARTIFACT_REFRESH_FAILURES, "Sum"),
                custom_metric(Metric.ARTIFACT_FALLBACK, "Sum"),
            ),
            graph(
                "Index refresh builds",
                project.metric_succeeded_builds(period=Duration.hours(1)),
                project.metric_failed_builds(period=Duration.hours(1)),
                project.metric_duration(period=Duration.hours(1), statistic="Maximum"),
                custom_metric(Metric.DRIFT_MAX_PSI, "Maximum", period=Duration.hours(1)),
            ),
        ]
