"""Property-based tests (hypothesis): lead validation and email normalisation, for any input.

`clean_lead` is the one validation of a lead's columns (API, Lambda, `leadgen score`): whatever
JSON a client sends, it either returns values the scorer can use or refuses with the field named,
never anything else. Email normalisation decides who is a duplicate: it must be a canonical form
(idempotent, blind to case, surrounding space, gmail dots and +tags) and never fail.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadgen.config import ColumnSpec
from leadgen.duplicates.normalise import email_hash, normalise_email
from leadgen.errors import LeadValidationError
from leadgen.serve.body import BodyError, parse_json
from leadgen.serve.schemas import MAX_ABS_NUMBER, MAX_TEXT_CHARS, clean_lead

SPEC = ColumnSpec()
FIELDS = (*SPEC.all_cols, "email", "lead_id", "first_name")
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Anything JSON can carry, plus what Python's json module also yields (huge ints, NaN, infinity)
# and strings with lone surrogates (what a "\ud800" escape decodes to).
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1),
    st.sampled_from(["é" * (MAX_TEXT_CHARS + d) for d in (-1, 0, 1)]),
)
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(), kids, max_size=3)
)
leads = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), json_values, min_size=1)


@SETTINGS
@given(lead=leads, where=st.sampled_from(["", "leads[3]."]))
def test_clean_lead_accepts_usable_values_or_names_the_field(
    lead: dict[str, Any], where: str
) -> None:
    try:
        clean = clean_lead(lead, SPEC, where)
    except LeadValidationError as exc:
        assert exc.field.startswith(where) and exc.field[len(where) :] in lead
        assert exc.reason
        return
    assert set(clean.features) == set(SPEC.all_cols)
    for col in (*SPEC.text_cols, *SPEC.cat_cols):
        value = clean.features[col]
        assert value is None or (isinstance(value, str) and _unicode(value))
    for col in SPEC.num_cols:
        value = clean.features[col]
        assert value is None or (
            isinstance(value, float) and math.isfinite(value) and abs(value) <= MAX_ABS_NUMBER
        )
    for text in (clean.email, clean.lead_id):
        assert text is None or (isinstance(text, str) and _unicode(text))
    if clean.email is not None:
        email_hash(clean.email)  # whatever passed validation can be hashed


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


documented = st.fixed_dictionaries(
    {},
    optional={
        **{c: st.text(max_size=50) | st.none() for c in (*SPEC.text_cols, *SPEC.cat_cols)},
        **{
            c: st.floats(min_value=-1e9, max_value=1e9) | st.integers(-(10**9), 10**9)
            for c in SPEC.num_cols
        },
        "email": st.emails() | st.none(),
    },
)


@SETTINGS
@given(lead=documented)
def test_every_documented_lead_is_accepted_as_sent(lead: dict[str, Any]) -> None:
    clean = clean_lead(lead, SPEC)
    for col, value in lead.items():
        if col in SPEC.num_cols:
            assert clean.features[col] == float(value)
        elif col != "email":
            assert clean.features[col] == value


@SETTINGS
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_parse_json_never_fails_but_with_a_400(body: bytes) -> None:
    try:
        parse_json(body.decode("utf-8", "surrogateescape"))
    except BodyError as exc:
        assert exc.status == 400 and exc.reason


# ---- email normalisation ---------------------------------------------------------------------
local_parts = st.from_regex(r"\A[a-z0-9][a-z0-9._+-]{0,20}\Z")
domains = st.sampled_from(
    ["gmail.com", "googlemail.com", "outlook.com", "example.org", "sub.example.co.uk", "yahoo.com"]
)


@SETTINGS
@given(text=st.text(max_size=60))
def test_normalise_never_fails_and_is_idempotent(text: str) -> None:
    norm = normalise_email(text)
    if norm is None:
        return
    assert norm.count("@") == 1
    local, domain = norm.split("@")
    assert local and "." in domain
    assert normalise_email(norm) == norm
    assert email_hash(norm) == email_hash(text)


@SETTINGS
@given(local=local_parts, domain=domains, pad=st.sampled_from(["", " ", "\t", "  \n"]))
def test_case_and_surrounding_space_do_not_matter(local: str, domain: str, pad: str) -> None:
    email = f"{local}@{domain}"
    assert normalise_email(pad + email.upper() + pad) == normalise_email(email)


@SETTINGS
@given(
    local=st.from_regex(r"\A[a-z0-9]{2,15}\Z"),
    dots=st.lists(st.integers(1, 14), max_size=3),
    tag=st.from_regex(r"\A[a-z0-9]{0,8}\Z"),
)
def test_gmail_dots_and_tags_do_not_matter(local: str, dots: list[int], tag: str) -> None:
    dotted = list(local)
    for i in sorted({d for d in dots if d < len(local)}, reverse=True):
        dotted.insert(i, ".")
    variant = "".join(dotted) + (f"+{tag}" if tag else "")
    for domain in ("gmail.com", "googlemail.com"):
        assert normalise_email(f"{variant}@{domain}") == f"{local}@gmail.com"


@SETTINGS
@given(local=local_parts, other=local_parts)
def test_different_mailboxes_stay_different(local: str, other: str) -> None:
    """Outside providers that ignore them, dots are part of the mailbox; a +tag is not (the
    mail server delivers it to the mailbox before the "+"), but on providers without
    subaddressing, where "+" is part of the mailbox's name."""
    a, b = normalise_email(f"{local}@example.org"), normalise_email(f"{other}@example.org")
    base, other_base = local.split("+", 1)[0], other.split("+", 1)[0]
    if base and other_base:
        assert (a == b) == (base == other_base)
    literal = [normalise_email(f"{x}@gmx.de") for x in (local, other)]
    assert (literal[0] == literal[1]) == (local == other)


# Everything a copy, a web form or an export puts around or inside an address: invisible and
# formatting characters (Unicode Cf), whitespace of any kind, combining accents.
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202a"]
SPACES = [" ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009"]
noise = st.lists(st.sampled_from([*INVISIBLE, *SPACES, "\u0301"]), max_size=3).map("".join)


@SETTINGS
@given(
    local=st.from_regex(r"\A[a-z][a-z0-9._]{0,15}[a-z0-9]\Z"),
    domain=domains,
    cuts=st.lists(st.tuples(st.integers(0, 40), noise), max_size=4),
    wrap=st.sampled_from(["{}", "mailto:{}", "<{}>", "MAILTO:{}", "Jane Doe <{}>", "<mailto:{}>"]),
    wide=st.booleans(),
)
def test_what_copies_add_to_an_address_does_not_matter(
    local: str, domain: str, cuts: list[tuple[int, str]], wrap: str, wide: bool
) -> None:
    """Invisible characters and whitespace anywhere, a combining accent, `mailto:`, angle
    brackets and full-width forms: the same mailbox, so the same hash (API, bulk and build all
    hash through normalise_email)."""
    email = f"{local}@{domain}"
    noisy = email
    for at, junk in sorted(cuts, reverse=True):
        at = min(at, len(noisy))
        noisy = noisy[:at] + junk + noisy[at:]
    if wide:  # full-width forms of ASCII (U+FF01..U+FF5E), as East Asian input methods type
        noisy = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in noisy)
    noisy = wrap.format(noisy)
    assert normalise_email(noisy) == normalise_email(email) is not None
    assert email_hash(noisy, "k") == email_hash(email, "k")
