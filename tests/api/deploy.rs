//! Deployment artefacts: every manifest parses into its Kubernetes type, the RBAC and IAM
//! grants are read-only, containers are locked down, and the probes hit routes the daemon
//! serves.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PersistentVolumeClaim, PodSpec, Secret, Service,
    ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::Deserialize;
use serde_json::Value;

use crate::helpers::spawn_app;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One parsed manifest document.
#[derive(Debug)]
enum Manifest {
    Namespace(Box<Namespace>),
    ServiceAccount(Box<ServiceAccount>),
    ClusterRole(Box<ClusterRole>),
    ClusterRoleBinding(Box<ClusterRoleBinding>),
    ConfigMap(Box<ConfigMap>),
    Secret(Box<Secret>),
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    Deployment(Box<Deployment>),
    Service(Box<Service>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
}

/// Parses every document of a YAML stream into its typed Kubernetes object.
fn parse_documents(text: &str, origin: &str) -> Vec<Manifest> {
    serde_yaml_ng::Deserializer::from_str(text)
        .filter_map(|document| {
            let value = Value::deserialize(document).unwrap_or_else(|e| panic!("{origin}: {e}"));
            if value.is_null() {
                return None;
            }
            let kind = value["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{origin}: no kind"))
                .to_string();
            let typed = |v: Value| -> Manifest {
                macro_rules! parse {
                    ($variant:ident) => {
                        Manifest::$variant(Box::new(
                            serde_json::from_value(v)
                                .unwrap_or_else(|e| panic!("{origin}: {kind}: {e}")),
                        ))
                    };
                }
                match kind.as_str() {
                    "Namespace" => parse!(Namespace),
                    "ServiceAccount" => parse!(ServiceAccount),
                    "ClusterRole" => parse!(ClusterRole),
                    "ClusterRoleBinding" => parse!(ClusterRoleBinding),
                    "ConfigMap" => parse!(ConfigMap),
                    "Secret" => parse!(Secret),
                    "PersistentVolumeClaim" => parse!(PersistentVolumeClaim),
                    "Deployment" => parse!(Deployment),
                    "Service" => parse!(Service),
                    "PodDisruptionBudget" => parse!(PodDisruptionBudget),
                    other => panic!("{origin}: unexpected kind {other}"),
                }
            };
            Some(typed(value))
        })
        .collect()
}

fn base_manifests() -> Vec<Manifest> {
    let dir = root().join("deploy/kubernetes/base");
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            all.extend(parse_documents(
                &std::fs::read_to_string(&path).unwrap(),
                &name,
            ));
        }
    }
    all
}

/// Renders a kustomization with `kubectl kustomize`. `.ci/run` makes sure kubectl exists;
/// elsewhere a missing kubectl skips the rendering with a printed reason.
fn kustomize(dir: &str) -> Option<Vec<Manifest>> {
    let output = match Command::new("kubectl")
        .arg("kustomize")
        .arg(root().join(dir))
        .output()
    {
        Ok(output) => output,
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED rendering {dir}: kubectl unavailable ({error})");
            return None;
        }
        Err(error) => panic!("CI requires kubectl to render {dir}: {error}"),
    };
    assert!(
        output.status.success(),
        "kustomize {dir}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(parse_documents(
        &String::from_utf8(output.stdout).unwrap(),
        dir,
    ))
}

fn assert_read_only(role: &ClusterRole, origin: &str) {
    let rules = role.rules.as_deref().unwrap_or_default();
    assert!(!rules.is_empty(), "{origin}: no rules");
    for rule in rules {
        for verb in &rule.verbs {
            assert!(
                ["get", "list", "watch"].contains(&verb.as_str()),
                "{origin}: verb {verb} in {rule:?}"
            );
        }
        for resource in rule.resources.as_deref().unwrap_or_default() {
            assert_ne!(resource, "*", "{origin}: wildcard resource");
            assert_ne!(resource, "secrets", "{origin}: secrets are never readable");
        }
    }
}

