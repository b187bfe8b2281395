"""Names the CDK stack and the runtime must agree on, spelled once.

The stack sets environment variables, routes and alarms; the Lambda, the build job and the CLI
read those variables, serve those routes and publish those metrics. A name typed twice drifts
(an alarm on a metric nobody publishes never fires), so both sides import it from here. Standard
library only, nothing else: `cdk synth` imports this module without the runtime's dependencies.
"""

from __future__ import annotations

from typing import Final

# -- identity of the service ----------------------------------------------------------------------
SERVICE_NAME: Final = "leadgen"  # Powertools service, logger name of the core ("leadgen.*")
METRICS_NAMESPACE: Final = "Leadgen"

# -- HTTP API: (method, path) ----------------------------------------------------------------------
ROUTE_SCORE_LEAD: Final = ("POST", "/score_lead")
ROUTE_SCORE_LEADS: Final = ("POST", "/score_leads")
ROUTE_HEALTH: Final = ("GET", "/health")
ROUTES: Final = (ROUTE_SCORE_LEAD, ROUTE_SCORE_LEADS, ROUTE_HEALTH)

# -- the scoring function's alias: the HTTP API invokes it, the build job moves it ----------------
LIVE_ALIAS: Final = "live"

# -- the duplicate check's cuts: the stack's defaults and the runtime's, one value ----------------
# A fuzzy match at or above DUPLICATE_THRESHOLD is the known person (a customer goes unscored);
# from POSSIBLE_THRESHOLD up to it, a possible duplicate (scored, flagged). Chosen by the cut
# table of bench/DEDUP_FEBRL.md (Febrl's F1, false merges among namesakes, bench/FUZZY.md).
DUPLICATE_THRESHOLD: Final = 0.7
POSSIBLE_THRESHOLD: Final = 0.6


