//! `triaged index`: the configured paths plus those given, indexed with a progress bar on a
//! terminal (a log line every few seconds otherwise) and a summary at the end.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use super::Common;
use crate::config::Secrets;
use crate::knowledge::{KnowledgeIndex, Progress};

#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, value_name = "PATH")]
    runbooks: Vec<PathBuf>,
    #[arg(long, value_name = "PATH")]
    postmortems: Vec<PathBuf>,
    #[arg(long, value_name = "PATH")]
    terraform: Vec<PathBuf>,
    #[arg(long, value_name = "PATH")]
    code: Vec<PathBuf>,
    #[arg(long, value_name = "PATH")]
    schema: Vec<PathBuf>,
    paths: Vec<PathBuf>,
}

pub fn run(args: IndexArgs) -> anyhow::Result<()> {
    let settings = args.common.open(|settings| {
        settings.knowledge.index_on_start = false;
        let k = &mut settings.knowledge;
        for path in args.paths.into_iter().flat_map(by_corpus) {
            match corpus_of(&path) {
                "postmortems" => k.postmortems.push(path),
                "terraform" => k.terraform.push(path),
                "code" => k.code.push(path),
                "schema" => k.schema.push(path),
                _ => k.runbooks.push(path),
            }
        }
        k.runbooks.extend(args.runbooks);
        k.postmortems.extend(args.postmortems);
        k.terraform.extend(args.terraform);
        k.code.extend(args.code);
        k.schema.extend(args.schema);
    })?;
    let started = Instant::now();
    let index = KnowledgeIndex::open_configured(&settings, &Secrets::from_env())?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let mut last_log = Instant::now();
    let mut progress = |corpus: &str, p: Progress| {
        let (what, done, total) = match p {
            Progress::Chunking { done, total } => ("chunking", done, total),
            Progress::Writing { done, total } => ("writing", done, total),
        };
        match &bar {
            Some(bar) => {
                bar.set_message(format!("{corpus}: {what}"));
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            None if last_log.elapsed() >= Duration::from_secs(5) => {
                last_log = Instant::now();
                tracing::info!(corpus, what, done, total, "indexing");
            }
            None => {}
        }
    };
    let report = index.index_configured(&settings.knowledge, &mut progress)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for failure in &report.failed {
        eprintln!("skipped {failure}");
    }
    println!(
        "{} files, {} chunks: {} indexed, {} unchanged (skipped), {} deleted, {} files failed, in {:.1} s; {} chunks in the index",
        report.files,
        report.chunks,
        report.indexed,
        report.unchanged,
        report.removed,
        report.failed.len(),
        started.elapsed().as_secs_f64(),
        index.len()
    );
    Ok(())
}

/// A knowledge folder laid out by corpus (`runbooks/`, `postmortems/`, `terraform/`, `code/`,
/// `schema/`) stands for its corpus subfolders; any other path for itself.
fn by_corpus(path: PathBuf) -> Vec<PathBuf> {
    let parts: Vec<PathBuf> = ["runbooks", "postmortems", "terraform", "code", "schema"]
        .iter()
        .map(|corpus| path.join(corpus))
        .filter(|sub| sub.is_dir())
        .collect();
    if parts.is_empty() { vec![path] } else { parts }
}

/// The corpus a path given without a flag belongs to, from its name.
fn corpus_of(path: &Path) -> &'static str {
    let name = path.to_string_lossy().to_lowercase();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if name.contains("postmortem") || name.contains("post-mortem") {
        "postmortems"
    } else if name.contains("terraform") || ext == "tf" {
        "terraform"
    } else if name.contains("schema") || name.contains("metric") {
        "schema"
    } else if name.contains("runbook") || matches!(ext, "md" | "markdown" | "html" | "htm") {
        "runbooks"
    } else if crate::knowledge::code::Lang::from_path(path).is_some()
        || name.ends_with("src")
        || name.contains("/src/")
        || name.contains("code")
    {
        "code"
    } else {
        "runbooks"
    }
}