fn assert_locked_down(pod: &PodSpec, origin: &str) {
    let pod_context = pod.security_context.clone().unwrap_or_default();
    assert_eq!(
        pod_context
            .seccomp_profile
            .as_ref()
            .map(|p| p.type_.as_str()),
        Some("RuntimeDefault"),
        "{origin}: pod seccomp"
    );
    let containers: Vec<&Container> = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
        .collect();
    for container in containers {
        let context = container.security_context.clone().unwrap_or_default();
        let non_root = context.run_as_non_root.or(pod_context.run_as_non_root);
        assert_eq!(
            non_root,
            Some(true),
            "{origin}: {} must run as non-root",
            container.name
        );
        let uid = context.run_as_user.or(pod_context.run_as_user);
        assert!(
            uid.is_some_and(|uid| uid != 0),
            "{origin}: {} has a non-zero uid",
            container.name
        );
        assert_eq!(
            context.read_only_root_filesystem,
            Some(true),
            "{origin}: {} read-only root",
            container.name
        );
        assert_eq!(
            context.allow_privilege_escalation,
            Some(false),
            "{origin}: {}",
            container.name
        );
        let dropped = context
            .capabilities
            .and_then(|c| c.drop)
            .unwrap_or_default();
        assert_eq!(
            dropped,
            vec!["ALL".to_string()],
            "{origin}: {} drops all capabilities",
            container.name
        );
        assert!(
            container
                .resources
                .as_ref()
                .is_some_and(|r| r.limits.is_some() && r.requests.is_some()),
            "{origin}: resources"
        );
    }
}

fn probe_paths(pod: &PodSpec) -> Vec<String> {
    pod.containers
        .iter()
        .flat_map(|c| [&c.liveness_probe, &c.readiness_probe, &c.startup_probe])
        .flatten()
        .filter_map(|probe| probe.http_get.as_ref()?.path.clone())
        .collect()
}

fn check_rendered(manifests: &[Manifest], origin: &str) -> Vec<String> {
    let mut probes = Vec::new();
    let mut roles = Vec::new();
    let mut deployments = Vec::new();
    for manifest in manifests {
        match manifest {
            Manifest::ClusterRole(role) => {
                assert_read_only(role, origin);
                roles.push(role.metadata.name.clone().unwrap());
            }
            Manifest::Deployment(deployment) => {
                let pod = deployment.spec.template.spec.as_ref().unwrap();
                assert_locked_down(pod, origin);
                probes.extend(probe_paths(pod));
                deployments.push(deployment);
            }
            _ => {}
        }
    }
    assert_eq!((roles.len(), deployments.len()), (1, 1), "{origin}");
    assert!(probes.len() >= 2, "{origin}: liveness and readiness probes");
    check_references(manifests, &roles[0], deployments[0], origin);
    probes
}

/// The objects point at each other by the names they really have.
fn check_references(manifests: &[Manifest], role: &str, deployment: &Deployment, origin: &str) {
    let pod_template = &deployment.spec.template;
    let pod = pod_template.spec.as_ref().unwrap();
    let labels = pod_template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let selects_pods = |selector: &std::collections::BTreeMap<String, String>| {
        !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    };
    let claims: Vec<String> = pod
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| Some(v.persistent_volume_claim.as_ref()?.claim_name.clone()))
        .collect();
    let account = pod.service_account_name.clone().unwrap_or_default();
    let mut seen_account = false;
    for manifest in manifests {
        match manifest {
            Manifest::Namespace(namespace) => {
                assert_eq!(
                    namespace.metadata.name.as_deref(),
                    Some("triaged"),
                    "{origin}"
                );
            }
            Manifest::ServiceAccount(sa) => {
                seen_account |= sa.metadata.name.as_deref() == Some(account.as_str());
            }
            Manifest::ClusterRoleBinding(binding) => {
                assert_eq!(
                    binding.role_ref.name, role,
                    "{origin}: binding names the role"
                );
                let subjects = binding.subjects.as_deref().unwrap_or_default();
                assert!(
                    subjects
                        .iter()
                        .all(|s| s.kind == "ServiceAccount" && s.name == account),
                    "{origin}: {subjects:?}"
                );
            }
            Manifest::PersistentVolumeClaim(claim) => {
                let name = claim.metadata.name.clone().unwrap();
                assert!(claims.contains(&name), "{origin}: PVC {name} is mounted");
            }
            Manifest::Service(service) => {
                let selector = service
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.clone())
                    .unwrap_or_default();
                assert!(
                    selects_pods(&selector),
                    "{origin}: Service selects the pods"
                );
            }
            Manifest::PodDisruptionBudget(pdb) => {
                let selector = pdb
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref()?.match_labels.clone())
                    .unwrap_or_default();
                assert!(selects_pods(&selector), "{origin}: PDB selects the pods");
            }
            _ => {}
        }
    }
    assert!(
        seen_account,
        "{origin}: the ServiceAccount {account} exists"
    );
}

async fn assert_served(paths: &[String]) {
    let app = spawn_app().await;
    for path in paths {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "probe path {path} must be served");
    }
}

