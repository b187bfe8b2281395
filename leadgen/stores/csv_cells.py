"""Columns a CSV cannot hold as they are: lists, structs and maps (a parquet lead file may have
them: tags, addresses), written as one JSON text cell each rather than refused.

A bulk run keeps every column of the lead file in its output; pyarrow's CSV writer refuses nested
types outright, which failed the run after scoring. JSON keeps the values readable and parseable
(`json.loads` of the cell gives them back), and a parquet output keeps them nested as they were.
"""

from __future__ import annotations

import json
from typing import Any


def nested(type_: Any) -> bool:
    import pyarrow as pa

    t = pa.types
    return bool(
        t.is_list(type_)
        or t.is_large_list(type_)
        or t.is_fixed_size_list(type_)
        or t.is_struct(type_)
        or t.is_map(type_)
        or t.is_union(type_)
    )


def csv_schema(schema: Any) -> Any:
    """`schema` with every nested column as text."""
    import pyarrow as pa

    fields = [pa.field(f.name, pa.string()) if nested(f.type) else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def csv_batch(batch: Any) -> Any:
    """`batch` with every nested column as JSON text (null stays null)."""
    import pyarrow as pa

    if not any(nested(f.type) for f in batch.schema):
        return batch
    columns = [_as_json(col) if nested(col.type) else col for col in batch.columns]
    return pa.record_batch(columns, schema=csv_schema(batch.schema))


def _as_json(column: Any) -> Any:
    import pyarrow as pa

    cells = [
        None if v is None else json.dumps(v, default=str, ensure_ascii=False)
        for v in column.to_pylist()
    ]
    return pa.array(cells, pa.string())
