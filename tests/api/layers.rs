//! The module layering the `lib.rs` Layout doc states: a module may use only modules listed
//! before it, so no module reaches up a layer and there is no import cycle. Every
//! `crate::<module>` path in `src/` is read and checked against that order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The order of `src/lib.rs`, lowest first.
const LAYERS: &[&str] = &[
    "domain",
    "catalog",
    "config",
    "telemetry",
    "redact",
    "store",
    "intake",
    "signals",
    "diagnosis",
    "knowledge",
    "collectors",
    "analysis",
    "memory",
    "notify",
    "pipeline",
    "bench",
    "eval",
    "web",
    "app",
    "demo",
    "cli",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/store/sql.rs` → `store`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("a component")
        .as_os_str()
        .to_string_lossy()
        .to_string();
    first.trim_end_matches(".rs").to_string()
}

/// Every module a file names through `crate::`, including `use crate::{a, b::c}` groups.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    let mut unknown = BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = rank(&module) else {
            unknown.insert(module);
            continue;
        };
        let text = std::fs::read_to_string(file).expect("reading a source file");
        for used in used_modules(&text) {
            if used == module {
                continue;
            }
            match rank(&used) {
                Some(theirs) if theirs > own => upward.push(format!(
                    "{} ({module}) uses crate::{used}, a layer above it",
                    file.strip_prefix(&src).unwrap_or(file).display()
                )),
                Some(_) => {}
                None => {
                    unknown.insert(used);
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS (add them to src/lib.rs's Layout and here): {unknown:?}"
    );
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn the_layer_list_matches_the_modules_lib_rs_declares() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("reading lib.rs");
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let listed: BTreeSet<&str> = LAYERS.iter().copied().collect();
    assert_eq!(declared, listed);
}

#[test]
fn the_checker_sees_grouped_and_nested_paths() {
    let used = used_modules("use crate::{bench, demo::x};\nfn f() { crate::store::Store::x(); }");
    assert_eq!(
        used,
        ["bench", "demo", "store"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}
