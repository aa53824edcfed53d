//! S3 Vectors' metadata filter language: the one validator and evaluator of the product.
//!
//! The function checks every filter here before any AWS call (`/search`, `POST
//! /documents/delete`) and evaluates it on metadata already read (ListVectors), since
//! QueryVectors returns at most its topK. The local AWS's evaluator runs the same case file
//! (`shared/filter-cases.json`), so the two cannot drift. Semantics follow the service:
//! - `{"k": v}` is `{"k": {"$eq": v}}`; several keys or operators in one object are ANDed;
//!   `$and`/`$or` take non-empty lists of filters.
//! - Values compare by value: numbers as numbers (`2024` equals `2024.0`), never equal to a
//!   boolean or a string. `$eq`/`$in`/`$startsWith` on a list value match any element; `$ne`/
//!   `$nin` are their negations (true for a missing key).
//! - `$gt`/`$gte`/`$lt`/`$lte` take a number and match numbers only; `$exists` takes a
//!   boolean; `$startsWith` a string.
//! - An empty filter (`{}`) or an empty condition (`{"k": {}}`) is refused: it would match
//!   everything, and deleting everything is its own request.
//! - At most [`MAX_CONSTRAINTS`] constraints (ENHANCED indexes' limit).

use serde_json::{Map, Value};

/// Constraints one filter may hold (ENHANCED indexes refuse more).
pub const MAX_CONSTRAINTS: usize = 100;

const COMPARISONS: [&str; 4] = ["$gt", "$gte", "$lt", "$lte"];

/// A filter that passed [`Filter::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Value);

impl Filter {
    /// Validates `filter`; `non_filterable` keys may not appear in it. `Err` says what is
    /// wrong, in words a user can act on.
    pub fn parse(filter: Value, non_filterable: &[&str]) -> Result<Self, String> {
        let mut constraints = 0;
        check_node(&filter, non_filterable, &mut constraints)?;
        if constraints > MAX_CONSTRAINTS {
            return Err(format!(
                "the filter has {constraints} constraints; the limit is {MAX_CONSTRAINTS}"
            ));
        }
        Ok(Self(filter))
    }

    /// The filter as sent to S3 Vectors.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The filter as sent to S3 Vectors.
    pub fn into_value(self) -> Value {
        self.0
    }

    /// Whether `metadata` matches.
    pub fn matches(&self, metadata: &Map<String, Value>) -> bool {
        node_matches(&self.0, metadata)
    }
}

fn check_node(node: &Value, non_filterable: &[&str], n: &mut usize) -> Result<(), String> {
    let Value::Object(node) = node else {
        return Err("a filter must be a JSON object".into());
    };
    if node.is_empty() {
        return Err("a filter must not be empty (`{}` would match every vector)".into());
    }
    for (key, cond) in node {
        match key.as_str() {
            "$and" | "$or" => {
                let items = cond
                    .as_array()
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| format!("{key} takes a non-empty list of filters"))?;
                for item in items {
                    check_node(item, non_filterable, n)?;
                }
            }
            op if op.starts_with('$') => return Err(format!("unsupported operator {op}")),
            _ if non_filterable.contains(&key.as_str()) => {
                return Err(format!("`{key}` is not filterable"));
            }
            _ => check_condition(key, cond, n)?,
        }
    }
    Ok(())
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn check_condition(key: &str, cond: &Value, n: &mut usize) -> Result<(), String> {
    let Value::Object(ops) = cond else {
        *n += 1;
        return if is_scalar(cond) {
            Ok(())
        } else {
            Err(format!(
                "the condition on `{key}` must be a string, number, boolean or operator object"
            ))
        };
    };
    if ops.is_empty() {
        return Err(format!(
            "the condition on `{key}` is empty (`{{}}` would match every vector)"
        ));
    }
    for (op, arg) in ops {
        *n += 1;
        let ok = match op.as_str() {
            "$eq" | "$ne" => is_scalar(arg),
            "$in" | "$nin" => arg
                .as_array()
                .is_some_and(|l| !l.is_empty() && l.iter().all(is_scalar)),
            "$exists" => arg.is_boolean(),
            "$startsWith" => arg.is_string(),
            op if COMPARISONS.contains(&op) => arg.is_number(),
            other => return Err(format!("unsupported operator {other} on `{key}`")),
        };
        if !ok {
            let wants = match op.as_str() {
                "$eq" | "$ne" => "a string, number or boolean",
                "$in" | "$nin" => "a non-empty list of strings, numbers or booleans",
                "$exists" => "a boolean",
                "$startsWith" => "a string",
                _ => "a number",
            };
            return Err(format!("{op} on `{key}` takes {wants}"));
        }
    }
    Ok(())
}

