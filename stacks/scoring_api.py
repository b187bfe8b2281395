"""Scoring API: container-image Lambda (arm64) behind an HTTP API, integrated with alias `live`.

- The function runs `lambda_src.handler.handler` from the shared image; memory/timeout/storage
  from config; X-Ray tracing; its own execution role with no managed policies.
- Alias `live` carries provisioned concurrency (config min) with application autoscaling on
  provisioned-concurrency utilisation up to config max. The HTTP API integrates with the ALIAS
  (its ARN), never with `$LATEST`, so traffic always hits the provisioned, published version.
- HTTP API routes POST /score_lead, POST /score_leads, GET /health, all authorised: IAM (SigV4)
  by default, or a JWT authorizer (issuer/audience from context). /health is IAM-protected too:
  it reveals the served artifact version, and monitoring can sign its requests like any client.
- `$default` stage with throttling and JSON access logs to a log group with retention.
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, Size, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from leadgen.names import LIVE_ALIAS, METRICS_NAMESPACE, SERVICE_NAME, Env
from leadgen.names import ROUTES as SERVED_ROUTES
from stacks.artifact_storage import ARTIFACTS_PREFIX, ArtifactStorage, nag_objects_resource
from stacks.config import LeadgenConfig
from stacks.container_image import LeadgenImage
from stacks.duplicate_table import DuplicateTable
from stacks.hash_key import EmailHashKey
from stacks.identity_table import IdentityTable
from stacks.log_groups import frozen_log_group
from stacks.nag import acknowledge

HANDLER_CMD = "lambda_src.handler.handler"
ALIAS_NAME = LIVE_ALIAS  # the build job moves it too (leadgen.rollout)
# The routes the runtime serves (leadgen.names.ROUTES) as (path, CDK method) pairs.
ROUTES: tuple[tuple[str, apigwv2.HttpMethod], ...] = tuple(
    (path, apigwv2.HttpMethod[method]) for method, path in SERVED_ROUTES
)

# Frozen CloudFormation logical ids of the log groups (retained logs). Never change them.
FUNCTION_LOG_GROUP_ID = "ScoringFunctionLogGroup"
API_ACCESS_LOG_GROUP_ID = "ApiAccessLogGroup"

# One JSON object per request. No request bodies, so no lead data (emails) in the access log.
ACCESS_LOG_FIELDS: dict[str, str] = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "userArn": "$context.identity.userArn",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "authorizerError": "$context.authorizer.error",
    "errorMessage": "$context.error.message",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """Typed IAccessLogSettings (jsii interface) for the HTTP API stage."""

    def __init__(self, log_group: logs.ILogGroup, log_format: apigw.AccessLogFormat) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat | None:
        return self._format


def function_environment(
    config: LeadgenConfig,
    storage: ArtifactStorage,
    table: DuplicateTable,
    identity: IdentityTable,
    hash_key: EmailHashKey,
) -> dict[str, str]:
    """The Lambda's environment: what the serving runtime reads (leadgen.names.Env)."""
    return {
        Env.ARTIFACTS_URI: storage.artifacts_uri,
        Env.DUP_TABLE_NAME: table.table_name,
        Env.IDENTITY_TABLE_NAME: identity.table_name,
        Env.EMAIL_HASH_KEY_SECRET_ARN: hash_key.secret_arn,
        Env.FUZZY_THRESHOLD: str(config.fuzzy_threshold),
        Env.POSSIBLE_THRESHOLD: str(config.possible_threshold),
        Env.REFRESH_SECONDS: str(config.refresh_seconds),
        Env.MAX_BATCH_SIZE: str(config.max_batch_size),
        Env.LEAD_TTL_DAYS: str(config.lead_ttl_days),
        Env.SHORT_CIRCUIT: config.short_circuit,
        Env.EMBEDDER: config.embedder,
        # one marked JSON line per scored lead on stdout; stacks/score_log.py delivers them
        Env.SCORE_LOG: "stdout",
        Env.POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        Env.POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        # Read by Powertools alone (no leadgen code reads them), hence not in names.Env.
        # Traces must not carry lead data (emails, names) in captured responses.
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "LOG_LEVEL": config.log_level,
    }


def route_authorizer(config: LeadgenConfig) -> apigwv2.IHttpRouteAuthorizer:
    """IAM (SigV4) by default; a JWT authorizer when the context asks for auth=jwt."""
    if config.auth_mode == "jwt":
        assert config.jwt_issuer is not None  # validated by LeadgenConfig
        return authorizers.HttpJwtAuthorizer(
            "JwtAuthorizer",
            config.jwt_issuer,
            jwt_audience=list(config.jwt_audience),
        )
    return authorizers.HttpIamAuthorizer()


