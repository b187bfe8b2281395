#!/usr/bin/env bash
# Run the scoring Lambda's container image locally: plain Docker, AWS SAM CLI, or LocalStack.
#
# Needs Docker. `sam-*` needs the AWS SAM CLI; `localstack-*` needs LocalStack and, for a full
# `cdklocal deploy`, a LocalStack auth token (ECR, Lambda container images, API Gateway v2 HTTP
# APIs and CodeBuild are not in LocalStack's free plan). Run from anywhere; paths are repo-relative.
#
#   lambda_src/local_aws.sh image                 build the image (linux/arm64; PLATFORM=linux/amd64
#                                                 on an x86 machine without arm64 emulation)
#   lambda_src/local_aws.sh artifacts             generate a CRM and build artifacts INSIDE the image
#                                                 (same ONNX model files as serving) -> .demo/image/
#   lambda_src/local_aws.sh run                   serve the image on :9000 with those artifacts
#                                                 (the base image's Runtime Interface Emulator)
#   lambda_src/local_aws.sh call [EVENT]          POST events/EVENT.json (default score_lead) to :9000
#   lambda_src/local_aws.sh sam-template          cdk synth + a copy of the template whose scoring
#                                                 function uses the local image -> cdk.out/*.sam.json
#                                                 (TEMPLATE=path: that template, no synth)
#   lambda_src/local_aws.sh sam-invoke [EVENT]    sam local invoke with events/EVENT.json
#   lambda_src/local_aws.sh sam-api               sam local start-api on :3000
#   lambda_src/local_aws.sh localstack-deploy     cdklocal bootstrap + cdklocal deploy (auth token)
#   lambda_src/local_aws.sh localstack-publish    upload a generated CRM, run the build job (it
#                                                 publishes artifacts and syncs the duplicate
#                                                 table), then GET /health through the API
#
# SAM and LocalStack runs read artifacts from S3: set ARTIFACTS_URI=s3://bucket/prefix (your
# deployed bucket: SAM passes your AWS credentials into the container), or point
# AWS_ENDPOINT_URL at LocalStack (http://host.docker.internal:4566 from inside containers).
# Every other variable the stack gives the function a deployed resource's name in (DUP_TABLE_NAME,
# IDENTITY_TABLE_NAME, LEADGEN_EMAIL_HASH_KEY_SECRET_ARN) comes from the same-named shell
# variable; unset, it is empty and that part is off (no table: no duplicate check; no secret:
# the deployed version's hash key does not match, /health says hash_key_mismatch and the
# duplicate check is skipped).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PY:-$ROOT/.venv/bin/python}"
IMAGE="${IMAGE:-leadgen-lambda:local}"
PLATFORM="${PLATFORM:-linux/arm64}"
LEADGEN_ENV="${LEADGEN_ENV:-dev}"
STACK="leadgen-${LEADGEN_ENV}"           # stacks/config.py: LeadgenConfig.stack_name
SYNTH="${TEMPLATE:-}"                    # a template given: used as it is, no `cdk synth`
TEMPLATE="${TEMPLATE:-cdk.out/${STACK}.template.json}"
SAM_TEMPLATE="${SAM_TEMPLATE:-${TEMPLATE%.template.json}.sam.json}"
LOCAL_DIR="${LOCAL_DIR:-$ROOT/.demo/image}"
# Where the image keeps the build job's extra packages (the report's charts): the build job's
# buildspec puts it on PYTHONPATH (build_job/buildspec.yml), and so does a build run here.
BUILD_PYTHONPATH="/opt/build-python"
PORT="${PORT:-9000}"
LOCALSTACK_URL="${LOCALSTACK_URL:-http://localhost.localstack.cloud:4566}"

die() { echo "local_aws: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"; }
event_file() {
    local f="events/${1:-score_lead}.json"
    [[ -f "$f" ]] || die "$f not found (events/: health, score_lead, score_leads)"
    echo "$f"
}

cmd_image() {
    need docker "https://docs.docker.com/get-docker/"
    docker build --platform "$PLATFORM" -f lambda_src/Dockerfile -t "$IMAGE" .
}

