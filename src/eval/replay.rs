//! `triaged replay`: re-runs analysis on what a live triage stored (its alert, evidence
//! bundle and retrieved knowledge) and shows the stored brief beside the new one.

use anyhow::Context;

use crate::analysis::{Analyst, Brief};
use crate::domain::Alert;
use crate::pipeline::stages;
use crate::store::Store;

/// The stored brief (if any) and a fresh one from `analyst`, on the same stored inputs.
pub async fn replay(
    store: &dyn Store,
    analyst: &Analyst,
    incident_id: &str,
) -> anyhow::Result<(Option<Brief>, Brief)> {
    let alerts = store.alerts_for(incident_id).await?;
    let alert =
        Alert::current(&alerts).with_context(|| format!("incident {incident_id} not found"))?;
    let bundle = store
        .latest_evidence(incident_id)
        .await?
        .with_context(|| format!("incident {incident_id} has no stored evidence bundle"))?;
    let knowledge = store.latest_knowledge(incident_id).await?;
    let old = store
        .latest_brief(incident_id)
        .await?
        .map(|json| Brief::from_stored(incident_id, json))
        .transpose()?;
    let new = stages::analyse(analyst, alert, &bundle, &knowledge).await;
    Ok((old, new))
}

/// Two texts in two columns of `width` characters.
pub fn side_by_side(left: &str, right: &str, width: usize) -> String {
    let wrap = |text: &str| -> Vec<String> {
        let mut lines = Vec::new();
        for line in text.lines() {
            let chars: Vec<char> = line.chars().collect();
            if chars.is_empty() {
                lines.push(String::new());
            }
            for piece in chars.chunks(width) {
                lines.push(piece.iter().collect());
            }
        }
        lines
    };
    let (left, right) = (wrap(left), wrap(right));
    let mut out = String::new();
    for index in 0..left.len().max(right.len()) {
        let l = left.get(index).map_or("", String::as_str);
        let r = right.get(index).map_or("", String::as_str);
        let pad = width.saturating_sub(l.chars().count());
        out.push_str(&format!("{l}{} │ {r}\n", " ".repeat(pad)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_wrap_and_align() {
        let out = side_by_side("abcdef\nx", "1", 4);
        assert_eq!(out, "abcd │ 1\nef   │ \nx    │ \n");
    }
}