class ScoringApi(Construct):
    """The scoring Lambda, its `live` alias with provisioned concurrency, and the HTTP API."""

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
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = frozen_log_group(
            self,
            "FunctionLogs",
            config=config,
            logical_id=FUNCTION_LOG_GROUP_ID,
            retention=config.function_log_retention,
        )
        self.role = self._function_role(storage, table)
        identity.grant_scoring(self.role)
        hash_key.grant_read(self.role)
        environment = function_environment(config, storage, table, identity, hash_key)
        self.function = self._function(config, image, environment)
        self._acknowledge_role()
        self.alias = self._live_alias(config)
        self.scaling = self._provisioned_autoscaling(config)
        self.api = self._http_api(config)
        self.access_log_group = frozen_log_group(
            self, "AccessLogs", config=config, logical_id=API_ACCESS_LOG_GROUP_ID
        )
        self.stage = self._default_stage(config)

    # -- function ------------------------------------------------------------------------------
    def _function_role(self, storage: ArtifactStorage, table: DuplicateTable) -> iam.Role:
        """Its own execution role, no managed policies: its log group, artifacts/, the table."""
        role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="leadgen scoring Lambda: read artifacts, read/write the duplicate tables",
        )
        self.log_group.grant_write(role)
        storage.grant_read_artifacts(role)
        table.grant_scoring(role)
        return role

    def _function(
        self, config: LeadgenConfig, image: LeadgenImage, environment: dict[str, str]
    ) -> lambda_.DockerImageFunction:
        return lambda_.DockerImageFunction(
            self,
            "Function",
            description="leadgen lead scoring (FAISS over CRM embeddings)",
            code=lambda_.DockerImageCode.from_ecr(
                image.repository, tag_or_digest=image.tag, cmd=[HANDLER_CMD]
            ),
            architecture=lambda_.Architecture.ARM_64,
            memory_size=config.memory_mb,
            timeout=Duration.seconds(config.timeout_seconds),
            ephemeral_storage_size=Size.mebibytes(config.ephemeral_storage_mib),
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment=environment,
        )

    def _acknowledge_role(self) -> None:
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{nag_objects_resource(ARTIFACTS_PREFIX)}]",
            "The function reads the LATEST pointer and the immutable artifact version "
            "directories (names unknown in advance), only below the artifacts/ prefix.",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; "
            "AWS requires Resource '*' for them.",
        )

    # -- alias `live` with provisioned concurrency and autoscaling -----------------------------
    def _live_alias(self, config: LeadgenConfig) -> lambda_.Alias:
        provisioned = config.provisioned_min if config.provisioned_min > 0 else None
        return lambda_.Alias(
            self,
            "LiveAlias",
            alias_name=ALIAS_NAME,
            version=self.function.current_version,
            provisioned_concurrent_executions=provisioned,
        )

    def _provisioned_autoscaling(
        self, config: LeadgenConfig
    ) -> lambda_.IScalableFunctionAttribute | None:
        """Scale provisioned concurrency on its utilisation; None when it is disabled (min 0)."""
        if config.provisioned_min <= 0:
            return None
        scaling = self.alias.add_auto_scaling(
            min_capacity=config.provisioned_min, max_capacity=config.provisioned_max
        )
        scaling.scale_on_utilization(utilization_target=config.provisioned_utilisation_target)
        return scaling

    # -- HTTP API ------------------------------------------------------------------------------
    def _http_api(self, config: LeadgenConfig) -> apigwv2.HttpApi:
        api = apigwv2.HttpApi(
            self,
            "HttpApi",
            api_name=f"{Stack.of(self).stack_name}-api",
            description="leadgen scoring API",
            create_default_stage=False,  # our own $default stage: throttling + access logs
            default_authorizer=route_authorizer(config),
        )
        integration = integrations.HttpLambdaIntegration(
            "LiveAliasIntegration",
            self.alias,  # the alias, not the function: provisioned concurrency serves requests
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
            timeout=Duration.seconds(config.timeout_seconds),
        )
        for path, method in ROUTES:
            api.add_routes(path=path, methods=[method], integration=integration)
        return api

    def _default_stage(self, config: LeadgenConfig) -> apigwv2.HttpStage:
        return apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=config.throttle_rate_limit, burst_limit=config.throttle_burst_limit
            ),
            access_log_settings=_AccessLogSettings(
                self.access_log_group,
                apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
            ),
        )

    @property
    def url(self) -> str:
        url = self.stage.url
        assert url is not None
        return url
