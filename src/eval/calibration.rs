//! Fitting the confidence calibration: the probability a rules brief names the real cause,
//! per confidence level, from how often briefs of that level were right on a labelled suite.
//! Each level starts from its design value (LOW 0.4, MEDIUM 0.7, HIGH 0.85) as a prior worth
//! [`PRIOR_BRIEFS`] briefs, so a small suite that is always right moves the value up without
//! claiming certainty. Also reports how raw hypothesis scores fared (every hypothesis, the
//! wrong runners-up with the right winners), which is why the level, not the raw score, is
//! calibrated: runners-up reach the same raw scores as winners.

use serde::Serialize;

use super::Scorecard;
use crate::diagnosis::DESIGN_PROBABILITY;
use crate::domain::Confidence;

/// How many briefs the design value of a level counts for.
pub const PRIOR_BRIEFS: f64 = 10.0;

/// One level's fit.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LevelFit {
    pub confidence: Confidence,
    pub briefs: usize,
    pub right: usize,
    pub prior: f64,
    pub fitted: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fit {
    pub levels: Vec<LevelFit>,
    /// Raw score bin → (hypotheses, right), over every tested hypothesis.
    pub raw_bins: Vec<(f64, usize, usize)>,
}

/// The posterior mean of a level's accuracy: `(prior · PRIOR_BRIEFS + right) / (PRIOR_BRIEFS
/// + briefs)`.
pub fn fitted(prior: f64, briefs: usize, right: usize) -> f64 {
    (prior * PRIOR_BRIEFS + right as f64) / (PRIOR_BRIEFS + briefs as f64)
}

/// Only briefs whose root cause is the top tested hypothesis are fitted: `no_fault` and
/// `unknown` verdicts keep their own fixed scores.
pub fn fit_scorecard(scorecard: &Scorecard) -> Fit {
    let hypothesis_briefs: Vec<_> = scorecard
        .results
        .iter()
        .filter(|r| !matches!(r.category.as_str(), "no_fault" | "unknown"))
        .collect();
    let levels = DESIGN_PROBABILITY
        .iter()
        .map(|(confidence, prior)| {
            let at: Vec<_> = hypothesis_briefs
                .iter()
                .filter(|r| r.confidence == *confidence)
                .collect();
            let right = at.iter().filter(|r| r.hit).count();
            LevelFit {
                confidence: *confidence,
                briefs: at.len(),
                right,
                prior: *prior,
                fitted: fitted(*prior, at.len(), right),
            }
        })
        .collect();
    let raw_bins = (0..10)
        .filter_map(|i| {
            let low = i as f64 / 10.0;
            let inside: Vec<bool> = scorecard
                .results
                .iter()
                .flat_map(|r| &r.hypotheses)
                .filter(|h| h.raw >= low && (h.raw < low + 0.1 || i == 9))
                .map(|h| h.right)
                .collect();
            (!inside.is_empty()).then(|| (low, inside.len(), inside.iter().filter(|r| **r).count()))
        })
        .collect();
    Fit { levels, raw_bins }
}

impl Fit {
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "calibration fit (prior worth {PRIOR_BRIEFS} briefs)\n\
             level     briefs  right  prior  fitted\n"
        );
        for l in &self.levels {
            out.push_str(&format!(
                "  {:<8}{:>6}{:>7}{:>7.2}{:>8.3}\n",
                l.confidence.as_str(),
                l.briefs,
                l.right,
                l.prior,
                l.fitted
            ));
        }
        out.push_str("raw hypothesis score  hypotheses  right\n");
        for (low, n, right) in &self.raw_bins {
            out.push_str(&format!("  {low:.1}–{:.1}{:>22}{right:>7}\n", low + 0.1, n));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_moves_from_its_design_value_by_the_evidence() {
        assert!(
            (fitted(0.7, 0, 0) - 0.7).abs() < 1e-9,
            "no data: the design value"
        );
        assert!((fitted(0.7, 10, 10) - 0.85).abs() < 1e-9);
        assert!((fitted(0.7, 10, 5) - 0.6).abs() < 1e-9);
        assert!(fitted(0.85, 1000, 1000) < 1.0);
    }
}
