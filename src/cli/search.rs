//! `triaged search`: the knowledge index searched the way the pipeline does, or scored on a
//! labelled query set.

use std::path::PathBuf;

use clap::Args;

use super::Common;
use crate::config::Secrets;
use crate::knowledge::{KnowledgeIndex, labelled};

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    common: Common,
    #[arg(required_unless_present = "labelled")]
    query: Option<String>,
    /// Best matches per corpus.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Only these corpora (repeatable).
    #[arg(long, value_name = "CORPUS")]
    corpus: Vec<String>,
    #[arg(long, value_name = "FILE", conflicts_with = "query")]
    labelled: Option<PathBuf>,
}

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let mut settings = args.common.load()?;
    settings.knowledge.index_on_start = false;
    let index = KnowledgeIndex::open_configured(&settings, &Secrets::from_env())?;
    if let Some(path) = args.labelled {
        let queries = labelled::load(&path).map_err(anyhow::Error::msg)?;
        print!("{}", labelled::evaluate(&index, &queries)?.to_text());
        return Ok(());
    }
    let matches: Vec<_> = index
        .search(&args.query.unwrap_or_default(), args.k)?
        .into_iter()
        .filter(|m| args.corpus.is_empty() || args.corpus.contains(&m.corpus))
        .collect();
    if matches.is_empty() {
        println!("no matches");
    }
    for m in matches {
        println!(
            "{:.2}  {}  {}  ({})",
            m.score,
            m.id,
            m.title,
            m.source.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
