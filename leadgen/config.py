"""Configuration: read from the environment once per runtime, overlaid by flags, then passed on.

`BuildConfig.from_env` is the build's one reader (the CodeBuild job, `leadgen build`) and
`ServiceConfig.from_env` the service's (the Lambda, `leadgen serve` / `score`). The CLI overlays
its flags on them with `dataclasses.replace`; the core receives a config object and reads no
variable itself. This module is the only one in leadgen/ that touches os.environ
(tests/unit/test_layout.py): the smaller readers at the end (AWS endpoint and region, the
artifacts location) and the defaults some libraries only take from the environment. Variable
names live in `leadgen.names`, which the CDK stack imports too.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from leadgen.errors import ConfigError
from leadgen.names import (
    DEFAULT_CAT_COLS,
    DEFAULT_CURRENT_COL,
    DEFAULT_EMAIL_COL,
    DEFAULT_HIGH_VALUE_COL,
    DEFAULT_ID_COL,
    DEFAULT_NUM_COLS,
    DEFAULT_TEXT_COLS,
    DUPLICATE_THRESHOLD,
    IDENTITY_COL_ENV,
    INPUT_FORMATS,
    POSSIBLE_THRESHOLD,
    Env,
)

# Who a person is, as the duplicate check reads it (with the email): the API's field names, and
# the default column names of an export (IdentityColumns maps them to an export's own). Never
# features, but country may also be one.
IDENTITY_FIELDS = (
    "first_name", "last_name", "full_name", "company", "phone", "country", "street", "city",
    "postcode", "dob",
)  # fmt: skip
# What the duplicate check does with a lead that is a known person: "customers" short-circuits
# only a customer (not scored); "known" short-circuits every known person (a CRM record that is
# not a customer, a lead scored before) as well.
SHORT_CIRCUITS = ("customers", "known")
# Which names a fuzzy duplicate needs: "household" (one name at the person's dwelling, with
# nothing contradicting, is enough: docs/duplicates.md) or "strict" (both names agree).
DUP_NAMES = ("household", "strict")
# Weights of the ONNX text model: int8 by default (bench/RESULTS.md compares the two).
PRECISIONS = ("int8", "fp32")
EMBEDDERS = ("onnx", "static", "hashing")
TEXT_MODES = ("columns", "joint")
INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
INDEX_COMPRESSIONS = ("auto", "none")
DEFAULT_ARTIFACTS = "artifacts"
DEFAULT_MAX_BATCH = 100  # leads per /score_leads request (MAX_BATCH_SIZE)
# Distinct lead texts whose vectors the service keeps (leadgen.model.text_cache): job titles
# repeat across leads. 4096 float32 rows of 384 dims are 6 MB, inside the capacity headroom.
DEFAULT_TEXT_CACHE = 4096
MAX_TEXT_CACHE = 1_000_000
LAMBDA_CACHE_DIR = "/tmp/leadgen-artifacts"


def split_cols(value: str | None) -> tuple[str, ...] | None:
    """Parse 'a,b , c' into ('a','b','c'); None stays None so defaults can apply."""
    if value is None:
        return None
    return tuple(c.strip() for c in value.split(",") if c.strip())


@dataclass(frozen=True)
class ColumnSpec:
    """Which CRM columns feed the text block and the tabular block.

    `date_cols` are numeric columns whose values are dates: each enters the model as a number,
    the days before a reference time (the export's snapshot for customers, the scoring time for
    leads; leadgen.model.fields), so everything downstream treats it as a numeric column. They
    are the last of `num_cols` (`with_dates` puts them there)."""

    text_cols: tuple[str, ...] = DEFAULT_TEXT_COLS
    cat_cols: tuple[str, ...] = DEFAULT_CAT_COLS
    num_cols: tuple[str, ...] = DEFAULT_NUM_COLS
    date_cols: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for col in (*self.text_cols, *self.cat_cols, *self.num_cols):
            if col in seen:
                raise ConfigError(f"column {col!r} is configured twice (text/cat/num/date)")
            seen.add(col)
        if not self.text_cols and not self.cat_cols and not self.num_cols:
            raise ConfigError(
                "no feature columns configured (--text-cols/--cat-cols/--num-cols/--date-cols)"
            )
        stray = [c for c in self.date_cols if c not in self.num_cols]
        if stray:
            raise ConfigError(f"date column {stray[0]!r} is not among the numeric columns")

    @classmethod
    def with_dates(
        cls,
        text_cols: tuple[str, ...],
        cat_cols: tuple[str, ...],
        num_cols: tuple[str, ...],
        date_cols: tuple[str, ...],
    ) -> ColumnSpec:
        """The spec of --text-cols/--cat-cols/--num-cols/--date-cols: dates join the numbers."""
        return cls(text_cols, cat_cols, (*num_cols, *date_cols), date_cols)

    @property
    def all_cols(self) -> tuple[str, ...]:
        return (*self.text_cols, *self.cat_cols, *self.num_cols)

    @property
    def plain_num_cols(self) -> tuple[str, ...]:
        """The numeric columns that are not dates (--num-cols)."""
        return tuple(c for c in self.num_cols if c not in self.date_cols)

    def to_json(self) -> dict[str, list[str]]:
        out = {k: list(v) for k, v in asdict(self).items()}
        if not self.date_cols:
            out.pop("date_cols")
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ColumnSpec:
        return cls(
            text_cols=tuple(data["text_cols"]),
            cat_cols=tuple(data["cat_cols"]),
            num_cols=tuple(data["num_cols"]),
            date_cols=tuple(data.get("date_cols", ())),
        )


DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
DECIMAL_MARKS = (".", ",")
YES = frozenset({"yes", "y", "true", "1", "on"})
NO = frozenset({"no", "n", "false", "0", "off"})


@dataclass(frozen=True)
class ReadSettings:
    """How to read an export or a lead file where its own bytes and values do not say; None:
    detected (leadgen.stores.dialect, leadgen.stores.conventions)."""

    delimiter: str | None = None  # , ; tab |
    encoding: str | None = None  # a Python codec name: utf-8, utf-16, cp1252, ...
    sheet: str | None = None  # an .xlsx sheet (default: the first)
    decimal: str | None = None  # the decimal mark of every numeric column: . or ,
    dayfirst: bool | None = None  # 05/03/2024 is 5 March (True) or 3 May (False)
    date_format: str | None = None  # a strptime format every date column is read with

    def __post_init__(self) -> None:
        if self.delimiter is not None and self.delimiter not in DELIMITER_NAMES:
            raise ConfigError(
                f"delimiter must be comma, semicolon, tab or pipe, got {self.delimiter!r}"
            )
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ConfigError(
                    f"encoding {self.encoding!r} is not one Python knows (e.g. utf-8, utf-16, "
                    "cp1252)"
                ) from None
        if self.decimal is not None and self.decimal not in DECIMAL_MARKS:
            raise ConfigError(f"decimal mark must be '.' or ',', got {self.decimal!r}")
        if self.date_format is not None and "%" not in self.date_format:
            raise ConfigError(
                f"date format must be a strptime pattern such as %d/%m/%Y, got {self.date_format!r}"
            )

    @classmethod
    def parse(
        cls,
        delimiter: str | None = None,
        encoding: str | None = None,
        sheet: str | None = None,
        decimal: str | None = None,
        dayfirst: str | None = None,
        date_format: str | None = None,
    ) -> ReadSettings:
        """From flag or variable text: a delimiter by name (comma, semicolon, tab, pipe) or
        character, dayfirst as yes/no."""
        return cls(
            delimiter=None if delimiter is None else delimiter_of(delimiter),
            encoding=encoding,
            sheet=sheet,
            decimal=decimal,
            dayfirst=None if dayfirst is None else yes_no(dayfirst, "dayfirst"),
            date_format=date_format,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReadSettings:
        return cls.parse(
            env(Env.DELIMITER, environ),
            env(Env.ENCODING, environ),
            env(Env.SHEET, environ),
            env(Env.DECIMAL, environ),
            env(Env.DAYFIRST, environ),
            env(Env.DATE_FORMAT, environ),
        )


def delimiter_of(text: str) -> str:
    """A delimiter given as its character or its name (comma, semicolon, tab, pipe, \\t)."""
    names = {name: char for char, name in DELIMITER_NAMES.items()} | {"\\t": "\t"}
    value = names.get(text.strip().lower(), text)
    if value not in DELIMITER_NAMES:
        raise ConfigError(f"delimiter must be comma, semicolon, tab or pipe, got {text!r}")
    return value


def yes_no(text: str, name: str) -> bool:
    word = text.strip().lower()
    if word in YES | NO:
        return word in YES
    raise ConfigError(f"{name} must be yes or no, got {text!r}")


@dataclass(frozen=True)
class KeyColumns:
    """The export's columns that are not features, by the export's own names: the customer id
    (kept as given in every output), the email (duplicate check) and the SCD2 "current row" flag.
    email/current None: the default name is used when the export has it; a name given must exist."""

    id: str = DEFAULT_ID_COL
    email: str | None = None
    current: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ConfigError("the id column name is empty (--id-col)")

    @property
    def email_name(self) -> str:
        return self.email or DEFAULT_EMAIL_COL

    @property
    def current_name(self) -> str:
        return self.current or DEFAULT_CURRENT_COL


@dataclass(frozen=True)
class IdentityColumns:
    """The export's columns that say who a person is, by the export's own names (HubSpot's "First
    Name", Dynamics' "address1_postalcode"); None: the field's own name (first_name, ...) when
    the export has it. One mapping for the build, the API, score-file and the bulk job: the
    build records the columns it read in the manifest (key_columns), and the others read lead
    files and requests by them. `full_name` is split into first and last names when the export
    has no separate ones ("Jane Q. Doe", "Doe, Jane")."""

    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    company: str | None = None
    phone: str | None = None
    country: str | None = None
    street: str | None = None
    city: str | None = None
    postcode: str | None = None
    dob: str | None = None

    def configured(self) -> dict[str, str]:
        """field -> column, for the fields given a column."""
        return {f: c for f in IDENTITY_FIELDS if (c := getattr(self, f)) is not None}

    def resolve(self, names: Sequence[str]) -> dict[str, str]:
        """field -> column of an export with columns `names`: the configured column, else the
        field's own name when present (a configured column that is missing is the caller's
        error to raise: it knows the flag)."""
        present = set(names)
        out = {f: c for f, c in self.configured().items() if c in present}
        for f in IDENTITY_FIELDS:
            if f not in self.configured() and f in present:
                out[f] = f
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> IdentityColumns:
        return cls(**{f: env(IDENTITY_ENV[f], environ) for f in IDENTITY_FIELDS})


IDENTITY_ENV = IDENTITY_COL_ENV


@dataclass(frozen=True)
class CustomerRule:
    """Which rows of the export are customers, for the duplicate check (only a customer is
    answered without a score): the rows whose `column` holds one of `values` (any case; no
    values: a true/false flag), e.g. Lifecycle Stage in customer,evangelist. Unset (column
    None): the high-value label when it is a stage (--high-value-values: its rows at those
    values), else every current row. The rows that are not customers (open leads, prospects,
    lost deals) are known people all the same: their leads are scored and marked `known_as`."""

    column: str | None = None
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.values and not self.column:
            raise ConfigError("--customer-values go with --customer-col")

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "values": list(self.values)}


@dataclass(frozen=True)
class HighValueRule:
    """High-value customers: a flag column (boolean, 0/1, or text matched case-insensitively
    against `values`, e.g. StageName "Closed Won"), or the top quantile of a value column."""

    column: str = DEFAULT_HIGH_VALUE_COL
    quantile: float | None = None  # set => `column` is numeric, top (1-quantile) are high
    values: tuple[str, ...] = ()  # text values meaning high value; () = a true/false flag

    def __post_init__(self) -> None:
        if self.quantile is not None and not 0.0 < self.quantile < 1.0:
            raise ConfigError(f"value quantile must be in (0, 1), got {self.quantile}")
        if self.quantile is not None and self.values:
            raise ConfigError("--high-value-values go with --high-value-col, not --value-col")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"column": self.column, "quantile": self.quantile}
        if self.values:
            out["values"] = list(self.values)
        return out


@dataclass(frozen=True)
class GradeBands:
    """Percentile floors of grades A/B/C (D below); configurable per build and per request."""

    a: float = 90.0
    b: float = 70.0
    c: float = 40.0

    def __post_init__(self) -> None:
        if not 100.0 >= self.a >= self.b >= self.c >= 0.0:
            raise ConfigError(
                f"grade bands must satisfy 100 >= A >= B >= C >= 0, got A={self.a} B={self.b} "
                f"C={self.c}"
            )

    def grade(self, percentile: float) -> str:
        if percentile >= self.a:
            return "A"
        if percentile >= self.b:
            return "B"
        if percentile >= self.c:
            return "C"
        return "D"

    def to_json(self) -> dict[str, float]:
        return {"A": self.a, "B": self.b, "C": self.c}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GradeBands:
        unknown = set(data) - {"A", "B", "C"}
        if unknown:
            raise ConfigError(f"unknown grade(s) {sorted(unknown)}: bands are A, B, C")
        try:
            vals = {k: float(data[k]) for k in ("A", "B", "C") if k in data}
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"grade bands must be numbers: {exc}") from None
        base = cls()
        return cls(a=vals.get("A", base.a), b=vals.get("B", base.b), c=vals.get("C", base.c))

    @classmethod
    def parse(cls, text: str | None) -> GradeBands:
        """'A=90,B=70,C=40' (flag or LEADGEN_GRADE_BANDS); empty means the defaults."""
        if not text:
            return cls()
        parts: dict[str, Any] = {}
        for item in text.split(","):
            key, _, value = item.partition("=")
            parts[key.strip().upper()] = value.strip()
        return cls.from_json(parts)


@dataclass(frozen=True)
class EmbedderSettings:
    """Which text embedder to run, identically in the build and in serving."""

    kind: str = "onnx"  # onnx | static | hashing
    model: str | None = None  # sentence-transformers name or path; None = bundled MiniLM
    model_dir: str | None = None  # an exported ONNX (or static) directory; the image bakes one
    precision: str = "int8"  # int8 | fp32 (the ONNX export's weights; static ignores it)
    threads: int = 0  # ONNX Runtime workers; 0 = one per core
    cache: Path | None = None  # where exports are cached; None = ~/.cache/leadgen/models

    def __post_init__(self) -> None:
        if self.kind not in EMBEDDERS:
            raise ConfigError(f"embedder must be one of {', '.join(EMBEDDERS)}, got {self.kind!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.threads < 0:
            raise ConfigError(f"ONNX threads must be >= 0 (0 = one per core), got {self.threads}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmbedderSettings:
        """The variables' own names in the errors: that is what the user has to fix."""
        environ = os.environ if environ is None else environ
        precision = (env(Env.PRECISION, environ) or "int8").strip().lower()
        if precision not in PRECISIONS:
            raise ConfigError(
                f"{Env.PRECISION} must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        threads = env_int(Env.ORT_THREADS, 0, environ)
        if threads < 0:
            raise ConfigError(f"{Env.ORT_THREADS} must be >= 0 (0 = one per core), got {threads}")
        cache = env(Env.MODEL_CACHE, environ)
        return cls(
            kind=env(Env.EMBEDDER, environ) or "onnx",
            model=env(Env.MODEL, environ),
            model_dir=env(Env.MODEL_DIR, environ),
            precision=precision,
            threads=threads,
            cache=Path(cache) if cache else None,
        )


@dataclass(frozen=True)
class BuildConfig:
    """Everything a build needs: where from and to, which columns, and the method's settings."""

    input_path: str | None = None
    artifacts_uri: str = DEFAULT_ARTIFACTS
    keep_versions: int = 5
    dup_table: str | None = None  # the build job syncs customers into it
    identity_table: str | None = None  # ... and their fuzzy-match blocks into this one
    function_name: str | None = None  # the build job rolls this scoring function out to it
    email_hash_key: str = field(default="", repr=False)
    email_hash_key_secret_arn: str | None = None  # the key's secret (read by the adapter)
    columns: ColumnSpec = field(default_factory=ColumnSpec)
    high_value: HighValueRule = field(default_factory=HighValueRule)
    keys: KeyColumns = field(default_factory=KeyColumns)
    identity: IdentityColumns = field(default_factory=IdentityColumns)
    customers: CustomerRule = field(default_factory=CustomerRule)
    input_format: str = "auto"  # auto (by extension) | parquet | csv | xlsx
    reading: ReadSettings = field(default_factory=ReadSettings)
    # The customers' date columns count days before this (ISO); None: the export's newest date.
    as_of: str | None = None
    max_non_numeric: float = 0.05  # share of non-numbers in a numeric column that fails the build
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    k: int = 20
    w_text: float = 0.7
    tab_dims: int = 32
    index_type: str = "auto"  # auto | flat | hnsw | ivf
    # auto: HNSW stores the compact form (reduced text block, float16) chosen per build to meet
    # ann_recall; none: full float32 vectors (leadgen.model.faiss_index)
    index_compression: str = "auto"
    ann_threshold: int = 50_000
    # recall@k of held-back customers against exact search over the uncompressed vectors:
    # the compact form and HNSW efSearch are the smallest meeting it (leadgen.model.faiss_index)
    ann_recall: float = 0.96
    # The deployed function's memory and /tmp (set by the stack): a version needing more is
    # refused before LATEST moves (leadgen.builder.capacity). None: not checked.
    function_memory_mb: int | None = None
    function_tmp_mb: int | None = None
    holdout_fraction: float = 0.1
    holdout_max: int = 2_000
    calibration_max: int = 5_000
    min_auc: float = 0.6
    min_lift: float = 1.2
    max_psi: float | None = None  # gate: largest column PSI against the previous version
    # The score log the build reads outcomes from (leadgen.stores.score_log; None: none), how
    # old a logged lead must be to count as matured, and the challenger gate's limit: refuse a
    # candidate whose realised AUC on matured leads is below the serving version's by more.
    score_log: str | None = None
    maturity_days: float = 90.0
    max_realized_auc_drop: float = 0.02
    grade_bands: GradeBands = field(default_factory=GradeBands)
    seed: int = 0
    # Columns built on although the leak checks say they look like the outcome, and whether a
    # holdout AUC above the ceiling publishes (leadgen.builder.leaks): the user's call, by name.
    allow_columns: tuple[str, ...] = ()
    allow_high_auc: bool = False
    learn_weights: bool = True
    text_mode: str = "columns"  # columns | joint (see leadgen.model.features.embed_text)

    def __post_init__(self) -> None:
        if self.text_mode not in TEXT_MODES:
            raise ConfigError(f"text mode must be 'columns' or 'joint', got {self.text_mode!r}")
        if self.index_type not in INDEX_TYPES:
            raise ConfigError(f"index type must be auto|flat|hnsw|ivf, got {self.index_type!r}")
        if self.index_compression not in INDEX_COMPRESSIONS:
            raise ConfigError(
                f"index compression must be auto|none, got {self.index_compression!r}"
            )
        for name, limit in (("memory", self.function_memory_mb), ("/tmp", self.function_tmp_mb)):
            if limit is not None and limit <= 0:
                raise ConfigError(f"the function's {name} must be a positive MB count, got {limit}")
        if not 1 <= self.k <= 1000:
            raise ConfigError(f"k must be in [1, 1000], got {self.k}")
        if not 0.5 <= self.ann_recall <= 1.0:
            raise ConfigError(f"ANN recall target must be in [0.5, 1], got {self.ann_recall}")
        if not 0.0 <= self.w_text <= 1.0:
            raise ConfigError(f"w_text must be in [0, 1], got {self.w_text}")
        if not 0.0 < self.holdout_fraction < 0.5:
            raise ConfigError(f"holdout fraction must be in (0, 0.5), got {self.holdout_fraction}")
        if self.keep_versions < 1:
            raise ConfigError(f"keep versions must be at least 1, got {self.keep_versions}")
        if self.input_format not in INPUT_FORMATS:
            raise ConfigError(
                f"input format must be {'|'.join(INPUT_FORMATS)}, got {self.input_format!r}"
            )
        if not 0.0 <= self.max_non_numeric <= 1.0:
            raise ConfigError(
                f"max non-numeric share must be in [0, 1], got {self.max_non_numeric}"
            )
        if self.max_psi is not None and not self.max_psi > 0:
            raise ConfigError(f"max PSI must be above 0, got {self.max_psi}")
        if not 0 <= self.maturity_days <= 3650:
            raise ConfigError(f"maturity days must be in [0, 3650], got {self.maturity_days}")
        if not 0 <= self.max_realized_auc_drop <= 1:
            raise ConfigError(
                f"max realised AUC drop must be in [0, 1], got {self.max_realized_auc_drop}"
            )
        _one_hash_key_source(self.email_hash_key, self.email_hash_key_secret_arn)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BuildConfig:
        """The build's settings from LEADGEN_* variables (the CodeBuild project sets them)."""
        e = os.environ if environ is None else environ
        base = cls()
        keep = env_int(Env.KEEP_VERSIONS, base.keep_versions, e)
        if keep < 1:  # named here: the variable is what the user has to fix
            raise ConfigError(f"{Env.KEEP_VERSIONS} must be at least 1, got {keep}")
        return cls(
            input_path=env(Env.INPUT_PATH, e),
            artifacts_uri=env(Env.ARTIFACTS_URI, e) or DEFAULT_ARTIFACTS,
            keep_versions=keep,
            dup_table=env(Env.DUP_TABLE_NAME, e),
            identity_table=env(Env.IDENTITY_TABLE_NAME, e),
            function_name=env(Env.FUNCTION_NAME, e),
            email_hash_key=env(Env.EMAIL_HASH_KEY, e) or "",
            email_hash_key_secret_arn=env(Env.EMAIL_HASH_KEY_SECRET_ARN, e),
            columns=ColumnSpec.with_dates(
                text_cols=_cols_or_default(env(Env.TEXT_COLS, e), DEFAULT_TEXT_COLS),
                cat_cols=_cols_or_default(env(Env.CAT_COLS, e), DEFAULT_CAT_COLS),
                num_cols=_cols_or_default(env(Env.NUM_COLS, e), DEFAULT_NUM_COLS),
                date_cols=_cols_or_default(env(Env.DATE_COLS, e), ()),
            ),
            high_value=high_value_rule(
                env(Env.HIGH_VALUE_COL, e),
                env(Env.VALUE_COL, e),
                env_float(Env.VALUE_QUANTILE, 0.9, e),
                split_cols(env(Env.HIGH_VALUE_VALUES, e)),
            ),
            keys=KeyColumns(
                id=env(Env.ID_COL, e) or DEFAULT_ID_COL,
                email=env(Env.EMAIL_COL, e),
                current=env(Env.CURRENT_COL, e),
            ),
            identity=IdentityColumns.from_env(e),
            customers=CustomerRule(
                env(Env.CUSTOMER_COL, e), split_cols(env(Env.CUSTOMER_VALUES, e)) or ()
            ),
            input_format=env(Env.INPUT_FORMAT, e) or base.input_format,
            reading=ReadSettings.from_env(e),
            as_of=env(Env.AS_OF, e),
            max_non_numeric=env_float(Env.MAX_NON_NUMERIC, base.max_non_numeric, e),
            embedder=EmbedderSettings.from_env(e),
            ann_recall=env_float(Env.ANN_RECALL, base.ann_recall, e),
            index_compression=env(Env.INDEX_COMPRESSION, e) or base.index_compression,
            function_memory_mb=_env_int_or_none(Env.FUNCTION_MEMORY_MB, e),
            function_tmp_mb=_env_int_or_none(Env.FUNCTION_TMP_MB, e),
            min_auc=env_float(Env.MIN_AUC, base.min_auc, e),
            min_lift=env_float(Env.MIN_LIFT, base.min_lift, e),
            max_psi=env_float(Env.MAX_PSI, 0.0, e) if env(Env.MAX_PSI, e) else None,
            score_log=score_log_location(env(Env.SCORE_LOG, e)),
            maturity_days=env_float(Env.MATURITY_DAYS, base.maturity_days, e),
            max_realized_auc_drop=env_float(
                Env.MAX_REALIZED_AUC_DROP, base.max_realized_auc_drop, e
            ),
            grade_bands=GradeBands.parse(env(Env.GRADE_BANDS, e)),
            text_mode=env(Env.TEXT_MODE, e) or base.text_mode,
            allow_columns=split_cols(env(Env.ALLOW_COLUMNS, e)) or (),
            allow_high_auc=yes_no(env(Env.ALLOW_HIGH_AUC, e) or "no", Env.ALLOW_HIGH_AUC),
        )


def _env_int_or_none(name: str, environ: Mapping[str, str]) -> int | None:
    return None if env(name, environ) is None else env_int(name, 0, environ)


def _cols_or_default(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """An empty list is a real choice ("no such columns"), unset is not."""
    cols = split_cols(value)
    return default if cols is None else cols


def high_value_rule(
    high_value_col: str | None,
    value_col: str | None,
    quantile: float,
    values: tuple[str, ...] | None = None,
) -> HighValueRule:
    """A value column (top quantile) wins over a flag column; neither = the default flag. Values
    with a value column are refused by HighValueRule (they were dropped without a word)."""
    if value_col:
        return HighValueRule(column=value_col, quantile=quantile, values=values or ())
    return HighValueRule(column=high_value_col or DEFAULT_HIGH_VALUE_COL, values=values or ())


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the scoring service needs: where the artifacts are and how to serve them."""

    artifacts_uri: str
    cache_dir: Path = Path(LAMBDA_CACHE_DIR)
    refresh_seconds: float = 300.0
    max_batch: int = DEFAULT_MAX_BATCH
    text_cache: int = DEFAULT_TEXT_CACHE
    lead_ttl_days: int = 90
    dup_table: str | None = None
    identity_table: str | None = None  # DynamoDB blocks of the fuzzy check (None: exact only)
    email_hash_key: str = field(default="", repr=False)
    email_hash_key_secret_arn: str | None = None
    fuzzy_threshold: float = DUPLICATE_THRESHOLD  # at or above it: a duplicate (not scored)
    possible_threshold: float = POSSIBLE_THRESHOLD  # from here up to it: possible (scored)
    dup_store_timeout_ms: int = 100  # the local SQLite store's deadline per call (then skipped)
    embedder: EmbedderSettings = field(default_factory=EmbedderSettings)
    # VERSION@MANIFEST_SHA256: serve that artifact version, never LATEST (leadgen.rollout)
    artifact_pin: str | None = None
    short_circuit: str = "customers"  # one of SHORT_CIRCUITS
    dup_names: str = "household"  # one of DUP_NAMES
    # where scored leads are logged: "stdout", a folder or s3:// (leadgen.stores.score_log);
    # None: not logged
    score_log: str | None = None

    def __post_init__(self) -> None:
        _one_hash_key_source(self.email_hash_key, self.email_hash_key_secret_arn)
        if self.short_circuit not in SHORT_CIRCUITS:
            raise ConfigError(
                f"{Env.SHORT_CIRCUIT} must be one of {', '.join(SHORT_CIRCUITS)}, got "
                f"{self.short_circuit!r}"
            )
        if self.dup_names not in DUP_NAMES:
            raise ConfigError(
                f"{Env.DUP_NAMES} must be one of {', '.join(DUP_NAMES)}, got {self.dup_names!r}"
            )
        if not 0.0 < self.possible_threshold <= self.fuzzy_threshold <= 1.0:
            raise ConfigError(
                f"need 0 < {Env.POSSIBLE_THRESHOLD} <= {Env.FUZZY_THRESHOLD} <= 1, got "
                f"{self.possible_threshold} and {self.fuzzy_threshold}"
            )
        if self.refresh_seconds < 0:
            raise ConfigError(f"refresh seconds must be >= 0, got {self.refresh_seconds}")
        if not 1 <= self.max_batch <= 10_000:
            raise ConfigError(f"max batch size must be in [1, 10000], got {self.max_batch}")
        if self.lead_ttl_days < 1:
            raise ConfigError(f"lead TTL must be at least 1 day, got {self.lead_ttl_days}")
        if not 1 <= self.dup_store_timeout_ms <= 60_000:
            raise ConfigError(
                f"{Env.DUP_STORE_TIMEOUT_MS} must be in [1, 60000], got {self.dup_store_timeout_ms}"
            )
        if not 0 <= self.text_cache <= MAX_TEXT_CACHE:
            raise ConfigError(
                f"{Env.TEXT_CACHE} must be in [0, {MAX_TEXT_CACHE}] (0: off), got {self.text_cache}"
            )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        default_artifacts: str | None = None,
        default_cache: Path = Path(LAMBDA_CACHE_DIR),
    ) -> ServiceConfig:
        """The service's settings (the stack sets them on the Lambda); ARTIFACTS_URI is required
        unless a default is given (the CLI: ./artifacts, cached under ~/.cache, not /tmp)."""
        e = os.environ if environ is None else environ
        uri = env(Env.ARTIFACTS_URI, e) or default_artifacts
        if uri is None:
            raise ConfigError(
                f"{Env.ARTIFACTS_URI} is not set (s3://bucket/prefix or a local folder)"
            )
        return cls(
            artifacts_uri=uri,
            cache_dir=Path(env(Env.CACHE_DIR, e) or default_cache),
            refresh_seconds=env_float(Env.REFRESH_SECONDS, 300.0, e),
            max_batch=env_int(Env.MAX_BATCH_SIZE, DEFAULT_MAX_BATCH, e),
            text_cache=env_int(Env.TEXT_CACHE, DEFAULT_TEXT_CACHE, e),
            lead_ttl_days=env_int(Env.LEAD_TTL_DAYS, 90, e),
            dup_table=env(Env.DUP_TABLE_NAME, e),
            identity_table=env(Env.IDENTITY_TABLE_NAME, e),
            email_hash_key=env(Env.EMAIL_HASH_KEY, e) or "",
            email_hash_key_secret_arn=env(Env.EMAIL_HASH_KEY_SECRET_ARN, e),
            fuzzy_threshold=env_float(Env.FUZZY_THRESHOLD, DUPLICATE_THRESHOLD, e),
            possible_threshold=env_float(Env.POSSIBLE_THRESHOLD, POSSIBLE_THRESHOLD, e),
            dup_store_timeout_ms=env_int(Env.DUP_STORE_TIMEOUT_MS, 100, e),
            embedder=EmbedderSettings.from_env(e),
            artifact_pin=env(Env.ARTIFACT_PIN, e),
            short_circuit=env(Env.SHORT_CIRCUIT, e) or "customers",
            dup_names=(env(Env.DUP_NAMES, e) or "household").strip().lower(),
            score_log=score_log_location(env(Env.SCORE_LOG, e)),
        )


def score_log_location(value: str | None) -> str | None:
    """LEADGEN_SCORE_LOG as a location: "off" (any case) and unset mean no log."""
    if value is None or value.strip().lower() in ("", "off", "none"):
        return None
    return value.strip()


def _one_hash_key_source(key: str, secret_arn: str | None) -> None:
    """The key or its secret, not both: two sources could disagree without anyone noticing."""
    if key and secret_arn:
        raise ConfigError(f"set {Env.EMAIL_HASH_KEY} or {Env.EMAIL_HASH_KEY_SECRET_ARN}, not both")


def env(name: str, environ: Mapping[str, str]) -> str | None:
    """A variable, treating empty strings as unset (CDK sets empty env values)."""
    value = environ.get(name)
    return value if value not in (None, "") else None


def env_float(name: str, default: float, environ: Mapping[str, str]) -> float:
    raw = env(name, environ)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def env_int(name: str, default: int, environ: Mapping[str, str]) -> int:
    raw = env(name, environ)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def cli_score_log(artifacts: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Where the CLI logs scored leads: LEADGEN_SCORE_LOG when it is set ("off" included), else
    a `score_log` folder beside local artifacts; S3 artifacts without it: not logged."""
    raw = env(Env.SCORE_LOG, os.environ if environ is None else environ)
    if raw is not None:
        return score_log_location(raw)
    if artifacts.startswith("s3://"):
        return None
    return str(Path(artifacts) / "score_log")


def artifacts_from_env(environ: Mapping[str, str] | None = None) -> str:
    """ARTIFACTS_URI, or ./artifacts: where the CLI looks when no folder is given."""
    return env(Env.ARTIFACTS_URI, os.environ if environ is None else environ) or DEFAULT_ARTIFACTS


@dataclass(frozen=True)
class AwsSettings:
    """What code outside boto3 needs of the variables boto3 reads by itself: pyarrow's S3
    filesystem the endpoint (moto's server in tests, LocalStack) and region, the SigV4 client
    the region. None: not set."""

    s3_endpoint: str | None = None
    region: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AwsSettings:
        e = os.environ if environ is None else environ
        return cls(
            s3_endpoint=env("AWS_ENDPOINT_URL_S3", e) or env("AWS_ENDPOINT_URL", e),
            region=env("AWS_REGION", e) or env("AWS_DEFAULT_REGION", e),
        )


# Idle BLAS/OpenMP worker threads sleep instead of spinning. A build or a bulk run alternates
# numpy (OpenBLAS threads), scikit-learn and faiss (OpenMP threads) and ONNX Runtime (already
# non-spinning): a pool still spinning after its call steals the cores the next library's pool
# needs, which made builds on a shared 2-core host several times slower
# (bench/build_results.md, 'spin'; bench/BULK.md for score-file).
THREAD_WAIT_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}
# Model files come from the package or the cache, never from the Hugging Face hub at run time.
OFFLINE_MODEL_HUB = {"HF_HUB_OFFLINE": "1"}
# The jobs tokenise in one process; the tokenizers library's own pool would fight ONNX Runtime.
JOB_TOKENIZERS = {"TOKENIZERS_PARALLELISM": "false"}


def default_library_settings(settings: Mapping[str, str]) -> None:
    """Set `settings` in os.environ where the environment does not already (it still wins).
    The only writes to the environment in leadgen: OpenMP, OpenBLAS, the Hugging Face hub and
    tokenizers take these settings from the environment only, when they load, so the entry
    points call this before the first import of them."""
    for name, value in settings.items():
        os.environ.setdefault(name, value)