fn node_matches(node: &Value, metadata: &Map<String, Value>) -> bool {
    let Value::Object(node) = node else {
        return false;
    };
    node.iter().all(|(key, cond)| match key.as_str() {
        "$and" => list(cond).iter().all(|f| node_matches(f, metadata)),
        "$or" => list(cond).iter().any(|f| node_matches(f, metadata)),
        _ => condition(cond, metadata.get(key)),
    })
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// Scalar equality by value: numbers as numbers, never across types.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `$eq`: a list value matches when one of its elements does.
fn equal(value: Option<&Value>, arg: &Value) -> bool {
    match value {
        None => false,
        Some(Value::Array(items)) => items.iter().any(|v| same(v, arg)),
        Some(v) => same(v, arg),
    }
}

fn starts_with(value: Option<&Value>, prefix: &str) -> bool {
    let one = |v: &Value| v.as_str().is_some_and(|s| s.starts_with(prefix));
    match value {
        Some(Value::Array(items)) => items.iter().any(one),
        Some(v) => one(v),
        None => false,
    }
}

fn compare(value: Option<&Value>, op: &str, bound: &Value) -> bool {
    let (Some(v), Some(b)) = (value.and_then(Value::as_f64), bound.as_f64()) else {
        return false;
    };
    match op {
        "$gt" => v > b,
        "$gte" => v >= b,
        "$lt" => v < b,
        _ => v <= b,
    }
}

fn condition(cond: &Value, value: Option<&Value>) -> bool {
    let Value::Object(ops) = cond else {
        return equal(value, cond);
    };
    ops.iter().all(|(op, arg)| match op.as_str() {
        "$eq" => equal(value, arg),
        "$ne" => !equal(value, arg),
        "$in" => list(arg).iter().any(|a| equal(value, a)),
        "$nin" => !list(arg).iter().any(|a| equal(value, a)),
        "$exists" => value.is_some() == (arg == &Value::Bool(true)),
        "$startsWith" => starts_with(value, arg.as_str().unwrap_or_default()),
        op => compare(value, op, arg),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// One line of `filter-cases.json`: the local AWS's tests run the same file.
    #[derive(Deserialize)]
    struct Case {
        filter: Value,
        metadata: Map<String, Value>,
        /// `true`/`false`, or `"invalid"`.
        expected: Value,
    }

    #[test]
    fn the_shared_case_file_passes() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("../filter-cases.json")).expect("case file");
        assert!(cases.len() > 40);
        for case in cases {
            let parsed = Filter::parse(case.filter.clone(), &["text"]);
            match (&case.expected, parsed) {
                (Value::Bool(want), Ok(f)) => assert_eq!(
                    f.matches(&case.metadata),
                    *want,
                    "{} on {:?}",
                    case.filter,
                    case.metadata
                ),
                (Value::String(s), Err(_)) if s == "invalid" => {}
                (want, got) => panic!("{}: expected {want}, got {got:?}", case.filter),
            }
        }
    }

    #[test]
    fn constraint_limit() {
        let many: Map<String, Value> = (0..=MAX_CONSTRAINTS)
            .map(|i| (format!("k{i}"), Value::from(i)))
            .collect();
        let err = Filter::parse(Value::Object(many), &[]).unwrap_err();
        assert!(err.contains("101 constraints"), "{err}");
    }
}
