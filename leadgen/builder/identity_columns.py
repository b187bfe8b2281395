"""Which columns of a CRM export say who a person is, by the names CRMs give them.

HubSpot exports "First Name", "Company Name", "Phone Number", "Postal Code"; Salesforce
"FirstName" or "First Name", "Account Name", "MobilePhone", "MailingPostalCode"; Pipedrive
"Person - Name", "Organization - Name", "Person - Phone"; Dynamics "firstname", "telephone1",
"address1_postalcode". `inspect` recognises them and puts them in the build command it suggests
(--first-name-col, ...); the build refuses the personal ones (email, names, phone) as features,
whatever they are called: a feature column's values end up in the version's files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

# field -> spellings, lower-case with spaces for "_" ("first_name" is "first name"), in order of
# preference: the first spelling present is the one suggested.
SPELLINGS: Final[dict[str, tuple[str, ...]]] = {
    "first_name": ("first name", "firstname", "given name", "forename", "contact first name"),
    "last_name": ("last name", "lastname", "surname", "family name", "contact last name"),
    "full_name": (
        "full name", "fullname", "person - name", "person name", "contact name", "name",
    ),
    "company": (
        "company", "company name", "companyname", "account name", "organization - name",
        "organisation - name", "organization", "organisation", "org", "org name", "account",
        "employer",
    ),
    "phone": (
        "phone", "phone number", "telephone1", "telephone", "person - phone", "business phone",
        "work phone", "mobilephone", "mobile phone", "mobile phone number", "mobile",
        "person - mobile", "mobile number",
    ),
    "country": (
        "country", "country/region", "mailing country", "mailingcountry", "billing country",
        "billingcountry", "address1_country", "address1 country", "country region",
    ),
    "street": (
        "street", "street address", "mailing street", "mailingstreet", "billing street",
        "billingstreet", "address1_line1", "address1 line1", "address line 1", "address",
        "address 1", "street address 1",
    ),
    "city": (
        "city", "mailing city", "mailingcity", "billing city", "billingcity", "address1_city",
        "address1 city", "town",
    ),
    "postcode": (
        "postal code", "postcode", "post code", "zip", "zip code", "zipcode",
        "zip/postal code", "mailing zip/postal code", "mailingpostalcode",
        "mailing postal code", "billing zip/postal code", "billingpostalcode",
        "address1_postalcode", "address1 postalcode",
    ),
    "dob": ("birthdate", "date of birth", "dob", "birthday", "birth date"),
}  # fmt: skip
EMAIL_SPELLINGS: Final = ("email", "e-mail", "email address", "person - email", "emailaddress1")
# What issue a feature of these would raise: their values would be stored in the version.
PERSONAL_FIELDS: Final = ("first_name", "last_name", "full_name", "phone")


def spelling(column: str) -> str:
    """A column name as the spellings above write it: lower-case, "_" as a space, spaces single."""
    return re.sub(r"\s+", " ", column.replace("_", " ")).strip().lower()


def detect(names: Sequence[str]) -> dict[str, str]:
    """field -> the export's column for each identity field the export seems to have (each
    column used once); a full name only when there are no first and last names."""
    by_spelling: dict[str, str] = {}
    for name in names:
        by_spelling.setdefault(spelling(name), name)
    found: dict[str, str] = {}
    used: set[str] = set()
    for field, spellings in SPELLINGS.items():
        for s in spellings:
            col = by_spelling.get(spelling(s))
            if col is not None and col not in used:
                found[field] = col
                used.add(col)
                break
    if "first_name" in found and "last_name" in found:
        found.pop("full_name", None)
    return found


def personal(column: str) -> str | None:
    """What a column is when its name says it is personal (an email, a name, a phone), else
    None: "First Name" -> "first_name", "E-mail" -> "email"."""
    name = spelling(column)
    if name in {spelling(s) for s in EMAIL_SPELLINGS}:
        return "email"
    for field in PERSONAL_FIELDS:
        if name in {spelling(s) for s in SPELLINGS[field]}:
            return field
    return None
