//! The one entity grammar every layer speaks (signals, hypotheses, the prompt, validation,
//! evaluation):
//!
//! `deployment|statefulset|daemonset/<namespace>/<name>`, `cronjob/<namespace>/<name>`,
//! `pod/<namespace>/<name>`, `node/<name>`, `az/<name>`, `rds/<id>`, `elasticache/<id>`,
//! `zone/<name>` (a Cloudflare zone; `cloudflare_zone/<id>` is the same thing),
//! `certificate/<host>`, `external/<name>` and `service/<name>`. A bare name is a service.

/// Entity kinds the grammar knows, with their aliases.
const ALIASES: [(&str, &str); 4] = [
    ("cloudflare_zone", "zone"),
    ("deploy", "deployment"),
    ("db", "rds"),
    ("cert", "certificate"),
];

/// The canonical spelling: trimmed, lowercase, the kind's alias resolved, a bare name read as
/// `service/<name>`.
pub fn canonical(entity: &str) -> String {
    let entity = entity.trim().trim_matches('`').to_lowercase();
    match entity.split_once('/') {
        None if entity.is_empty() => entity,
        None => format!("service/{entity}"),
        Some((kind, rest)) => {
            let kind = ALIASES
                .iter()
                .find(|(alias, _)| *alias == kind)
                .map_or(kind, |(_, canonical)| canonical);
            format!("{kind}/{}", rest.trim_matches('/'))
        }
    }
}

/// Whether two spellings name the same entity.
pub fn same(a: &str, b: &str) -> bool {
    canonical(a) == canonical(b)
}

/// The entity's name: the last segment (`deployment/ns/api` → `api`).
pub fn name(entity: &str) -> &str {
    entity.trim().rsplit('/').next().unwrap_or(entity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_entity_are_equal() {
        assert!(same("paygate", "service/paygate"));
        assert!(same(" Service/PayGate ", "paygate"));
        assert!(same("cloudflare_zone/5c1f", "zone/5c1f"));
        assert!(same("deployment/prod/api", "deploy/prod/api"));
        assert!(!same("deployment/prod/api", "api"));
        assert!(!same("rds/orders", "rds/orders-replica"));
        assert_eq!(name("deployment/prod/api"), "api");
        assert_eq!(canonical(""), "");
    }
}
