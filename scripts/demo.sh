#!/usr/bin/env bash
# make demo: generate CRM data, build artifacts (ONNX MiniLM), serve locally, score an example lead.
set -euo pipefail
PY=${1:-.venv/bin/python}
DIR=${2:-.demo}
PORT=${3:-8000}
mkdir -p "$DIR"

echo "==> 1/4 generating a synthetic CRM (20,000 customers) -> $DIR/crm.parquet"
"$PY" -m leadgen data --out "$DIR/crm.parquet" --rows 20000

echo "==> 2/4 building artifacts (ONNX all-MiniLM-L6-v2; exported once and cached) -> $DIR/artifacts"
# The demo's duplicate store starts empty (the build refills its customers), so the example lead
# below is new on every run instead of a duplicate of the previous run's submission.
rm -f "$DIR/artifacts/duplicates.sqlite"
"$PY" -m leadgen build --input "$DIR/crm.parquet" --out "$DIR/artifacts"
echo "==> the build's report (data, quality, model, drift since the previous build):"
echo "    $("$PY" -m leadgen report "$DIR/artifacts")"

echo "==> 3/4 starting the scoring API on 127.0.0.1:$PORT"
"$PY" -c "from leadgen.synthetic.crm import example_lead; import json; print(json.dumps(example_lead(), indent=2))" > "$DIR/lead.json"
"$PY" -m leadgen serve --artifacts "$DIR/artifacts" --port "$PORT" > "$DIR/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if "$PY" - "$PORT" <<'PYEOF' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=1)
PYEOF
  if ! kill -0 $SERVER 2>/dev/null; then echo "server failed to start:"; cat "$DIR/serve.log"; exit 1; fi
  sleep 0.2
done

echo "==> 4/4 POST /score_lead with $DIR/lead.json"
cat "$DIR/lead.json"
"$PY" - "$PORT" "$DIR/lead.json" <<'PYEOF'
import json, sys, urllib.request
port, path = sys.argv[1], sys.argv[2]
lead = json.load(open(path))


def post(body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/score_lead",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


print(json.dumps(post(lead), indent=2))
again = dict(lead, email=lead["email"].upper())
print(f"==> the same person again as {again['email']}: recognised as a duplicate")
print(json.dumps(post(again), indent=2))
PYEOF
echo "==> done. Serve it yourself: $PY -m leadgen serve --artifacts $DIR/artifacts"
