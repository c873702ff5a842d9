//! Terraform: one chunk per top-level `resource`, `data` or `module` block, parsed with a real
//! HCL parser (hcl-edit), never split. Each chunk carries the block's address, type, name,
//! file, line and its key attributes, so an alerting RDS instance or parameter group finds the
//! resource that defines it.

use std::path::Path;

use hcl_edit::Span;
use hcl_edit::structure::{Block, Body};
use serde_json::{Map, Value, json};

use super::chunk::{Chunk, hash};

/// Attribute values longer than this are cut in the metadata (the text keeps the whole block).
const ATTRIBUTE_CHARS: usize = 200;

/// Chunks one `.tf` file. `relative` names the file inside its corpus root (for ids and titles).
pub fn chunks(path: &Path, relative: &str, text: &str) -> Result<Vec<Chunk>, String> {
    let body: Body = hcl_edit::parser::parse_body(text).map_err(|e| e.to_string())?;
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut out = Vec::new();
    for block in body.blocks() {
        let kind = block.ident.as_str();
        let labels: Vec<&str> = block.labels.iter().map(|l| l.as_str()).collect();
        let (address, resource_type, name) = match (kind, labels.as_slice()) {
            ("resource", [t, n]) => (format!("{t}.{n}"), Some(*t), *n),
            ("data", [t, n]) => (format!("data.{t}.{n}"), Some(*t), *n),
            ("module", [n]) => (format!("module.{n}"), None, *n),
            _ => continue,
        };
        let span = block.span().unwrap_or(0..0);
        let source = text.get(span.clone()).unwrap_or_default();
        let attributes = key_attributes(block);
        let title = match resource_type {
            Some(t) => format!("{kind} {t} \"{name}\" ({relative})"),
            None => format!("module \"{name}\" ({relative})"),
        };
        // Identifiers read better for BM25 with their parts spelled out as words too.
        let words = address.replace(['_', '.', '-'], " ");
        let body_text = format!("{address}\n{words}\n{source}");
        out.push(Chunk {
            hash: hash(&format!("{title}\n{body_text}")),
            id: format!("terraform.{address}"),
            corpus: "terraform".into(),
            title,
            source: path.display().to_string(),
            section: vec![relative.to_string(), address.clone()],
            line: line_of(span.start),
            text: body_text,
            meta: json!({
                "block": kind,
                "type": resource_type,
                "name": name,
                "address": address,
                "file": relative,
                "attributes": attributes,
            }),
        });
    }
    Ok(out)
}

/// Top-level attributes of a block as text (`max_connections = 100`), nested blocks listed
/// by their identifiers (`parameter { … }`).
fn key_attributes(block: &Block) -> Value {
    let mut map = Map::new();
    for attribute in block.body.attributes() {
        let value: String = attribute
            .value
            .to_string()
            .trim()
            .chars()
            .take(ATTRIBUTE_CHARS)
            .collect();
        map.insert(attribute.key.as_str().to_string(), Value::String(value));
    }
    for nested in block.body.blocks() {
        // Parameter groups keep their parameters as nested blocks: surface name = value.
        let name = nested.body.get_attribute("name");
        let value = nested.body.get_attribute("value");
        if let (Some(name), Some(value)) = (name, value) {
            let key = name.value.to_string().trim().trim_matches('"').to_string();
            map.insert(
                format!("{}.{key}", nested.ident.as_str()),
                Value::String(value.value.to_string().trim().to_string()),
            );
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_data_and_modules_become_whole_chunks_with_their_attributes() {
        let text = r#"
variable "env" { default = "prod" }

resource "aws_db_parameter_group" "profiles_replica" {
  name   = "profiles-replica-pg16"
  family = "postgres16"

  parameter {
    name         = "max_connections"
    value        = "100"
    apply_method = "pending-reboot"
  }
}

data "aws_iam_policy_document" "read" {
  statement { actions = ["rds:Describe*"] }
}

module "leaderboard_cache" {
  source    = "./modules/redis"
  node_type = "cache.r6g.large"
}
"#;
        let chunks = chunks(Path::new("infra/rds.tf"), "rds.tf", text).unwrap();
        let ids: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "terraform.aws_db_parameter_group.profiles_replica",
                "terraform.data.aws_iam_policy_document.read",
                "terraform.module.leaderboard_cache"
            ]
        );
        let pg = &chunks[0];
        assert_eq!(pg.line, 4);
        assert!(
            pg.text
                .contains("apply_method = \"pending-reboot\"\n  }\n}"),
            "{}",
            pg.text
        );
        assert_eq!(pg.meta["attributes"]["name"], "\"profiles-replica-pg16\"");
        assert_eq!(
            pg.meta["attributes"]["parameter.max_connections"],
            "\"100\""
        );
        assert_eq!(pg.meta["type"], "aws_db_parameter_group");
        assert_eq!(
            chunks[2].meta["attributes"]["source"],
            "\"./modules/redis\""
        );
    }

    #[test]
    fn invalid_hcl_is_an_error_not_a_partial_index() {
        assert!(chunks(Path::new("x.tf"), "x.tf", "resource \"a\" {").is_err());
    }
}
