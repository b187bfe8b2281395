"""What the scoring service logs of each scored lead, and the guarantee that logging never costs a
score: the record builder and the logger the service calls (leadgen.stores.score_log keeps the
schema and the storage).

A lead answered as a duplicate was not scored and is not logged; a lead whose request or file
said not to log it (`options.log: false`, `score-file --no-log`) is not either. The record holds
the lead's own id, the keyed hash of its normalised email (the duplicate store's key), the
answer's lead_ref, the scores as answered, the served version's feature columns as validated
and the hashed identity fields the build's fuzzy outcome match compares
(leadgen.duplicates.hashed_identity): no raw email, name or phone number.

A failure to log (an unwritable stdout, a record that does not serialise) is caught here: the
answer goes out as if nothing happened, the count goes to `on_failure` (a metric in the Lambda,
the summary in bulk runs) and one line without any lead data goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from leadgen.duplicates.hashed_identity import hashed, to_json
from leadgen.duplicates.normalise import email_hash, identity_of
from leadgen.serve.schemas import CleanLead, Score
from leadgen.stores.score_log import LogSink, ScoreRecord, open_sink

log = logging.getLogger(__name__)


def score_record(
    lead: CleanLead,
    answer: Score,
    columns: Sequence[str],
    source: str,
    hash_key: str,
    when: datetime | None = None,
) -> ScoreRecord:
    """The log's record of one scored lead (`columns`: the served version's feature columns)."""
    who = lead.who
    identity = identity_of(
        who.first_name, who.last_name, lead.email, who.company, who.phone, who.country
    )
    headline = answer.p_high_value if answer.graded_on == "p_high_value" else answer.contrast
    return ScoreRecord(
        scored_at=when or datetime.now(UTC),
        source=source,
        artifact_version=answer.artifact_version,
        lead_id=lead.lead_id,
        email_hash=email_hash(lead.email, hash_key) if lead.email else None,
        lead_ref=answer.lead_ref,
        p_high_value=answer.p_high_value,
        percentile=answer.percentile,
        grade=answer.grade,
        graded_on=answer.graded_on,
        headline=headline,
        features={c: lead.features[c] for c in columns if lead.features.get(c) is not None},
        who=to_json(hashed(identity, hash_key)),
    )


class ScoreLogger:
    """The service's side of the log: records built and handed to the sink, failures counted."""

    def __init__(
        self,
        sink: LogSink,
        source: str,
        hash_key: str,
        on_failure: Callable[[int], None] | None = None,
    ) -> None:
        self.sink = sink
        self.source = source
        self.hash_key = hash_key
        self.on_failure = on_failure
        self.failures = 0
        self.logged = 0

    def record(
        self,
        leads: Sequence[CleanLead],
        answers: Sequence[Score],
        columns: Sequence[str],
        wanted: Sequence[bool] | bool = True,
    ) -> None:
        """Log the scored (not duplicate) leads among `answers` that `wanted` lets through."""
        flags = [wanted] * len(leads) if isinstance(wanted, bool) else list(wanted)
        chosen = [
            (lead, a)
            for lead, a, ok in zip(leads, answers, flags, strict=True)
            if ok and not a.duplicate
        ]
        if not chosen:
            return
        try:
            now = datetime.now(UTC)
            records = [
                score_record(lead, a, columns, self.source, self.hash_key, now)
                for lead, a in chosen
            ]
            self.sink.write(records)
        except Exception as exc:
            self.failed(len(chosen), exc)
            return
        self.logged += len(records)

    def failed(self, n: int, exc: BaseException | None = None) -> None:
        """Count `n` records that will not be logged (also the sink's hook for lost ones)."""
        self.failures += n
        why = type(exc).__name__ if exc is not None else "not written"
        log.warning("score log: %d scored lead(s) not logged (%s)", n, why)
        if self.on_failure is not None:
            try:
                self.on_failure(n)
            except Exception:
                log.warning("score log: the failure counter itself failed")

    def close(self) -> None:
        """Write what is buffered (a clean shutdown, the end of a file)."""
        try:
            self.sink.close()
        except Exception as exc:
            self.failed(0, exc)


def open_logger(
    where: str,
    source: str,
    hash_key: str,
    *,
    background: bool = False,
    on_failure: Callable[[int], None] | None = None,
) -> ScoreLogger:
    """The logger of a location (leadgen.stores.score_log.open_sink), its sink reporting the
    records it loses (a part it could not write) as this logger's failures."""
    loggers: list[ScoreLogger] = []
    sink = open_sink(
        where, source, background=background, on_failure=lambda n: loggers[0].failed(n)
    )
    loggers.append(ScoreLogger(sink, source, hash_key, on_failure))
    return loggers[0]
