//! The analyst's output: what the LLM must return through the forced `submit_triage` tool and
//! what the rules analyst produces. The JSON Schema is generated from these types and made
//! strict-mode valid (every object closed, every property required, optional = nullable).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{Category, Confidence, Severity};

/// The name of the one tool the model must call.
pub const TOOL_NAME: &str = "submit_triage";

/// What kind of first action; the brief orders rollback before config change before restart.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Rollback,
    ConfigChange,
    Restart,
    Scale,
    Mitigate,
    Investigate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusPageStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RootCause {
    /// One or two sentences: what is failing and why.
    pub statement: String,
    pub category: Category,
    /// The thing at fault, e.g. `deployment/production/game-api` or `rds/prod-postgres-primary`.
    pub entity: String,
    pub confidence: Confidence,
    /// 0 to 1.
    pub score: f64,
    /// Evidence ids the statement rests on.
    pub evidence_ids: Vec<String>,
    /// Knowledge ids (runbooks, post-mortems, Terraform, code) it rests on.
    pub knowledge_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Alternative {
    pub statement: String,
    pub category: Category,
    pub entity: String,
    pub why_less_likely: String,
    pub evidence_ids: Vec<String>,
    pub knowledge_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    pub action: String,
    pub kind: ActionKind,
    /// Shown to the engineer; never executed.
    pub command: Option<String>,
    pub risk: Risk,
    pub expected_outcome: String,
    pub evidence_ids: Vec<String>,
    pub knowledge_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    pub check: String,
    pub holds: bool,
    pub evidence_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DataGap {
    /// The source that was missing or thin.
    pub source: String,
    pub reason: String,
    /// What to gather next.
    pub next_step: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusPageDraft {
    pub title: String,
    pub body: String,
    pub status: StatusPageStatus,
}

/// The analyst's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Triage {
    pub severity: Severity,
    pub summary: String,
    pub affected_services: Vec<String>,
    pub root_cause: RootCause,
    /// At most three.
    pub alternatives: Vec<Alternative>,
    /// Safest first: rollback, then config change, then restart.
    pub actions: Vec<Action>,
    pub confidence_breakdown: Vec<Check>,
    pub data_gaps: Vec<DataGap>,
    /// Id of the matching past incident, if one matches.
    pub past_incident: Option<String>,
    /// For customers: no internal names.
    pub status_page_draft: StatusPageDraft,
    pub escalate: bool,
}

/// The tool's parameters: the JSON Schema of [`Triage`], made valid for strict mode.
pub fn triage_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Triage)).unwrap_or(Value::Null);
    if let Value::Object(root) = &mut schema {
        root.remove("$schema");
        root.remove("title");
    }
    make_strict(&mut schema);
    schema
}

/// Closes every object, requires every property, and drops keywords strict mode rejects.
fn make_strict(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("format");
            map.remove("description");
            if map.get("type").is_some_and(|t| {
                t == "object"
                    || t.as_array()
                        .is_some_and(|a| a.iter().any(|t| t == "object"))
            }) && let Some(Value::Object(properties)) = map.get("properties")
            {
                let required: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
                map.insert("required".into(), Value::Array(required));
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            // schemars writes `const` for single-variant enums and `oneOf` for documented
            // variants; strict mode wants plain `enum` lists.
            if let Some(Value::Array(variants)) = map.get("oneOf").cloned()
                && variants
                    .iter()
                    .all(|v| v.get("const").is_some() || v.get("enum").is_some())
            {
                let mut values = Vec::new();
                for v in variants {
                    match (v.get("const"), v.get("enum")) {
                        (Some(c), _) => values.push(c.clone()),
                        (None, Some(Value::Array(e))) => values.extend(e.iter().cloned()),
                        _ => {}
                    }
                }
                map.remove("oneOf");
                map.insert("type".into(), Value::String("string".into()));
                map.insert("enum".into(), Value::Array(values));
            }
            for child in map.values_mut() {
                make_strict(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(make_strict),
        _ => {}
    }
}

/// Walks a schema and lists every strict-mode rule it breaks (empty when valid).
pub fn strict_violations(schema: &Value) -> Vec<String> {
    fn walk(value: &Value, path: &str, out: &mut Vec<String>) {
        let Value::Object(map) = value else {
            if let Value::Array(items) = value {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), out);
                }
            }
            return;
        };
        if let Some(Value::Object(properties)) = map.get("properties") {
            if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                out.push(format!("{path}: additionalProperties is not false"));
            }
            let required: Vec<&str> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for key in properties.keys() {
                if !required.contains(&key.as_str()) {
                    out.push(format!("{path}.{key}: not required"));
                }
            }
        }
        for keyword in ["format", "oneOf", "allOf", "not", "patternProperties"] {
            if map.contains_key(keyword) {
                out.push(format!("{path}: uses `{keyword}`"));
            }
        }
        for (key, child) in map {
            walk(child, &format!("{path}/{key}"), out);
        }
    }
    let mut out = Vec::new();
    walk(schema, "", &mut out);
    out
}

/// A value is nullable in the schema when its type admits null (`["string","null"]`) or one of
/// its `anyOf` branches is null.
pub fn is_nullable(schema: &Value) -> bool {
    let type_null = |v: &Value| match v.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "null"),
        _ => false,
    };
    type_null(schema)
        || schema
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|branches| branches.iter().any(type_null))
}

/// Properties of an object schema, resolving a `$ref` into `$defs`.
pub fn properties<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Map<String, Value>> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => root.pointer(reference.trim_start_matches('#'))?,
        None => schema,
    };
    schema.get("properties")?.as_object()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_obeys_strict_mode() {
        let schema = triage_schema();
        assert_eq!(
            strict_violations(&schema),
            Vec::<String>::new(),
            "{schema:#}"
        );
        let root = properties(&schema, &schema).unwrap();
        assert!(
            is_nullable(&root["past_incident"]),
            "optional means nullable"
        );
        assert!(!is_nullable(&root["summary"]));
        let actions = &root["actions"]["items"];
        let action = properties(&schema, actions).unwrap();
        assert!(is_nullable(&action["command"]));
        let categories = &schema["$defs"]["Category"]["enum"];
        assert_eq!(categories.as_array().unwrap().len(), 13, "{schema:#}");
        assert!(
            categories
                .as_array()
                .unwrap()
                .contains(&Value::String("deploy_regression".into()))
        );
    }
}
