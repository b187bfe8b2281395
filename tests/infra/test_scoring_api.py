"""Scoring Lambda, alias `live`, provisioned concurrency + autoscaling, HTTP API and auth."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import Synth

ROUTE_KEYS = {"POST /score_lead", "POST /score_leads", "GET /health"}


def _one(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, list(resources)
    ((logical_id, resource),) = resources.items()
    return logical_id, resource


def _function(synth: Synth, which: str = "dev") -> tuple[str, dict[str, Any]]:
    functions = {
        k: v
        for k, v in synth.resources(which, "AWS::Lambda::Function").items()
        if v["Properties"].get("PackageType") == "Image"
    }
    return _one(functions)


def test_function_is_the_arm64_container_image(synth: Synth) -> None:
    _, fn = _function(synth)
    props = fn["Properties"]
    assert props["Architectures"] == ["arm64"]
    assert props["ImageConfig"]["Command"] == ["lambda_src.handler.handler"]
    assert props["MemorySize"] == 2048
    assert props["Timeout"] == 29
    assert props["EphemeralStorage"] == {"Size": 2048}
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogGroup"] == {"Ref": "ScoringFunctionLogGroup"}
    _, prod = _function(synth, "prod")
    assert prod["Properties"]["MemorySize"] == 3008


def test_function_environment(synth: Synth) -> None:
    _, fn = _function(synth)
    env = fn["Properties"]["Environment"]["Variables"]
    assert env["ARTIFACTS_URI"] == {
        "Fn::Join": ["", ["s3://", {"Ref": "ArtifactBucket"}, "/artifacts"]]
    }
    assert env["DUP_TABLE_NAME"] == {"Ref": "DuplicateTable"}
    assert env["IDENTITY_TABLE_NAME"] == {"Ref": "IdentityTable"}
    # the hash key's secret by ARN, never the key itself
    assert env["LEADGEN_EMAIL_HASH_KEY_SECRET_ARN"] == {"Ref": "EmailHashKeySecret"}
    assert "LEADGEN_EMAIL_HASH_KEY" not in env
    assert env["LEADGEN_FUZZY_THRESHOLD"] == "0.7"
    assert env["LEADGEN_POSSIBLE_THRESHOLD"] == "0.6"
    assert env["REFRESH_SECONDS"] == "300"
    assert env["MAX_BATCH_SIZE"] == "100"
    assert env["LEAD_TTL_DAYS"] == "90"
    assert env["LEADGEN_EMBEDDER"] == "onnx"
    assert env["POWERTOOLS_SERVICE_NAME"] == "leadgen"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Leadgen"
    assert env["LOG_LEVEL"] == "INFO"


def test_alias_live_has_provisioned_concurrency(synth: Synth) -> None:
    fn_id, _ = _function(synth)
    alias_id, alias = _one(synth.resources("dev", "AWS::Lambda::Alias"))
    props = alias["Properties"]
    assert props["Name"] == "live"
    assert props["FunctionName"] == {"Ref": fn_id}
    assert props["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 1}
    version_id = props["FunctionVersion"]["Fn::GetAtt"][0]
    assert synth.resources("dev")[version_id]["Type"] == "AWS::Lambda::Version"

    _, prod_alias = _one(synth.resources("prod", "AWS::Lambda::Alias"))
    assert prod_alias["Properties"]["ProvisionedConcurrencyConfig"] == {
        "ProvisionedConcurrentExecutions": 2
    }


def test_alias_autoscaling_on_utilisation(synth: Synth) -> None:
    alias_id, _ = _one(synth.resources("dev", "AWS::Lambda::Alias"))
    target_id, target = _one(synth.resources("dev", "AWS::ApplicationAutoScaling::ScalableTarget"))
    props = target["Properties"]
    assert props["ScalableDimension"] == "lambda:function:ProvisionedConcurrency"
    assert props["ServiceNamespace"] == "lambda"
    assert (props["MinCapacity"], props["MaxCapacity"]) == (1, 2)
    assert json.dumps(props["ResourceId"]).count(alias_id) == 1
    assert props["ResourceId"]["Fn::Join"][1][-1] == ":live"
    synth.dev.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": {"Ref": target_id},
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"
                },
                "TargetValue": 0.7,
            },
        },
    )
    _, prod_target = _one(synth.resources("prod", "AWS::ApplicationAutoScaling::ScalableTarget"))
    assert (prod_target["Properties"]["MinCapacity"], prod_target["Properties"]["MaxCapacity"]) == (
        2,
        10,
    )


def test_api_integrates_with_the_alias_not_the_function(synth: Synth) -> None:
    alias_id, _ = _one(synth.resources("dev", "AWS::Lambda::Alias"))
    integrations = synth.resources("dev", "AWS::ApiGatewayV2::Integration")
    assert integrations
    for integration in integrations.values():
        props = integration["Properties"]
        assert props["IntegrationType"] == "AWS_PROXY"
        assert props["IntegrationUri"] == {"Ref": alias_id}  # Ref of an alias = its ARN
        assert props["PayloadFormatVersion"] == "2.0"
    # API Gateway may invoke the alias (qualified ARN) only, from this API only
    permissions = synth.resources("dev", "AWS::Lambda::Permission")
    assert len(permissions) == len(ROUTE_KEYS)
    for permission in permissions.values():
        assert permission["Properties"]["FunctionName"] == {"Ref": alias_id}
        assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
        assert "SourceArn" in permission["Properties"]


def test_routes_all_require_iam_by_default(synth: Synth) -> None:
    routes = synth.resources("dev", "AWS::ApiGatewayV2::Route").values()
    assert {r["Properties"]["RouteKey"] for r in routes} == ROUTE_KEYS
    for route in routes:  # /health included: it is authorised like every route
        assert route["Properties"]["AuthorizationType"] == "AWS_IAM", route
    synth.dev.resource_count_is("AWS::ApiGatewayV2::Authorizer", 0)


def test_jwt_authorizer_option_from_context(synth: Synth) -> None:
    authorizer_id, authorizer = _one(synth.resources("prod", "AWS::ApiGatewayV2::Authorizer"))
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "JWT"
    assert props["JwtConfiguration"] == {
        "Issuer": "https://issuer.example.com/",
        "Audience": ["leadgen-client", "crm-sync"],
    }
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    routes = synth.resources("prod", "AWS::ApiGatewayV2::Route").values()
    assert {r["Properties"]["RouteKey"] for r in routes} == ROUTE_KEYS
    for route in routes:
        assert route["Properties"]["AuthorizationType"] == "JWT"
        assert route["Properties"]["AuthorizerId"] == {"Ref": authorizer_id}


def test_stage_throttling_and_json_access_logs(synth: Synth) -> None:
    synth.dev.resource_count_is("AWS::ApiGatewayV2::Stage", 1)
    _, stage = _one(synth.resources("dev", "AWS::ApiGatewayV2::Stage"))
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}
    settings = props["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(settings["Format"])  # one JSON object per request
    assert fields["requestId"] == "$context.requestId"
    assert {"status", "routeKey", "responseLatency", "integrationError"} <= set(fields)
    assert not any("body" in v.lower() for v in fields.values())  # no lead data in logs
    _, prod_stage = _one(synth.resources("prod", "AWS::ApiGatewayV2::Stage"))
    assert prod_stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] == 200


def test_api_url_output_is_the_stage_url(synth: Synth) -> None:
    synth.dev.has_output(
        "ApiUrl",
        {"Value": {"Fn::Join": ["", Match.array_with(["https://", ".execute-api."])]}},
    )