cmd_artifacts() {
    need docker "https://docs.docker.com/get-docker/"
    mkdir -p "$LOCAL_DIR"
    # The synthetic CRM is generated here (the image does not carry the generator); the build
    # runs in the image, so the manifest records the image's own ONNX export: serving refuses
    # artifacts embedded by any other model files.
    "$PY" -m leadgen data --out "$LOCAL_DIR/crm.parquet" --rows "${ROWS:-5000}"
    docker run --rm --platform "$PLATFORM" --user "$(id -u):$(id -g)" -e HOME=/tmp \
        -e PYTHONPATH="$BUILD_PYTHONPATH" \
        -v "$LOCAL_DIR:/data" --entrypoint /bin/sh "$IMAGE" -c \
        "python -m leadgen build --input /data/crm.parquet --out /data/artifacts --quiet"
}

cmd_run() {
    need docker "https://docs.docker.com/get-docker/"
    [[ -f "$LOCAL_DIR/artifacts/LATEST" ]] || die "no artifacts: run '$0 artifacts' first"
    echo "serving $IMAGE on http://127.0.0.1:$PORT (Ctrl-C stops); '$0 call' from another shell"
    # Lambda's filesystem is read-only but /tmp: so is this container's.
    docker run --rm --platform "$PLATFORM" -p "127.0.0.1:$PORT:8080" --read-only \
        --tmpfs /tmp:rw,size=512m -v "$LOCAL_DIR/artifacts:/artifacts:ro" \
        -e ARTIFACTS_URI=/artifacts -e REFRESH_SECONDS=60 -e POWERTOOLS_TRACE_DISABLED=true \
        -e AWS_LAMBDA_FUNCTION_NAME=leadgen-local "$IMAGE"
}

cmd_call() {
    need curl "a curl binary"
    local f
    f="$(event_file "${1:-}")"
    curl -sS -X POST "http://127.0.0.1:$PORT/2015-03-31/functions/function/invocations" \
        -H 'Content-Type: application/json' --data-binary "@$f"
    echo
}

cmd_sam_template() {
    [[ -n "${ARTIFACTS_URI:-}" ]] || die "set ARTIFACTS_URI=s3://bucket/prefix (see the header)"
    if [[ -z "$SYNTH" ]]; then
        need npx "Node.js; then 'make install-dev' for the pinned CDK CLI"
        PATH="$ROOT/.venv/bin:$PATH" npx cdk synth --quiet -c "env=$LEADGEN_ENV" >/dev/null
    fi
    [[ -f "$TEMPLATE" ]] || die "$TEMPLATE was not synthesised"
    # The function's image comes from the CDK asset in ECR (an account-specific URI SAM cannot
    # pull): point it at the locally built image instead, in a copy of the template. Its
    # environment names deployed resources through CloudFormation intrinsics (Ref, Fn::Join),
    # which SAM resolves to logical ids, not to your stack's resources; and SAM only passes
    # variables the template declares. So every such value is written into the copy, from the
    # shell variable of the same name (or empty: that part off), and none is left unresolved.
    "$PY" - "$TEMPLATE" "$SAM_TEMPLATE" "$IMAGE" "$PLATFORM" <<'PY'
import json, os, sys

src, dst, image, platform = sys.argv[1:5]
template = json.load(open(src))
# The scoring function: the stack's only container-image function.
hits = [
    (lid, res) for lid, res in template["Resources"].items()
    if res["Type"] == "AWS::Lambda::Function" and res["Properties"].get("PackageType") == "Image"
]
if len(hits) != 1:
    sys.exit(f"expected one scoring function in {src}, found {len(hits)}")
logical_id, function = hits[0]
props = function["Properties"]
props["Code"] = {"ImageUri": image}
# SAM layers its emulator onto the image for this architecture: the one the image was built for.
props["Architectures"] = ["arm64" if platform.endswith("arm64") else "x86_64"]
function.setdefault("Metadata", {})["SkipBuild"] = True
env = props.setdefault("Environment", {}).setdefault("Variables", {})
off = []
for name, value in env.items():
    if not isinstance(value, str):  # an intrinsic: the deployed value is the user's to give
        env[name] = os.environ.get(name, "")
        if not env[name]:
            off.append(name)
env["REFRESH_SECONDS"] = "60"
endpoint = os.environ.get("AWS_ENDPOINT_URL")
if endpoint:
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        env[key] = endpoint
left = sorted(name for name, value in env.items() if not isinstance(value, str))
if left:
    sys.exit(f"unresolved in {dst}: {', '.join(left)}")
json.dump(template, open(dst, "w"), indent=1)
if off:
    print(f"local_aws: {', '.join(off)} not set: empty in {dst}, so that part is off",
          file=sys.stderr)
print(logical_id)
PY
}

