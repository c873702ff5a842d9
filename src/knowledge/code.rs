//! Source code: one chunk per function or method, parsed with tree-sitter for Go, Python,
//! TypeScript/JavaScript and Rust, never split. The symbol is qualified by its type or class
//! (`Queue.Enqueue`, `SessionStore::evict`), and doc comments directly above are kept.

use std::path::Path;

use serde_json::json;
use tree_sitter::{Language, Node, Parser};

use super::chunk::{Chunk, hash};

/// A function longer than this is kept whole in the index but stored cut in the payload.
const MAX_CHARS: usize = 16_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Go,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
}

impl Lang {
    pub fn from_path(path: &Path) -> Option<Self> {
        Some(match path.extension()?.to_str()? {
            "rs" => Self::Rust,
            "go" => Self::Go,
            "py" => Self::Python,
            "js" | "jsx" | "mjs" | "cjs" => Self::JavaScript,
            "ts" | "mts" | "cts" => Self::TypeScript,
            "tsx" => Self::Tsx,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Go => "go",
            Self::Python => "python",
            Self::JavaScript => "javascript",
            Self::TypeScript | Self::Tsx => "typescript",
        }
    }

    fn language(self) -> Language {
        match self {
            Self::Rust => tree_sitter_rust::LANGUAGE.into(),
            Self::Go => tree_sitter_go::LANGUAGE.into(),
            Self::Python => tree_sitter_python::LANGUAGE.into(),
            Self::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Self::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Self::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
        }
    }
}

/// Chunks one source file. `relative` names it inside its corpus root (for ids and titles).
pub fn chunks(path: &Path, relative: &str, text: &str) -> Result<Vec<Chunk>, String> {
    let lang = Lang::from_path(path).ok_or("not a supported source file")?;
    let mut parser = Parser::new();
    parser
        .set_language(&lang.language())
        .map_err(|e| e.to_string())?;
    let tree = parser.parse(text, None).ok_or("the parser gave up")?;
    let mut found = Vec::new();
    walk(lang, tree.root_node(), text, &mut Vec::new(), &mut found);
    let mut out: Vec<Chunk> = Vec::new();
    for (symbol, node) in found {
        let start = doc_start(node);
        let source = &text[start.start_byte()..node.end_byte()];
        let body: String = source.chars().take(MAX_CHARS).collect();
        let mut id = format!("code.{relative}#{symbol}");
        // Overloads and repeated names (Go init, JS handlers) stay distinct.
        let mut n = 2;
        while out.iter().any(|c| c.id == id) {
            id = format!("code.{relative}#{symbol}.{n}");
            n += 1;
        }
        let words = symbol.replace(['.', ':', '_'], " ");
        let text = format!("{relative} {symbol}\n{words}\n{body}");
        let title = format!("{symbol} ({relative})");
        out.push(Chunk {
            hash: hash(&format!("{title}\n{text}")),
            id,
            corpus: "code".into(),
            title,
            source: path.display().to_string(),
            section: vec![relative.to_string(), symbol.clone()],
            line: start.start_position().row + 1,
            text,
            meta: json!({ "language": lang.name(), "symbol": symbol, "file": relative }),
        });
    }
    Ok(out)
}

fn field_text<'a>(node: Node<'_>, field: &str, text: &'a str) -> Option<&'a str> {
    node.child_by_field_name(field)
        .and_then(|n| text.get(n.start_byte()..n.end_byte()))
}

/// Collects (qualified symbol, node) for every function and method; `scope` holds the
/// enclosing type, class or impl names.
fn walk<'t>(
    lang: Lang,
    node: Node<'t>,
    text: &str,
    scope: &mut Vec<String>,
    out: &mut Vec<(String, Node<'t>)>,
) {
    let qualified = |scope: &[String], name: &str, sep: &str| {
        if scope.is_empty() {
            name.to_string()
        } else {
            format!("{}{sep}{name}", scope.join(sep))
        }
    };
    let kind = node.kind();
    let mut pushed = false;
    match (lang, kind) {
        (Lang::Rust, "function_item") => {
            if let Some(name) = field_text(node, "name", text) {
                out.push((qualified(scope, name, "::"), node));
            }
            return;
        }
        (Lang::Rust, "impl_item" | "trait_item") => {
            let name = field_text(node, "type", text).or_else(|| field_text(node, "name", text));
            if let Some(name) = name {
                // `Store<T>` → `Store`: the generic parameters are noise in a symbol.
                let base = name.split('<').next().unwrap_or(name).trim();
                scope.push(base.to_string());
                pushed = true;
            }
        }
        (Lang::Go, "function_declaration") => {
            if let Some(name) = field_text(node, "name", text) {
                out.push((name.to_string(), node));
            }
            return;
        }
        (Lang::Go, "method_declaration") => {
            let name = field_text(node, "name", text).unwrap_or("method");
            let receiver = field_text(node, "receiver", text)
                .map(|r| {
                    r.trim_matches(|c| c == '(' || c == ')')
                        .split_whitespace()
                        .last()
                        .unwrap_or("")
                        .trim_start_matches('*')
                        .split('[')
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .filter(|r| !r.is_empty());
            let symbol = match receiver {
                Some(receiver) => format!("{receiver}.{name}"),
                None => name.to_string(),
            };
            out.push((symbol, node));
            return;
        }
        (Lang::Python, "function_definition") => {
            if let Some(name) = field_text(node, "name", text) {
                // A decorated function starts at its decorator.
                let at = node
                    .parent()
                    .filter(|p| p.kind() == "decorated_definition")
                    .unwrap_or(node);
                out.push((qualified(scope, name, "."), at));
            }
            return;
        }
        (Lang::Python, "class_definition")
        | (
            Lang::JavaScript | Lang::TypeScript | Lang::Tsx,
            "class_declaration" | "class" | "abstract_class_declaration",
        ) => {
            if let Some(name) = field_text(node, "name", text) {
                scope.push(name.to_string());
                pushed = true;
            }
        }
        (
            Lang::JavaScript | Lang::TypeScript | Lang::Tsx,
            "function_declaration" | "generator_function_declaration" | "method_definition",
        ) => {
            if let Some(name) = field_text(node, "name", text) {
                out.push((qualified(scope, name, "."), node));
            }
            return;
        }
        (Lang::JavaScript | Lang::TypeScript | Lang::Tsx, "variable_declarator") => {
            let is_function = node.child_by_field_name("value").is_some_and(|v| {
                matches!(
                    v.kind(),
                    "arrow_function" | "function_expression" | "function"
                )
            });
            if is_function && let Some(name) = field_text(node, "name", text) {
                // The whole `const x = () => …` statement, so `export` and comments come along.
                let at = node
                    .parent()
                    .filter(|p| matches!(p.kind(), "lexical_declaration" | "variable_declaration"))
                    .map(|p| {
                        p.parent()
                            .filter(|e| e.kind() == "export_statement")
                            .unwrap_or(p)
                    })
                    .unwrap_or(node);
                out.push((qualified(scope, name, "."), at));
                return;
            }
        }
        _ => {}
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        walk(lang, child, text, scope, out);
    }
    if pushed {
        scope.pop();
    }
}

/// The first of the comment lines (and attributes/decorators) directly above `node`.
fn doc_start(node: Node<'_>) -> Node<'_> {
    let mut start = node;
    let mut previous = node.prev_sibling();
    while let Some(p) = previous {
        let adjacent = p.end_position().row + 1 >= start.start_position().row;
        let doc = matches!(
            p.kind(),
            "comment" | "line_comment" | "block_comment" | "attribute_item" | "decorator"
        );
        if !(doc && adjacent) {
            break;
        }
        start = p;
        previous = p.prev_sibling();
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols(file: &str, text: &str) -> Vec<(String, usize)> {
        chunks(Path::new(file), file, text)
            .unwrap()
            .into_iter()
            .map(|c| (c.meta["symbol"].as_str().unwrap().to_string(), c.line))
            .collect()
    }

    #[test]
    fn go_functions_and_methods_with_their_receivers() {
        let text = "package queue\n\n// Enqueue adds a player.\nfunc (q *Queue) Enqueue(p Player) error {\n\treturn nil\n}\n\nfunc New() *Queue { return &Queue{} }\n";
        assert_eq!(
            symbols("queue.go", text),
            [("Queue.Enqueue".to_string(), 3), ("New".to_string(), 8)]
        );
    }

    #[test]
    fn python_methods_are_qualified_by_class_and_keep_decorators() {
        let text = "class Encoder:\n    @retry(3)\n    def encode(self, replay):\n        return replay\n\ndef main():\n    pass\n";
        assert_eq!(
            symbols("enc.py", text),
            [("Encoder.encode".to_string(), 2), ("main".to_string(), 6)]
        );
    }

    #[test]
    fn typescript_functions_methods_and_arrow_functions() {
        let text = "export class Router {\n  mount(prefix: string): void {}\n}\n\n/** Looks up a bundle. */\nexport const getBundle = async (id: string) => { return id; };\n\nfunction helper() {}\n";
        assert_eq!(
            symbols("router.ts", text),
            [
                ("Router.mount".to_string(), 2),
                ("getBundle".to_string(), 5),
                ("helper".to_string(), 8)
            ]
        );
        let js = "const handler = function () {};\nclass A { run() {} }\n";
        assert_eq!(
            symbols("a.js", js),
            [("handler".to_string(), 1), ("A.run".to_string(), 2)]
        );
    }

    #[test]
    fn rust_functions_and_impl_methods_keep_doc_comments_and_are_never_split() {
        let body = "    let x = 1;\n".repeat(2000);
        let text = format!(
            "/// Evicts closed sessions.\nimpl<T> SessionStore<T> {{\n    /// Drops one.\n    #[inline]\n    pub fn evict(&mut self) {{\n{body}    }}\n}}\n\nfn free() {{}}\n"
        );
        let chunks = chunks(Path::new("src/store.rs"), "src/store.rs", &text).unwrap();
        assert_eq!(chunks[0].id, "code.src/store.rs#SessionStore::evict");
        assert_eq!(chunks[0].line, 3);
        assert!(chunks[0].text.contains("/// Drops one."));
        assert_eq!(chunks[1].id, "code.src/store.rs#free");
        assert_eq!(chunks.len(), 2, "one chunk per function, however long");
    }
}
