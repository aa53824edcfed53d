//! S3 Vectors' metadata filter language, evaluated on metadata already read (ListVectors):
//! `POST /documents/delete` finds every matching chunk this way, since QueryVectors returns
//! at most its topK. Semantics follow the service: `{"k": v}` is `$eq`; several keys or
//! operators are ANDed; `$and`/`$or` take lists; `$eq`/`$in` on a list value match any
//! element; `$ne`/`$nin` are their negations (true for a missing key); `$gt`/`$gte`/`$lt`/
//! `$lte` compare numbers only; `$exists` takes a boolean; `$startsWith` a string prefix.

use serde_json::{Map, Value};

/// Whether `metadata` matches `filter`; `Err` names what is malformed.
pub fn matches(filter: &Value, metadata: &Map<String, Value>) -> Result<bool, String> {
    let Value::Object(node) = filter else {
        return Err("a filter must be a JSON object".into());
    };
    for (key, cond) in node {
        let ok = match key.as_str() {
            "$and" => all_of(cond, metadata, true)?,
            "$or" => all_of(cond, metadata, false)?,
            op if op.starts_with('$') => return Err(format!("unsupported operator {op}")),
            _ => condition(cond, metadata.get(key))?,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn all_of(list: &Value, metadata: &Map<String, Value>, and: bool) -> Result<bool, String> {
    let Value::Array(items) = list else {
        return Err("$and/$or take a list of filters".into());
    };
    if items.is_empty() {
        return Err("$and/$or take a non-empty list".into());
    }
    let mut any = false;
    for item in items {
        let ok = matches(item, metadata)?;
        if and && !ok {
            return Ok(false);
        }
        any |= ok;
    }
    Ok(and || any)
}

fn equal(value: Option<&Value>, arg: &Value) -> bool {
    match value {
        None => false,
        Some(Value::Array(items)) => items.contains(arg),
        Some(v) => v == arg,
    }
}

fn number(v: &Value, op: &str) -> Result<f64, String> {
    v.as_f64().ok_or_else(|| format!("{op} takes a number"))
}

fn condition(cond: &Value, value: Option<&Value>) -> Result<bool, String> {
    let Value::Object(ops) = cond else {
        return Ok(equal(value, cond));
    };
    for (op, arg) in ops {
        let list = || arg.as_array().ok_or_else(|| format!("{op} takes a list"));
        let ok = match op.as_str() {
            "$eq" => equal(value, arg),
            "$ne" => !equal(value, arg),
            "$in" => list()?.iter().any(|a| equal(value, a)),
            "$nin" => !list()?.iter().any(|a| equal(value, a)),
            "$exists" => value.is_some() == arg.as_bool().ok_or("$exists takes a boolean")?,
            "$startsWith" => {
                let prefix = arg.as_str().ok_or("$startsWith takes a string")?;
                value
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.starts_with(prefix))
            }
            "$gt" | "$gte" | "$lt" | "$lte" => {
                let bound = number(arg, op)?;
                match value.and_then(Value::as_f64) {
                    None => false,
                    Some(v) => match op.as_str() {
                        "$gt" => v > bound,
                        "$gte" => v >= bound,
                        "$lt" => v < bound,
                        _ => v <= bound,
                    },
                }
            }
            other => return Err(format!("unsupported operator {other}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta() -> Map<String, Value> {
        match json!({"ticker": "TSLA", "year": 2024, "tags": ["ev", "auto"], "source": "notes/a.md"})
        {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn check(filter: Value) -> bool {
        matches(&filter, &meta()).unwrap()
    }

    #[test]
    fn operators_match_like_s3_vectors() {
        assert!(check(json!({"ticker": "TSLA"})));
        assert!(!check(json!({"ticker": "AMZN"})));
        assert!(
            check(json!({"tags": "ev"})),
            "$eq on a list matches any element"
        );
        assert!(check(json!({"year": {"$gte": 2024, "$lt": 2025}})));
        assert!(!check(json!({"year": {"$gt": 2024}})));
        assert!(check(json!({"ticker": {"$in": ["AMZN", "TSLA"]}})));
        assert!(check(json!({"ticker": {"$nin": ["AMZN"]}})));
        assert!(
            check(json!({"missing": {"$ne": 1}})),
            "$ne is true for a missing key"
        );
        assert!(check(json!({"missing": {"$exists": false}})));
        assert!(check(json!({"source": {"$startsWith": "notes/"}})));
        assert!(check(json!({"$or": [{"ticker": "AMZN"}, {"year": 2024}]})));
        assert!(!check(
            json!({"$and": [{"ticker": "TSLA"}, {"year": 1999}]})
        ));
        assert!(
            !check(json!({"ticker": "TSLA", "year": 1999})),
            "keys are ANDed"
        );
        assert!(!check(json!({"ticker": {"$gt": 1}})), "numbers only");
    }

    #[test]
    fn malformed_filters_are_errors() {
        for bad in [
            json!([1]),
            json!({"$nope": 1}),
            json!({"a": {"$in": 3}}),
            json!({"$or": []}),
            json!({"a": {"$exists": "yes"}}),
            json!({"a": {"$gt": "x"}}),
        ] {
            assert!(matches(&bad, &meta()).is_err(), "{bad}");
        }
    }
}