class Env:
    """Environment variables read by the runtimes (serving, build job, CLI) and set by the stack."""

    # both runtimes
    ARTIFACTS_URI: Final = "ARTIFACTS_URI"
    DUP_TABLE_NAME: Final = "DUP_TABLE_NAME"
    EMBEDDER: Final = "LEADGEN_EMBEDDER"
    MODEL: Final = "LEADGEN_MODEL"
    MODEL_DIR: Final = "LEADGEN_MODEL_DIR"
    MODEL_CACHE: Final = "LEADGEN_MODEL_CACHE"
    PRECISION: Final = "LEADGEN_PRECISION"
    ORT_THREADS: Final = "LEADGEN_ORT_THREADS"
    EMAIL_HASH_KEY: Final = "LEADGEN_EMAIL_HASH_KEY"
    # the hash key's Secrets Manager secret (the stack sets this, never the key itself)
    EMAIL_HASH_KEY_SECRET_ARN: Final = "LEADGEN_EMAIL_HASH_KEY_SECRET_ARN"
    IDENTITY_TABLE_NAME: Final = "IDENTITY_TABLE_NAME"  # fuzzy duplicate blocks (DynamoDB)
    # serving
    CACHE_DIR: Final = "LEADGEN_CACHE_DIR"
    REFRESH_SECONDS: Final = "REFRESH_SECONDS"
    MAX_BATCH_SIZE: Final = "MAX_BATCH_SIZE"
    LEAD_TTL_DAYS: Final = "LEAD_TTL_DAYS"
    TEXT_CACHE: Final = "LEADGEN_TEXT_CACHE"  # distinct lead texts whose vectors are kept (0: off)
    FUZZY_THRESHOLD: Final = "LEADGEN_FUZZY_THRESHOLD"  # fuzzy match -> duplicate: true
    POSSIBLE_THRESHOLD: Final = "LEADGEN_POSSIBLE_THRESHOLD"  # -> possible_duplicate
    # household | strict: one name at the person's dwelling is a duplicate, or both names needed
    DUP_NAMES: Final = "LEADGEN_DUP_NAMES"
    # customers | known: which known people are answered without a score (leadgen.config)
    SHORT_CIRCUIT: Final = "LEADGEN_SHORT_CIRCUIT"
    # a request's wait for the local SQLite duplicate store, at most (then `skipped`)
    DUP_STORE_TIMEOUT_MS: Final = "LEADGEN_DUP_STORE_TIMEOUT_MS"
    # VERSION@MANIFEST_SHA256: the artifact version this function version serves, set by the
    # build job when it publishes a function version (unset: follow LATEST)
    ARTIFACT_PIN: Final = "LEADGEN_ARTIFACT_PIN"
    # where scored leads are logged (leadgen.stores.score_log): "stdout" (the Lambda: one JSON
    # line per lead, shipped by a log subscription), a folder or s3://bucket/prefix (parquet
    # parts), "off"; the build reads the same place back for its outcomes
    SCORE_LOG: Final = "LEADGEN_SCORE_LOG"
    # build
    INPUT_PATH: Final = "LEADGEN_INPUT_PATH"
    TEXT_COLS: Final = "LEADGEN_TEXT_COLS"
    CAT_COLS: Final = "LEADGEN_CAT_COLS"
    NUM_COLS: Final = "LEADGEN_NUM_COLS"
    HIGH_VALUE_COL: Final = "LEADGEN_HIGH_VALUE_COL"
    VALUE_COL: Final = "LEADGEN_VALUE_COL"
    VALUE_QUANTILE: Final = "LEADGEN_VALUE_QUANTILE"
    TEXT_MODE: Final = "LEADGEN_TEXT_MODE"
    ANN_RECALL: Final = "LEADGEN_ANN_RECALL"
    INDEX_COMPRESSION: Final = "LEADGEN_INDEX_COMPRESSION"
    # the deployed scoring function, as the build job sees it (stacks/index_refresh.py sets them)
    FUNCTION_NAME: Final = "LEADGEN_FUNCTION_NAME"
    FUNCTION_MEMORY_MB: Final = "LEADGEN_FUNCTION_MEMORY_MB"
    FUNCTION_TMP_MB: Final = "LEADGEN_FUNCTION_TMP_MB"
    MIN_AUC: Final = "LEADGEN_MIN_AUC"
    MIN_LIFT: Final = "LEADGEN_MIN_LIFT"
    MAX_PSI: Final = "LEADGEN_MAX_PSI"  # gate: refuse a version drifted beyond this column PSI
    # outcomes of logged leads (leadgen.builder.outcomes) and the challenger gate
    MATURITY_DAYS: Final = "LEADGEN_MATURITY_DAYS"
    MAX_REALIZED_AUC_DROP: Final = "LEADGEN_MAX_REALIZED_AUC_DROP"
    GRADE_BANDS: Final = "LEADGEN_GRADE_BANDS"
    KEEP_VERSIONS: Final = "LEADGEN_KEEP_VERSIONS"
    # the export's own column names and format
    INPUT_FORMAT: Final = "LEADGEN_INPUT_FORMAT"
    ID_COL: Final = "LEADGEN_ID_COL"
    EMAIL_COL: Final = "LEADGEN_EMAIL_COL"
    CURRENT_COL: Final = "LEADGEN_CURRENT_COL"
    HIGH_VALUE_VALUES: Final = "LEADGEN_HIGH_VALUE_VALUES"
    MAX_NON_NUMERIC: Final = "LEADGEN_MAX_NON_NUMERIC"
    # dates as features, and how an export is read when its own bytes and values do not say
    DATE_COLS: Final = "LEADGEN_DATE_COLS"
    # Columns built on although they look like the outcome; yes: a holdout AUC above the
    # ceiling publishes (leadgen.builder.leaks)
    ALLOW_COLUMNS: Final = "LEADGEN_ALLOW_COLUMNS"
    ALLOW_HIGH_AUC: Final = "LEADGEN_ALLOW_HIGH_AUC"
    AS_OF: Final = "LEADGEN_AS_OF"
    DELIMITER: Final = "LEADGEN_DELIMITER"
    ENCODING: Final = "LEADGEN_ENCODING"
    SHEET: Final = "LEADGEN_SHEET"
    DECIMAL: Final = "LEADGEN_DECIMAL"
    DAYFIRST: Final = "LEADGEN_DAYFIRST"
    DATE_FORMAT: Final = "LEADGEN_DATE_FORMAT"
    # the export's columns saying who a person is (leadgen.config.IdentityColumns)
    FIRST_NAME_COL: Final = "LEADGEN_FIRST_NAME_COL"
    LAST_NAME_COL: Final = "LEADGEN_LAST_NAME_COL"
    FULL_NAME_COL: Final = "LEADGEN_FULL_NAME_COL"
    COMPANY_COL: Final = "LEADGEN_COMPANY_COL"
    PHONE_COL: Final = "LEADGEN_PHONE_COL"
    COUNTRY_COL: Final = "LEADGEN_COUNTRY_COL"
    STREET_COL: Final = "LEADGEN_STREET_COL"
    CITY_COL: Final = "LEADGEN_CITY_COL"
    POSTCODE_COL: Final = "LEADGEN_POSTCODE_COL"
    DOB_COL: Final = "LEADGEN_DOB_COL"
    # which rows are customers (leadgen.config.CustomerRule): a stage column and its values
    CUSTOMER_COL: Final = "LEADGEN_CUSTOMER_COL"
    CUSTOMER_VALUES: Final = "LEADGEN_CUSTOMER_VALUES"
    # bulk scoring job: the uploaded lead file (from the EventBridge event, via CodeBuild)
    SCORE_REQUEST_BUCKET: Final = "LEADGEN_SCORE_REQUEST_BUCKET"
    SCORE_REQUEST_KEY: Final = "LEADGEN_SCORE_REQUEST_KEY"
    # Powertools
    POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
    POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"


