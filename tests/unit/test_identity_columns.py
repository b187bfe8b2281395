"""The export's identity columns by their own names, the rows that are customers, and the personal
columns the build refuses as features (their values would be stored in the version)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadgen.builder.reader import read_crm
from leadgen.config import ColumnSpec, CustomerRule, HighValueRule, IdentityColumns, KeyColumns
from leadgen.errors import InputError

HEADER = "Person - ID,Person - Name,E-mail,Org,Notes,Seats,Deal - Status,Stage"
KEYS = KeyColumns(id="Person - ID", email="E-mail")
RULE = HighValueRule(column="Deal - Status", values=("won",))


def export(tmp_path: Path) -> Path:
    """A Pipedrive-like export: a full name, an organisation, a deal status and a stage."""
    names = ["Jane Q. Doe", "Doe, John", "Dr. Jan van der Berg", "Madonna"]
    rows = [
        f'{i},"{names[i % 4]}",p{i}@x{i}.example,Org {i},note {i % 5},{i % 9},'
        f"{('won', 'lost', 'open')[i % 3]},{('customer', 'sql', 'lead')[i % 3]}"
        for i in range(60)
    ]
    path = tmp_path / "persons.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n")
    return path


def test_a_full_name_column_is_split_into_first_and_last(tmp_path: Path) -> None:
    who = IdentityColumns(full_name="Person - Name", company="Org")
    table = read_crm(str(export(tmp_path)), ColumnSpec(("Notes",), (), ("Seats",)), RULE, KEYS,
                     who=who)  # fmt: skip
    assert table.identity_cols == {"full_name": "Person - Name", "company": "Org"}
    firsts, lasts = table.identity["first_name"][:4], table.identity["last_name"][:4]
    assert list(zip(firsts, lasts, strict=True)) == [
        ("Jane", "Doe"), ("John", "Doe"), ("Jan", "van der Berg"), ("Madonna", None),
    ]  # fmt: skip


def test_customers_by_a_stage_column_or_by_the_stage_label(tmp_path: Path) -> None:
    spec = ColumnSpec(("Notes",), (), ("Seats",))
    by_stage = read_crm(str(export(tmp_path)), spec, RULE, KEYS,
                        customers=CustomerRule("Stage", ("Customer",)))  # fmt: skip
    assert by_stage.customer is not None and by_stage.stage is not None
    assert by_stage.customer.tolist()[:3] == [True, False, False]
    assert by_stage.stage[:3] == ["customer", "sql", "lead"]
    by_label = read_crm(str(export(tmp_path)), spec, RULE, KEYS)  # the label is a stage
    assert by_label.customer is not None and by_label.customer.tolist()[:3] == [True, False, False]
    assert by_label.stage is not None and by_label.stage[:3] == ["won", "lost", "open"]
    flag = read_crm(str(export(tmp_path)), spec, HighValueRule(column="Seats", quantile=0.5), KEYS)
    assert flag.customer is None and flag.stage is None  # a value column: every row a customer


@pytest.mark.parametrize(
    ("spec", "who", "column"),
    [
        (ColumnSpec(("Notes",), ("E-mail",), ()), IdentityColumns(), "E-mail"),
        (ColumnSpec(("Person - Name",), (), ()), IdentityColumns(), "Person - Name"),
        (ColumnSpec(("Notes", "Org"), (), ()), IdentityColumns(full_name="Org"), "Org"),
    ],
)
def test_personal_columns_are_refused_as_features(
    tmp_path: Path, spec: ColumnSpec, who: IdentityColumns, column: str
) -> None:
    with pytest.raises(InputError) as exc:
        read_crm(str(export(tmp_path)), spec, RULE, KEYS, who=who)
    assert repr(column) in str(exc.value) and "cannot be a feature" in str(exc.value)
    assert "p1@x1" not in str(exc.value)  # no value of the column in the message


def test_a_configured_identity_column_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        read_crm(str(export(tmp_path)), ColumnSpec(("Notes",), (), ()), RULE, KEYS,
                 who=IdentityColumns(postcode="Postal Code"))  # fmt: skip
    assert "'Postal Code'" in str(exc.value) and "--postcode-col" in str(exc.value)
