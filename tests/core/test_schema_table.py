"""`necto_nb.har.schema` is the HAR JSON Schema's type table, derived again here so it cannot drift.

`python -m tests.core.test_schema_table` prints the table derived from the schema files, for
pasting into `necto_nb/har/schema.py` when the schema changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from necto_nb.har import model, schema
from necto_nb.har.schema import Field

#: postData.json describes its params inline (on the array, as HAR 1.2's "param" object).
INLINE = {("postData", "params"): "param"}


def derive(folder: Path) -> dict[str, dict[str, Field]]:
    """Every object the schema files define, each field's JSON types, and what is required."""
    objects: dict[str, dict[str, Field]] = {}

    def add(name: str, spec: dict) -> None:
        required = set(spec.get("required", ()))
        fields = {}
        for key, prop in spec["properties"].items():
            fields[key] = field(name, key, prop, key in required)
        objects[name] = fields

    def field(owner: str, key: str, prop: dict, required: bool) -> Field:
        types, of, formats = list(_types(prop.get("type"))), None, ()
        for choice in prop.get("oneOf", ()):
            types += [t for t in _types(choice.get("type")) if t not in types]
            if "format" in choice:
                formats += (choice["format"],)
            if "$ref" in choice:
                types.append("object")
                of = _ref(choice["$ref"])
        if "$ref" in prop:
            types, of = ["object"], _ref(prop["$ref"])
        elif "$ref" in prop.get("items", {}):
            of = _ref(prop["items"]["$ref"])
        elif (owner, key) in INLINE:
            of = INLINE[owner, key]
            add(of, prop)
        if "format" in prop:
            formats = (prop["format"],)
        return Field(tuple(types), required, of, formats, prop.get("pattern"), prop.get("min"))

    for path in sorted(folder.glob("*.json")):
        spec = json.loads(path.read_text())
        if path.stem != "har":
            add(path.stem, spec)
    return objects


def _types(value) -> tuple[str, ...]:
    return () if value is None else (value,) if isinstance(value, str) else tuple(value)


def _ref(ref: str) -> str:
    return ref.removesuffix(".json#")


def test_the_table_is_the_schemas(corpus):
    derived = derive(corpus / "schema")
    assert sorted(derived) == sorted(schema.OBJECTS)
    for name, fields in derived.items():
        assert schema.OBJECTS[name] == fields, f"{name}: run `python -m tests.core.test_schema_table`"


def test_every_object_har_1_2_defines_is_there():
    assert set(schema.OBJECTS) == {
        "log", "creator", "browser", "page", "pageTimings", "entry", "request", "response", "cookie", "header",
        "query", "postData", "param", "content", "cache", "beforeRequest", "afterRequest", "timings"}


#: The typed check's type for each object of an entry (the log, its pages and their parts are
#: small and always go through the repair).
TYPED = {"entry": model.Entry, "request": model.Request, "response": model.Response, "cookie": model.Cookie,
         "header": model.NameValue, "query": model.NameValue, "postData": model.PostData, "param": model.Param,
         "content": model.Content, "cache": model.Cache, "beforeRequest": model.CacheState,
         "afterRequest": model.CacheState, "timings": model.Timings}


def test_the_typed_check_has_every_field_of_every_entry_object():
    for name, typed in TYPED.items():
        names = {f.encode_name for f in msgspec.structs.fields(typed)}
        assert set(schema.OBJECTS[name]) <= names, f"model.{typed.__name__} lacks {set(schema.OBJECTS[name]) - names}"
        required = {f.encode_name for f in msgspec.structs.fields(typed) if f.required}
        assert required == {k for k, f in schema.OBJECTS[name].items() if f.required}, name


if __name__ == "__main__":
    from tests.conftest import CORPUS

    names = {repr(schema._CACHE_DATE): "_CACHE_DATE", repr(schema._START): "_START"}  # long patterns, named once
    print("OBJECTS: dict[str, dict[str, Field]] = {")
    for name, fields in derive(CORPUS / "schema").items():
        print(f"    {name!r}: {{")
        for key, f in fields.items():
            text = repr(f)
            for pattern, short in names.items():
                text = text.replace(pattern, short)
            print(f"        {key!r}: {text},")
        print("    },")
    print("}")