#[tokio::test]
async fn the_base_manifests_are_typed_read_only_and_locked_down() {
    let manifests = base_manifests();
    let probes = check_rendered(&manifests, "base files");
    assert_served(&probes).await;
    assert!(
        manifests
            .iter()
            .any(|m| matches!(m, Manifest::PersistentVolumeClaim(_)))
    );
    assert!(
        manifests
            .iter()
            .any(|m| matches!(m, Manifest::Namespace(_)))
    );
    // The Secret template carries no values.
    for manifest in &manifests {
        if let Manifest::Secret(secret) = manifest {
            for (key, value) in secret.string_data.iter().flatten() {
                assert!(value.is_empty(), "secret template key {key} must be empty");
            }
        }
    }
}

#[tokio::test]
async fn the_rendered_overlays_are_read_only_and_locked_down() {
    for dir in [
        "deploy/kubernetes/base",
        "deploy/kubernetes/overlays/scale-out",
    ] {
        let Some(manifests) = kustomize(dir) else {
            return;
        };
        let probes = check_rendered(&manifests, dir);
        assert_served(&probes).await;
        assert!(
            !manifests.iter().any(|m| matches!(m, Manifest::Secret(_))),
            "{dir}: no Secret is applied"
        );
    }
    let scale_out = kustomize("deploy/kubernetes/overlays/scale-out").unwrap();
    let deployment = scale_out
        .iter()
        .find_map(|m| match m {
            Manifest::Deployment(d) => Some(d),
            _ => None,
        })
        .unwrap();
    let spec = &deployment.spec;
    assert!(spec.replicas.unwrap() > 1);
    let env = spec.template.spec.as_ref().unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert!(
        env.iter()
            .any(|e| e.name == "TRIAGED__DATABASE__URL" && e.value_from.is_some())
    );
    // Every replica searches one knowledge index on a Qdrant server, and the setting is one
    // the daemon accepts.
    let qdrant = env
        .iter()
        .find(|e| e.name == "TRIAGED__KNOWLEDGE__QDRANT_URL")
        .and_then(|e| e.value.clone())
        .expect("the scale-out overlay points at a Qdrant server");
    assert!(
        qdrant.starts_with("http://") && qdrant.ends_with(":6334"),
        "{qdrant}"
    );
    let settings = figment::Figment::from(figment::providers::Serialized::defaults(
        triaged::config::Settings::default(),
    ))
    .merge(("knowledge.qdrant_url", qdrant.clone()))
    .extract::<triaged::config::Settings>()
    .unwrap();
    assert_eq!(settings.knowledge.qdrant_url, qdrant);
    assert!(
        !scale_out
            .iter()
            .any(|m| matches!(m, Manifest::PersistentVolumeClaim(_)))
    );
}

#[test]
fn the_configmap_carries_the_shipped_config_and_it_loads() {
    let configmap = base_manifests()
        .into_iter()
        .find_map(|m| match m {
            Manifest::ConfigMap(c) => Some(c),
            _ => None,
        })
        .unwrap();
    let data = configmap.data.unwrap();
    let services = std::fs::read_to_string(root().join("config/services.toml")).unwrap();
    assert_eq!(
        data["services.toml"].trim_end(),
        services.trim_end(),
        "ConfigMap and config/services.toml drifted apart"
    );
    let toml = data["triaged.toml"].clone();
    let shipped = std::fs::read_to_string(root().join("config/triaged.toml")).unwrap();
    assert_eq!(
        toml.trim_end(),
        shipped.trim_end(),
        "ConfigMap and config/triaged.toml drifted apart"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &toml).unwrap();
    let settings = triaged::config::Settings::load(Some(file.path())).unwrap();
    assert!(settings.problems().is_empty());
}

#[test]
fn every_iam_action_is_a_describe_get_or_list() {
    let policy: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/aws/iam-policy.json")).unwrap(),
    )
    .unwrap();
    let mut actions = Vec::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        assert!(statement.get("NotAction").is_none());
        actions.extend(
            statement["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string()),
        );
    }
    assert!(!actions.is_empty());
    for action in &actions {
        let (service, verb) = action.split_once(':').unwrap();
        assert!(
            ["cloudwatch", "rds", "pi", "health", "elasticache"].contains(&service),
            "{action}"
        );
        assert!(!verb.contains('*'), "{action}: no wildcards");
        assert!(
            ["Describe", "Get", "List"]
                .iter()
                .any(|p| verb.starts_with(p)),
            "{action}"
        );
    }
}

