//! The answer to a query (contract §7): a state, a summary, bullets, structured fields, and the
//! citations that back every claim. The same shape serves the CLI and the popup API.

use serde::Serialize;
use serde_json::{Map, Value};

use super::handle::CounterValues;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerState {
    Ok,
    NoEvidence,
    NotAvailableYet,
    Degraded,
    Error,
}

/// One piece of evidence behind claim `claim_index`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    pub claim_index: u32,
    pub citation_index: u32,
    pub claim_text: String,
    pub record_id: String,
    pub record_type: String,
    pub source: String,
    pub span_kind: String,
    pub offset_start: u64,
    pub offset_end: u64,
    pub stale: bool,
    pub stale_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[u64; 4]>,
}

/// What is missing when the answer is `not_available_yet`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotAvailable {
    pub missing: String,
    pub newest_processed_ts_utc: Option<String>,
    pub how_to_produce: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub query: String,
    pub query_run_id: String,
    pub state: AnswerState,
    pub summary: String,
    pub bullets: Vec<String>,
    pub fields: Map<String, Value>,
    pub topic: Option<String>,
    pub confidence_pct: u32,
    pub needs_processing: bool,
    pub processing_blocked_reason: Option<String>,
    pub citations: Vec<Citation>,
    pub counters: CounterValues,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_available: Option<NotAvailable>,
    /// How the question was understood, when asked for (`autocapture query --explain`): the
    /// times read, the cues and names, the rule chosen and the runners-up, the names linked to
    /// recorded apps, and for a search its terms and how they matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain: Option<Value>,
}

impl Answer {
    /// The popup API's response document (contract §7), with the measured latency.
    pub fn to_popup(&self, latency_ms: u64) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "ok".into(),
                Value::Bool(matches!(
                    self.state,
                    AnswerState::Ok | AnswerState::NoEvidence | AnswerState::NotAvailableYet
                )),
            );
            map.insert("latency_ms_total".into(), Value::from(latency_ms));
            if self.not_available.is_none() {
                map.remove("not_available");
            }
        }
        value
    }
}