# Identity field -> the variable naming the export's column for it (leadgen.config.IdentityColumns)
IDENTITY_COL_ENV: Final = {
    "first_name": Env.FIRST_NAME_COL,
    "last_name": Env.LAST_NAME_COL,
    "full_name": Env.FULL_NAME_COL,
    "company": Env.COMPANY_COL,
    "phone": Env.PHONE_COL,
    "country": Env.COUNTRY_COL,
    "street": Env.STREET_COL,
    "city": Env.CITY_COL,
    "postcode": Env.POSTCODE_COL,
    "dob": Env.DOB_COL,
}


class Metric:
    """Custom metrics the Lambda and the build job publish (namespace METRICS_NAMESPACE, dimension
    service)."""

    ARTIFACT_AGE: Final = "ArtifactAgeSeconds"
    ARTIFACT_REFRESH_FAILURES: Final = "ArtifactRefreshFailures"
    ARTIFACT_UNAVAILABLE: Final = "ArtifactUnavailable"
    ARTIFACT_FALLBACK: Final = "ArtifactFallback"  # LATEST refused at start; an older one serves
    SCORE_LATENCY: Final = "ScoreLatencyMs"
    LEADS_SCORED: Final = "LeadsScored"
    DUPLICATES: Final = "Duplicates"
    DUPLICATE_CHECK_SKIPPED: Final = "DuplicateCheckSkipped"
    FUZZY_DUPLICATES: Final = "FuzzyDuplicates"  # the part of Duplicates found by fuzzy matching
    POSSIBLE_DUPLICATES: Final = "PossibleDuplicates"
    COLD_START: Final = "ColdStart"  # published by Powertools itself
    # the build job's drift against the previous version (dimension service; leadgen.builder.drift)
    DRIFT_MAX_PSI: Final = "DriftMaxColumnPsi"
    DRIFT_LABEL_RATE_CHANGE: Final = "DriftLabelRateChange"
    DRIFT_SCORE_SHIFT: Final = "DriftScorePsi"
    # scored leads the score log could not take (Lambda and bulk job; leadgen.serve.score_record)
    SCORE_LOG_FAILURES: Final = "ScoreLogFailures"
    # the build job's backtest of logged leads against the export (leadgen.builder.backtest)
    MATURED_LEADS: Final = "MaturedLeads"
    REALIZED_AUC: Final = "RealizedAuc"
    REALIZED_AUC_GAP: Final = "RealizedAucBelowHoldout"  # this build's holdout AUC - realised
    REALIZED_GRADE_A_HIGH_VALUE: Final = "RealizedGradeAHighValueRate"

    @staticmethod
    def grade(grade: str) -> str:
        """One metric per grade (GradeA..GradeD): a grade as a dimension would bill per value."""
        return f"Grade{grade}"


GRADES: Final = ("A", "B", "C", "D")

# -- the default column layout (the synthetic CRM's; `leadgen build` and the stack default to it) --
DEFAULT_TEXT_COLS: Final = ("job_title", "bio")
DEFAULT_CAT_COLS: Final = ("industry", "country")
DEFAULT_NUM_COLS: Final = ("company_size", "web_activity_score", "email_engagement_score")
DEFAULT_HIGH_VALUE_COL: Final = "is_high_value"
DEFAULT_ID_COL: Final = "customer_id"
DEFAULT_EMAIL_COL: Final = "email"
DEFAULT_CURRENT_COL: Final = "is_current"
# How an export is read: by its extension, or as said (LEADGEN_INPUT_FORMAT, --format, the stack).
INPUT_FORMATS: Final = ("auto", "parquet", "csv", "xlsx")
# How `score-file` writes: as the input was written (auto), or as one of these
# (leadgen.serve.bulk.output_form).
OUT_FORMATS: Final = ("auto", "csv", "csv-eu", "tsv", "xlsx", "parquet")

# -- bulk scoring in AWS: lead files uploaded under SCORE_REQUESTS_PREFIX/ of the artifact bucket
# are scored into SCORED_PREFIX/<name>.parquet (the rule's pattern and the job's output key) -------
SCORE_REQUESTS_PREFIX: Final = "score-requests"
SCORED_PREFIX: Final = "scored"

# -- the score log in AWS: the bucket prefix the Lambda's records reach through a log subscription
# and Kinesis Data Firehose (FIREHOSE_LOG_FOLDER/YYYY/MM/DD/HH/, gzipped JSON lines) and where the
# bulk job writes its parquet parts (day=YYYY-MM-DD/); the build job reads all of it ------------
SCORE_LOG_PREFIX: Final = "score-log"
FIREHOSE_LOG_FOLDER: Final = "firehose"
# The JSON key that marks a score record in the function's log (its value: the schema version);
# the subscription filter selects lines by it.
SCORE_LOG_MARKER: Final = "score_log"
SCORE_LOG_FILTER: Final = "{ $.score_log >= 1 }"