/// Helm is not installable here, so the chart is checked statically: its values lock the
/// containers down and its ClusterRole (which has no templated rules) is read-only.
#[test]
fn the_helm_chart_defaults_are_read_only_and_locked_down() {
    let chart = root().join("deploy/helm/triaged");
    let values: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap())
            .unwrap();
    let pod: k8s_openapi::api::core::v1::PodSecurityContext =
        serde_json::from_value(values["podSecurityContext"].clone()).unwrap();
    let container: k8s_openapi::api::core::v1::SecurityContext =
        serde_json::from_value(values["securityContext"].clone()).unwrap();
    assert_eq!(pod.run_as_non_root, Some(true));
    assert!(pod.run_as_user.is_some_and(|uid| uid != 0));
    assert_eq!(container.read_only_root_filesystem, Some(true));
    assert_eq!(container.allow_privilege_escalation, Some(false));
    assert_eq!(
        container.capabilities.unwrap().drop.unwrap(),
        vec!["ALL".to_string()]
    );
    assert_eq!(values["probes"]["liveness"]["path"], "/healthz");
    assert_eq!(values["probes"]["readiness"]["path"], "/readyz");

    let template = std::fs::read_to_string(chart.join("templates/clusterrole.yaml")).unwrap();
    let role_document = template.split("\n---\n").next().unwrap();
    let untemplated: String = role_document
        .lines()
        .filter(|line| !line.trim_start().starts_with("{{"))
        .map(|line| strip_template_expressions(line) + "\n")
        .collect();
    let role: ClusterRole = serde_yaml_ng::from_str(&untemplated).unwrap();
    assert_read_only(&role, "helm clusterrole");
    let rules = role.rules.unwrap();
    assert_eq!(rules.len(), 6);
    let resources: Vec<String> = rules
        .iter()
        .flat_map(|r| r.resources.clone().unwrap_or_default())
        .collect();
    for read in [
        "configmaps",
        "controllerrevisions",
        "networkpolicies",
        "certificates",
    ] {
        assert!(resources.iter().any(|r| r == read), "{read}: {resources:?}");
    }
}

fn strip_template_expressions(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        out.push_str("templated");
        rest = rest[start..]
            .find("}}")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    out
}

#[test]
fn the_dockerfile_runs_non_root_and_uses_the_health_route() {
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let user = dockerfile
        .lines()
        .rev()
        .find(|l| l.starts_with("USER "))
        .unwrap();
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    assert!(dockerfile.contains("/healthz"));
    assert!(dockerfile.contains("EXPOSE 8080"));
    assert!(Path::new(&root().join("config/triaged.toml")).exists());
}

#[tokio::test]
async fn the_healthcheck_verb_passes_on_a_live_daemon_and_fails_otherwise() {
    let app = spawn_app().await;
    let healthcheck = |url: String| {
        Command::new(env!("CARGO_BIN_EXE_triaged"))
            .args(["healthcheck", "--url", &url])
            .output()
            .unwrap()
            .status
    };
    let live = format!("{}/healthz", app.base);
    assert!(
        tokio::task::spawn_blocking(move || healthcheck(live))
            .await
            .unwrap()
            .success()
    );
    let dead = "http://127.0.0.1:9/healthz".to_string();
    assert!(
        !tokio::task::spawn_blocking(move || healthcheck(dead))
            .await
            .unwrap()
            .success()
    );
}

/// The IAM policy grants exactly the calls the AWS collector makes: no more, no fewer.
#[test]
fn the_iam_policy_matches_the_aws_collectors_calls_exactly() {
    let source = std::fs::read_to_string(root().join("src/collectors/aws.rs")).unwrap();
    // Every SDK call the collector makes: a client (`self.rds`, or a bound `health`) then an
    // operation named by an AWS verb — reads and writes alike, so a write is caught below.
    let call = regex::Regex::new(
        r"\b(rds|cloudwatch|pi|health|elasticache)\s*\.((?:describe|get|list|put|create|delete|modify|update|start|stop|reboot|failover|test|add|remove|apply|reset|copy|restore)_[a-z_]+)\(\)",
    )
    .unwrap();
    let mut called: Vec<String> = call
        .captures_iter(&source)
        .map(|c| {
            let operation: String = c[2]
                .split('_')
                .map(|word| match word {
                    "db" => "DB".to_string(),
                    w => w[..1].to_uppercase() + &w[1..],
                })
                .collect();
            format!("{}:{operation}", &c[1])
        })
        .collect();
    called.sort();
    called.dedup();
    for operation in &called {
        let name = operation.split(':').nth(1).unwrap_or("");
        assert!(
            ["Describe", "Get", "List"]
                .iter()
                .any(|verb| name.starts_with(verb)),
            "{operation} is not a read"
        );
    }
    let policy: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/aws/iam-policy.json")).unwrap(),
    )
    .unwrap();
    let mut granted: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
        })
        .collect();
    granted.sort();
    assert_eq!(called.len(), 10, "{called:?}");
    assert_eq!(called, granted);
}
