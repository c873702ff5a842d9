//! Server-rendered HTML: the incident list, one incident's whole story (brief, cited evidence
//! with sparklines, knowledge, source reports, stage timeline, model usage, alerts,
//! feedback), knowledge search and the evaluation scorecard. Everything is escaped by maud.
//! When `TRIAGED_API_TOKEN` is set the pages need it: as a bearer header, or through the
//! login form, which sets an http-only session cookie derived from the token.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::DateTime;
use hmac::{Hmac, Mac};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::analysis::{Brief, UnreadableBrief};
use crate::domain::{EvidenceItem, IncidentDetail, IncidentStatus};
use crate::eval::Scorecard;
use crate::intake::auth::check_bearer;
use crate::store::IncidentFilter;

const SESSION_COOKIE: &str = "triaged_session";

const CSS: &str = r#"
:root{--bg:#101418;--fg:#e6e6e6;--dim:#9aa4ad;--card:#182028;--accent:#5fb3f9;--bad:#ff6b6b;--ok:#5ad17a;--warn:#f5c451}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:.8rem 1.2rem;border-bottom:1px solid #2a343e;display:flex;gap:1.2rem;align-items:center}
header a{color:var(--fg);text-decoration:none;font-weight:600}main{padding:1rem 1.2rem;max-width:1100px;margin:auto}
a{color:var(--accent)}table{width:100%;border-collapse:collapse}td,th{padding:.35rem .5rem;border-bottom:1px solid #26303a;text-align:left;vertical-align:top}
th{color:var(--dim);font-weight:500}.card{background:var(--card);border-radius:8px;padding:.8rem 1rem;margin:.8rem 0}
.dim{color:var(--dim)}.pill{display:inline-block;padding:0 .45rem;border-radius:9px;background:#26303a;font-size:.85em}
.SEV1{background:var(--bad);color:#000}.SEV2{background:#ff9f43;color:#000}.SEV3{background:var(--warn);color:#000}.resolved{background:var(--ok);color:#000}
pre{white-space:pre-wrap;background:#0c1014;padding:.5rem;border-radius:6px;overflow-x:auto}
.ev{scroll-margin-top:1rem}.ev:target{outline:2px solid var(--accent)}form.inline{display:flex;gap:.5rem;flex-wrap:wrap}
input,select,button{background:#0c1014;color:var(--fg);border:1px solid #2a343e;border-radius:6px;padding:.3rem .5rem}
svg.spark{vertical-align:middle}@media(max-width:640px){td,th{padding:.25rem}.hide-sm{display:none}}
"#;

fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · triaged" }
                    style { (PreEscaped(CSS)) }
                }
                body {
                    header {
                        a href="/" { "triaged" }
                        a href="/" { "Incidents" }
                        a href="/knowledge" { "Knowledge" }
                        a href="/eval" { "Evaluation" }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// The session cookie value: derived from the token, so the token itself never sits in a
/// cookie and rotating the token logs everyone out.
fn session_value(token: &SecretString) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(b"triaged page session v1");
    hex::encode(mac.finalize().into_bytes())
}

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(token) = &state.secrets.api_token else {
        return true;
    };
    if check_bearer(headers, token).is_ok() {
        return true;
    }
    let expected = session_value(token);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(&format!("{SESSION_COOKIE}=")))
        .any(|value| bool::from(value.as_bytes().ct_eq(expected.as_bytes())))
}

fn login_page(status: StatusCode, message: &str) -> Response {
    let body = page(
        "Sign in",
        html! {
            h1 { "Sign in" }
            p.dim { (message) }
            form.inline method="post" action="/login" {
                input type="password" name="token" placeholder="TRIAGED_API_TOKEN" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    );
    (status, body).into_response()
}

/// Guards a page: the 401 login form when the token is set and not presented.
fn denied(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    (!authorized(state, headers))
        .then(|| login_page(StatusCode::UNAUTHORIZED, "These pages need the API token."))
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login_form() -> Response {
    login_page(StatusCode::OK, "Enter the API token to read incidents.")
}

pub async fn login(State(state): State<AppState>, Form(form): Form<LoginForm>) -> Response {
    let Some(token) = &state.secrets.api_token else {
        return Redirect::to("/").into_response();
    };
    if !bool::from(
        form.token
            .as_bytes()
            .ct_eq(token.expose_secret().as_bytes()),
    ) {
        return login_page(StatusCode::UNAUTHORIZED, "That token is not right.");
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=43200",
        session_value(token)
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    severity: Option<String>,
    category: Option<String>,
    confidence: Option<String>,
}

fn clock(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map_or("?".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// The stored brief, if there is one; one that does not decode is an error the page shows.
fn brief_of(incident_id: &str, stored: Option<&Value>) -> Option<Result<Brief, UnreadableBrief>> {
    stored.map(|json| Brief::from_stored(incident_id, json.clone()))
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    if let Some(response) = denied(&state, &headers) {
        return Ok(response);
    }
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<IncidentStatus>)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let incidents = state
        .store
        .list_incidents(&IncidentFilter { status, limit: 200 })
        .await?;
    let mut rows = Vec::new();
    for incident in incidents {
        let brief = brief_of(
            &incident.id,
            state.store.latest_brief(&incident.id).await?.as_ref(),
        )
        .and_then(Result::ok);
        let severity = brief.as_ref().map(|b| format!("{:?}", b.triage.severity));
        let category = brief
            .as_ref()
            .map(|b| b.triage.root_cause.category.as_str().to_string());
        let confidence = brief
            .as_ref()
            .map(|b| b.triage.root_cause.confidence.as_str().to_string());
        let keep = |wanted: &Option<String>, have: &Option<String>| {
            wanted
                .as_deref()
                .filter(|w| !w.is_empty())
                .is_none_or(|w| have.as_deref() == Some(w))
        };
        if keep(&q.severity, &severity)
            && keep(&q.category, &category)
            && keep(&q.confidence, &confidence)
        {
            rows.push((
                incident,
                severity,
                category,
                confidence,
                brief.map(|b| b.analyst),
            ));
        }
    }
    let select = |name: &str, options: &[&str], current: &Option<String>| {
        html! {
            select name=(name) {
                option value="" { (name) ": any" }
                @for option in options {
                    option value=(option) selected[current.as_deref() == Some(*option)] { (option) }
                }
            }
        }
    };
    let body = html! {
        h1 { "Incidents" }
        form.inline method="get" action="/" {
            (select("status", &["open", "acknowledged", "resolved"], &q.status))
            (select("severity", &["SEV1", "SEV2", "SEV3", "SEV4"], &q.severity))
            (select("category", &["deploy_regression", "config_change", "resource_saturation", "dependency_failure", "traffic_spike", "ddos_or_abuse", "infrastructure_failure", "data_growth", "scheduled_job", "network", "certificate_or_auth", "no_fault", "unknown"], &q.category))
            (select("confidence", &["HIGH", "MEDIUM", "LOW"], &q.confidence))
            button type="submit" { "Filter" }
        }
        @if rows.is_empty() {
            p.dim { "No incidents match." }
        } @else {
            table {
                thead { tr { th { "Opened" } th { "Status" } th { "Severity" } th { "Incident" } th.hide-sm { "Root cause" } th.hide-sm { "Confidence" } } }
                tbody {
                    @for (incident, severity, category, confidence, analyst) in &rows {
                        tr.incident {
                            td.dim { (clock(incident.opened_at)) }
                            td { span.pill.(incident.status.as_str()) { (incident.status.as_str()) } }
                            td { @if let Some(s) = severity { span.pill.(s) { (s) } } }
                            td { a href={ "/incidents/" (incident.id) } { (incident.title) } br; span.dim { (incident.service.as_deref().unwrap_or("")) } }
                            td.hide-sm { (category.as_deref().unwrap_or("—")) }
                            td.hide-sm { (confidence.as_deref().unwrap_or("—")) @if let Some(a) = analyst { br; span.dim { "by " (a) } } }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Incidents", body).into_response())
}

/// A small line chart of a series with the onset marked.
fn sparkline(item: &EvidenceItem) -> Option<Markup> {
    let series = item.data.get("series")?;
    let points: Vec<(f64, f64)> = series["points"]
        .as_array()?
        .iter()
        .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let (w, h) = (160.0, 32.0);
    let (min, max) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
    let span = if max > min { max - min } else { 1.0 };
    let step = w / (points.len() - 1) as f64;
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                h - 2.0 - (p.1 - min) / span * (h - 4.0)
            )
        })
        .collect();
    let onset = series["onset_index"].as_u64().map(|i| i as f64 * step);
    Some(html! {
        svg.spark width="160" height="32" viewBox="0 0 160 32" role="img" aria-label={ "series of " (item.id) } {
            polyline fill="none" stroke="#5fb3f9" stroke-width="1.5" points=(path.join(" ")) {}
            @if let Some(x) = onset { line x1=(x) x2=(x) y1="0" y2="32" stroke="#ff6b6b" stroke-dasharray="2,2" {} }
        }
    })
}

fn cite(ids: &[String]) -> Markup {
    html! {
        @for id in ids { a.cite href={ "#" (id) } { code { (id) } } " " }
    }
}

pub async fn incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(response) = denied(&state, &headers) {
        return Ok(response);
    }
    let Some(detail) = state.store.incident(&id).await? else {
        return Err(ApiError::NotFound(format!("incident {id}")));
    };
    let tally = state.store.feedback_tally(&id).await?;
    Ok(page(&detail.incident.title, render_incident(&detail, tally)).into_response())
}

fn render_incident(detail: &IncidentDetail, tally: (i64, i64, i64)) -> Markup {
    let incident = &detail.incident;
    let brief = brief_of(&incident.id, detail.brief.as_ref());
    html! {
        h1 { (incident.title) }
        p.dim {
            span.pill.(incident.status.as_str()) { (incident.status.as_str()) } " · opened " (clock(incident.opened_at))
            @if let Some(r) = incident.resolved_at { " · resolved " (clock(r)) }
            " · " (incident.alert_count) " alert(s) · " (incident.source.as_str())
            @if let Some(s) = &incident.service { " · service " (s) }
        }
        @match &brief {
            None => { div.card { p.dim { "No brief yet: analysis has not finished." } } }
            Some(Err(error)) => { div.card { p { (error) } } }
            Some(Ok(brief)) => {
                @let t = &brief.triage;
                @let rc = &t.root_cause;
                div.card id="brief" {
                    h2 { span.pill.(format!("{:?}", t.severity)) { (format!("{:?}", t.severity)) } " " (t.summary) }
                    h3 { "Root cause — " (rc.confidence.as_str()) " (" (format!("{:.2}", rc.score)) ") · " code { (rc.category.as_str()) } " · " (rc.entity) }
                    p { (rc.statement) }
                    p.dim { "cites: " (cite(&rc.evidence_ids)) (cite(&rc.knowledge_ids)) }
                    @if let Some(reason) = &brief.validation.capped { p.dim { "confidence lowered: " (reason) } }
                    @if !brief.validation.dropped_ids.is_empty() { p.dim { "ignored invented ids: " (brief.validation.dropped_ids.join(", ")) } }
                    @for c in &brief.validation.contradictions { p.dim { "contradiction: " (c) } }
                    h3 { "Recommended actions" }
                    ol { @for a in &t.actions { li { (a.action) " " span.dim { "(risk " (format!("{:?}", a.risk).to_lowercase()) ")" } @if let Some(c) = &a.command { pre { (c) } } } } }
                    @if !t.confidence_breakdown.is_empty() {
                        h3 { "Confidence breakdown" }
                        ul { @for c in &t.confidence_breakdown { li { (if c.holds { "✓ " } else { "✗ " }) (c.check) " " (cite(&c.evidence_ids)) } } }
                    }
                    @if !t.alternatives.is_empty() {
                        h3 { "Alternatives" }
                        ul { @for a in &t.alternatives { li { (a.statement) " (" code { (a.category.as_str()) } ") — " span.dim { (a.why_less_likely) } " " (cite(&a.evidence_ids)) } } }
                    }
                    @if !brief.hypotheses.is_empty() {
                        h3 { "Hypotheses tested" }
                        table {
                            tr { th { "score" } th { "cause" } th { "checks for (✓) and against (✗)" } }
                            @for h in &brief.hypotheses {
                                tr {
                                    td { (format!("{:.2}", h.score)) br; span.dim { (h.confidence.as_str()) } }
                                    td { code { (h.category.as_str()) } br; (h.entity) }
                                    td { ul { @for c in &h.checks { li { (c.mark()) " " b { (c.kind.as_str()) } ": " (c.reason) " " (cite(&c.evidence_ids)) (cite(&c.knowledge_ids)) } } } }
                                }
                            }
                        }
                    }
                    @if !t.data_gaps.is_empty() {
                        h3 { "Data gaps" }
                        ul { @for g in &t.data_gaps { li { b { (g.source) } ": " (g.reason) " — " (g.next_step) } } }
                    }
                    h3 { "Status page draft" }
                    p { b { (t.status_page_draft.title) } " — " (t.status_page_draft.body) }
                    p.dim {
                        "analyst: " (brief.analyst)
                        @if let Some(reason) = &brief.fallback_reason { " (" (reason) ")" }
                        @for u in &brief.usage { " · " (u.model) ": " (u.prompt_tokens) " prompt + " (u.completion_tokens) " completion tokens (" (u.cached_tokens) " cached), $" (format!("{:.4}", u.cost_usd)) }
                        " · feedback ✓ " (tally.0) " · ~ " (tally.1) " · ✗ " (tally.2)
                    }
                }
            }
        }
        h2 { "Evidence" }
        @match &detail.evidence {
            None => { p.dim { "Not collected yet." } }
            Some(bundle) => {
                p.dim { "window " (bundle.window.start.format("%H:%M")) "–" (bundle.window.end.format("%H:%M UTC")) ", onset " (bundle.window.onset.format("%H:%M UTC")) }
                h3 { "Sources" }
                ul { @for r in &bundle.reports { li { (r.describe()) " " span.dim { "(" (r.elapsed_ms) " ms)" } } } }
                @for item in &bundle.items {
                    div.card.ev id=(item.id) {
                        b { code { (item.id) } } " " span.dim { (item.source) " · " (item.kind) " · anomaly " (format!("{:.2}", item.anomaly)) }
                        p { (item.summary) " " @if let Some(s) = sparkline(item) { (s) } }
                        details { summary { "data" } pre { (serde_json::to_string_pretty(&item.data).unwrap_or_default()) } }
                    }
                }
                @if !bundle.dropped.is_empty() { p.dim { "left out to fit the budget: " (bundle.dropped.join(", ")) } }
            }
        }
        h2 { "Knowledge" }
        @if detail.knowledge.is_empty() {
            p.dim { "No knowledge retrieved for this incident." }
        }
        @for k in &detail.knowledge {
            div.card.ev id=(k.id) {
                b { code { (k.id) } } " " span.dim { (k.corpus) " · score " (format!("{:.2}", k.score)) @if let Some(u) = k.updated_at { " · updated " (u.format("%Y-%m-%d")) @if (chrono::Utc::now() - u).num_days() > 180 { " " span.pill.SEV3 { "stale: " ((chrono::Utc::now() - u).num_days()) " days" } } } }
                p { b { (k.title) } @if let Some(s) = &k.source { " " span.dim { (s) } } }
                @if let Some(past) = k.remembered_incident() { p { a href=(format!("/incidents/{past}")) { "open the remembered incident" } } }
                @if !k.snippet.is_empty() { p.dim { (k.snippet) } }
                details { summary { "text" } pre { (k.text) } }
            }
        }
        h2 { "Timeline" }
        table {
            thead { tr { th { "Stage" } th { "Started" } th { "Took" } th { "Outcome" } th.hide-sm { "Detail" } } }
            tbody {
                @for s in &detail.stages {
                    tr { td { (s.stage.as_str()) } td.dim { (clock(s.started_at)) } td { @if let Some(e) = s.ended_at { (e - s.started_at) " ms" } } td { (s.outcome.as_str()) } td.hide-sm.dim { (s.detail.as_deref().unwrap_or("")) } }
                }
            }
        }
        h2 { "Alerts" }
        table {
            thead { tr { th { "Received" } th { "Transition" } th { "Title" } } }
            tbody { @for a in &detail.alerts { tr { td.dim { (clock(a.received_at)) } td { (a.transition.as_str()) } td { (a.title) } } } }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

pub async fn knowledge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    if let Some(response) = denied(&state, &headers) {
        return response;
    }
    let q = query.q.unwrap_or_default();
    let results = match (&state.knowledge, q.trim().is_empty()) {
        (_, true) => None,
        (None, false) => Some(Err("no knowledge index is open".to_string())),
        (Some(index), false) => {
            let (index, text) = (Arc::clone(index), q.clone());
            Some(
                tokio::task::spawn_blocking(move || index.search(&text, 5))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string())),
            )
        }
    };
    page(
        "Knowledge",
        html! {
            h1 { "Knowledge search" }
            form.inline method="get" action="/knowledge" {
                input type="search" name="q" value=(q) placeholder="runbook, post-mortem, service, resource";
                button type="submit" { "Search" }
            }
            @match results {
                None => {}
                Some(Err(error)) => { p.dim id="results" { "Search failed: " (error) } }
                Some(Ok(matches)) => {
                    div id="results" {
                        p.dim { (matches.len()) " matches for “" (q) "”" }
                        @for k in &matches {
                            div.card.hit {
                                b { code { (k.id) } } " " span.dim { (k.corpus) " · score " (format!("{:.2}", k.score)) }
                                p { b { (k.title) } @if let Some(s) = &k.source { " " span.dim { (s) } } }
                                @if !k.snippet.is_empty() { p.dim { (k.snippet) } }
                details { summary { "text" } pre { (k.text) } }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

pub async fn eval(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(response) = denied(&state, &headers) {
        return Ok(response);
    }
    // The newest scorecard of each suite and analyst, each on its own: the project's own
    // scenarios, the sealed held-out set and the external benchmark are never averaged.
    let mut cards: Vec<Scorecard> = Vec::new();
    for json in state.store.recent_eval_runs(200).await? {
        if let Ok(card) = serde_json::from_value::<Scorecard>(json)
            && !cards
                .iter()
                .any(|c| c.suite == card.suite && c.analyst == card.analyst)
        {
            cards.push(card);
        }
    }
    if cards.is_empty() {
        return Ok(page(
            "Evaluation",
            html! {
                h1 { "Evaluation" }
                p.dim { "No evaluation has been recorded yet. Run "
                    code { "triaged eval tests/scenarios" } " against this data directory or database." }
            },
        )
        .into_response());
    };
    let pct = crate::eval::percent;
    let mark = |ok: bool| if ok { "✓" } else { "✗" };
    // The newest section keeps the plain ids; the others are suffixed so ids stay unique.
    let id = |base: &str, n: usize| {
        if n == 0 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        }
    };
    Ok(page(
        "Evaluation",
        html! {
            h1 { "Evaluation" }
            p.dim { "Each suite is scored on its own: "
                @for card in &cards { b { (card.suite) } " (" (card.analyst.as_str()) ") " } }
            @for (n, card) in cards.iter().enumerate() {
            h2 { "Suite " (card.suite) }
            p.dim { "Latest scorecard: analyst " b { (card.analyst.as_str()) } ", "
                (card.scenarios) " scenarios, " (card.created_at.format("%Y-%m-%d %H:%M UTC")) }
            div.card {
                table id=(id("summary", n)) {
                    tr { th { "root-cause hit@1" } td.hit1 { (pct(Some(card.hit_at_1))) } }
                    tr { th { "category hit" } td { (pct(Some(card.category_hit))) } }
                    tr { th { "entity hit" } td { (pct(Some(card.entity_hit))) } }
                    tr { th { "knowledge recall@" (card.k) " (exact section)" } td { (pct(card.knowledge_recall)) } }
                    tr { th { "knowledge recall@" (card.k) " (document)" } td { (pct(card.knowledge_doc_recall)) } }
                    tr { th { "expected evidence cited" } td { (pct(card.evidence_recall)) } }
                    tr { th { "citation validity" } td { (pct(card.citation_validity)) } }
                    @if let Some(brier) = card.brier {
                        tr { th { "Brier score" } td { (format!("{brier:.3}")) } }
                    }
                }
            }
            h3 { "Calibration" }
            div.card {
                table {
                    tr { th { "stated confidence" } th { "briefs" } th { "right" } th { "accuracy" } th { "mean score" } }
                    @for row in &card.calibration {
                        tr {
                            td { (row.confidence.as_str()) }
                            td { (row.briefs) }
                            td { (row.right) }
                            td { (pct(row.accuracy)) }
                            td { (row.mean_score.map_or("—".to_string(), |s| format!("{s:.2}"))) }
                        }
                    }
                }
            }
            h3 { "Scenarios" }
            div.card {
                table id=(id("scenarios", n)) {
                    tr { th { "" } th { "scenario" } th { "expected" } th { "got" } th.hide-sm { "confidence" } th.hide-sm { "knowledge" } }
                    @for r in &card.results {
                        tr {
                            td { (mark(r.hit)) }
                            td { b { (r.name) } br; span.dim { (r.description) } }
                            td { (r.expected_category) br; span.dim { (r.expected_entity.join(" | ")) } }
                            td { (mark(r.category_hit)) " " (r.category) br; span.dim { (mark(r.entity_hit)) " " (r.entity) } }
                            td.hide-sm { (r.confidence.as_str()) " " (format!("{:.2}", r.score)) }
                            td.hide-sm { (r.knowledge_found) "/" (r.knowledge_expected) }
                        }
                    }
                }
                @for s in &card.skipped {
                    p.dim { "skipped: " (s) }
                }
            }
            p.dim { "Stage medians (ms): "
                @for (stage, ms) in &card.stage_p50_ms { (stage) " " (format!("{ms:.1}")) " · " } }
            }
        },
    )
    .into_response())
}
