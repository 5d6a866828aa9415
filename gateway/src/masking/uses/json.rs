//! Reading pg_query's tree in its JSON form (`serde_json::to_value` of the
//! protobuf types): a `Node` is `{"node": {"Kind": {fields}}}`; struct-typed
//! fields (`InsertStmt.relation`, `SelectStmt.larg`) are bare `{fields}`.

use serde_json::{Map, Value};

pub type Obj = Map<String, Value>;

/// The kind and fields of a `Node` wrapper.
pub fn node(v: &Value) -> Option<(&str, &Obj)> {
    let wrapper = v.as_object()?;
    if wrapper.len() != 1 {
        return None;
    }
    let (kind, fields) = wrapper.get("node")?.as_object()?.iter().next()?;
    Some((kind.as_str(), fields.as_object()?))
}

/// The fields of `v` when it is a node of `kind`.
pub fn node_of<'a>(v: &'a Value, kind: &str) -> Option<&'a Obj> {
    node(v).filter(|(k, _)| *k == kind).map(|(_, o)| o)
}

/// A field that is present and not null.
pub fn field<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// A bare struct-typed field.
pub fn object<'a>(obj: &'a Obj, key: &str) -> Option<&'a Obj> {
    field(obj, key)?.as_object()
}

pub fn list<'a>(obj: &'a Obj, key: &str) -> &'a [Value] {
    obj.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn string<'a>(obj: &'a Obj, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

pub fn int(obj: &Obj, key: &str) -> i64 {
    obj.get(key).and_then(Value::as_i64).unwrap_or(0)
}

pub fn boolean(obj: &Obj, key: &str) -> bool {
    obj.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The `sval`s of a list of `String` nodes (names in column lists).
pub fn strings(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|v| node_of(v, "String"))
        .map(|s| string(s, "sval"))
        .collect()
}

/// An identity for a node, stable while the tree lives: where a FROM item
/// is in memory, so both passes can refer to the same item.
pub fn key(obj: &Obj) -> usize {
    obj as *const Obj as usize
}

/// One field of a column reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Name(&'a str),
    Star,
}

/// The fields of a `ColumnRef` (`c.email` → [Name(c), Name(email)]).
pub fn column_ref(obj: &Obj) -> Vec<Field<'_>> {
    list(obj, "fields")
        .iter()
        .map(|f| match node(f) {
            Some(("String", s)) => Field::Name(string(s, "sval")),
            _ => Field::Star,
        })
        .collect()
}

/// An integer constant (`ORDER BY 2`), as a 1-based position.
pub fn ordinal(v: &Value) -> Option<usize> {
    let constant = node_of(v, "AConst")?;
    let ival = object(constant, "val")?.get("Ival")?.as_object()?;
    usize::try_from(int(ival, "ival")).ok()
}

/// A bare `RangeVar` (`InsertStmt.relation`, `CopyStmt.relation`).
pub fn is_bare_range_var(obj: &Obj) -> bool {
    obj.contains_key("relname") && obj.contains_key("inh")
}