cmd_sam_invoke() {
    need sam "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"
    local f logical_id
    f="$(event_file "${1:-}")"
    logical_id="$(cmd_sam_template)"
    sam local invoke -t "$SAM_TEMPLATE" "$logical_id" -e "$f" \
        --add-host host.docker.internal:host-gateway
}

cmd_sam_api() {
    need sam "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"
    cmd_sam_template >/dev/null
    echo "POST http://127.0.0.1:3000/score_lead once SAM lists the mounted routes"
    sam local start-api -t "$SAM_TEMPLATE" --warm-containers EAGER \
        --add-host host.docker.internal:host-gateway
}

cmd_localstack_deploy() {
    need cdklocal "npm install -g aws-cdk-local aws-cdk"
    [[ -n "${LOCALSTACK_AUTH_TOKEN:-}" ]] ||
        echo "local_aws: warning: no LOCALSTACK_AUTH_TOKEN; the free plan lacks ECR, Lambda" \
            "container images, API Gateway v2 and CodeBuild, so the deploy will fail" >&2
    PATH="$ROOT/.venv/bin:$PATH" cdklocal bootstrap -c "env=$LEADGEN_ENV"
    PATH="$ROOT/.venv/bin:$PATH" cdklocal deploy -c "env=$LEADGEN_ENV" --require-approval never \
        --outputs-file "cdk.out/${STACK}.localstack-outputs.json"
}

cmd_localstack_publish() {
    local outputs="cdk.out/${STACK}.localstack-outputs.json"
    [[ -f "$outputs" ]] || die "run '$0 localstack-deploy' first"
    export AWS_ENDPOINT_URL="$LOCALSTACK_URL" AWS_ENDPOINT_URL_S3="$LOCALSTACK_URL"
    export AWS_ENDPOINT_URL_DYNAMODB="$LOCALSTACK_URL"
    export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
    export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
    "$PY" - "$outputs" "$STACK" <<'PY'
import json, sys, time, urllib.request

import boto3

from leadgen.synthetic.crm import generate_crm, write_crm

outputs = json.load(open(sys.argv[1]))[sys.argv[2]]
bucket, project, url = (
    outputs["ArtifactBucketName"], outputs["BuildProjectName"], outputs["ApiUrl"])
# The CRM goes where the build job reads it by default; the job (in the image, so with the
# image's ONNX export) builds, publishes LATEST and syncs the duplicate table.
write_crm(generate_crm(rows=5000, seed=0), ".demo/localstack-crm.parquet")
boto3.client("s3").upload_file(".demo/localstack-crm.parquet", bucket, "input/crm.parquet")
codebuild = boto3.client("codebuild")
build_id = codebuild.start_build(projectName=project)["build"]["id"]
print("build job", build_id, end="", flush=True)
while True:
    status = codebuild.batch_get_builds(ids=[build_id])["builds"][0]["buildStatus"]
    if status != "IN_PROGRESS":
        break
    print(".", end="", flush=True)
    time.sleep(10)
print(" ", status)
if status != "SUCCEEDED":
    sys.exit("the build job did not succeed; see its CloudWatch log group in LocalStack")
with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=120) as resp:
    print(resp.status, resp.read().decode())
PY
}

case "${1:-help}" in
    image) cmd_image ;;
    artifacts) cmd_artifacts ;;
    run) cmd_run ;;
    call) cmd_call "${2:-}" ;;
    sam-template) cmd_sam_template ;;
    sam-invoke) cmd_sam_invoke "${2:-}" ;;
    sam-api) cmd_sam_api ;;
    localstack-deploy) cmd_localstack_deploy ;;
    localstack-publish) cmd_localstack_publish ;;
    help | -h | --help) sed -n '2,/^set -euo/{/^#/p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (try: $0 help)" ;;
esac
