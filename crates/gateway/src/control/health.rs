//! A directory's health: its traffic and failures against Entra's quarantine rule, when Entra
//! last called and whether its Test Connection probe passed, the pipeline's lag and the tokens'
//! expiry (docs/entra/behaviour.md §7.5, docs/designs/0006-control-plane.md).

use chrono::{DateTime, Duration, Utc};
use roster_store::control::{self, TokenStatus};
use roster_store::provisioning_log::{self, RequestCounts};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Caller, time};
use crate::error::ApiError;
use crate::lag::PipelineLag;
use crate::state::AppState;

/// Entra starts evaluating quarantine from this many failures…
pub const QUARANTINE_MINIMUM_FAILURES: i64 = 5_000;
/// …and quarantines past this share of failed events (reference failures not counted)…
pub const QUARANTINE_RATE: f64 = 0.40;
/// …or past this many failures (reference failures not counted)…
pub const QUARANTINE_FAILURES: i64 = 40_000;
/// …or past this many failures of any kind.
pub const QUARANTINE_ABSOLUTE: i64 = 60_000;
/// The health warns from half the quarantine rate.
pub const WARNING_RATE: f64 = QUARANTINE_RATE / 2.0;

/// Requests over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub requests: i64,
    /// Answered 4xx or 5xx.
    pub failures: i64,
    /// Of the failures, those Entra does not count towards quarantine.
    pub reference_failures: i64,
}

impl From<RequestCounts> for Counts {
    fn from(c: RequestCounts) -> Self {
        Counts { requests: c.total, failures: c.failures, reference_failures: c.reference_failures }
    }
}

/// Where the last day stands against Entra's quarantine rule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quarantine {
    /// `ok`, `warning` (half the rate reached) or `risk` (Entra's rule is met).
    pub status: String,
    /// Failures that count (reference failures apart) over requests, last day.
    pub failure_rate: f64,
    pub threshold_rate: f64,
    pub minimum_failures: i64,
    pub detail: String,
}

/// Entra's quarantine rule applied to a day's counts.
pub fn quarantine(day: Counts) -> Quarantine {
    let counted = day.failures - day.reference_failures;
    let rate = if day.requests > 0 { counted as f64 / day.requests as f64 } else { 0.0 };
    let percent = rate * 100.0;
    let (status, detail) = if (counted >= QUARANTINE_MINIMUM_FAILURES && rate > QUARANTINE_RATE)
        || counted > QUARANTINE_FAILURES
        || day.failures > QUARANTINE_ABSOLUTE
    {
        (
            "risk",
            format!(
                "{counted} of {} requests failed in the last day ({percent:.1} %): Entra quarantines a job past 40 % failed from 5,000 failures, or past 40,000 failures",
                day.requests
            ),
        )
    } else if rate >= WARNING_RATE && day.requests > 0 {
        (
            "warning",
            format!(
                "{percent:.1} % of requests failed in the last day; Entra quarantines past 40 % once 5,000 have failed"
            ),
        )
    } else {
        ("ok", format!("{percent:.1} % of requests failed in the last day"))
    };
    Quarantine {
        status: status.to_string(),
        failure_rate: rate,
        threshold_rate: QUARANTINE_RATE,
        minimum_failures: QUARANTINE_MINIMUM_FAILURES,
        detail,
    }
}

/// The last Test Connection probe.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    pub time: String,
    pub status: i16,
    pub succeeded: bool,
}

/// The tokens' expiry.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenHealth {
    pub active: usize,
    /// The soonest expiry of an active token, if any expires.
    pub next_expiry: Option<String>,
    /// An active token expires within `console.token_expiry_warning_days`.
    pub expiring_soon: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `healthy`, `warning` or `failing`.
    pub status: String,
    pub last_hour: Counts,
    pub last_day: Counts,
    pub quarantine: Quarantine,
    /// When a request last came with a valid token.
    pub last_request_at: Option<String>,
    pub last_probe: Option<Probe>,
    pub tokens: TokenHealth,
    /// The pipeline's lag per consumer group (events the log holds beyond what is applied).
    #[schema(value_type = Object)]
    pub pipeline: serde_json::Value,
    /// What needs attention, in words.
    pub warnings: Vec<String>,
}

pub async fn health(
    state: &AppState,
    lag: &PipelineLag,
    caller: &Caller,
    directory: &str,
) -> Result<Health, ApiError> {
    let directory = super::directory_in_scope(state, caller, directory).await?;
    let now = Utc::now();
    let (hour, day, last, probe, tokens) = roster_store::run_read(&state.pool, move |conn| {
        let hour = provisioning_log::counts_since(conn, directory.id, now - Duration::hours(1))?;
        let day = provisioning_log::counts_since(conn, directory.id, now - Duration::days(1))?;
        let last = provisioning_log::last_authenticated(conn, directory.id)?;
        let probe = provisioning_log::last_probe(conn, directory.id)?;
        let tokens = control::list_tokens(conn, directory.id)?;
        Ok::<_, ApiError>((hour, day, last, probe, tokens))
    })
    .await?;
    let pipeline = lag.snapshot().await;
    let day = Counts::from(day);
    let quarantine = quarantine(day);
    let warn_within = Duration::days(i64::from(state.console.token_expiry_warning_days));
    let active: Vec<_> = tokens.iter().filter(|t| t.status(now) == TokenStatus::Active).collect();
    let next_expiry: Option<DateTime<Utc>> = active.iter().filter_map(|t| t.expires_at).min();
    let expiring_soon = next_expiry.is_some_and(|t| t - now <= warn_within);

    let mut warnings = Vec::new();
    if active.is_empty() {
        warnings.push("the directory has no active secret token: Entra cannot connect".to_string());
    }
    if let Some(expiry) = next_expiry.filter(|_| expiring_soon) {
        warnings.push(format!(
            "a secret token expires at {}: issue a new one and paste it into Entra first, or Entra quarantines the job",
            time(expiry)
        ));
    }
    if quarantine.status != "ok" {
        warnings.push(quarantine.detail.clone());
    }
    let probe = probe.map(|p| Probe {
        time: time(p.entry.at),
        status: p.entry.status,
        succeeded: p.entry.status == 200,
    });
    if let Some(p) = probe.as_ref().filter(|p| !p.succeeded) {
        warnings.push(format!("the last Test Connection probe failed with {}", p.status));
    }
    let status = if quarantine.status == "risk" || active.is_empty() {
        "failing"
    } else if warnings.is_empty() {
        "healthy"
    } else {
        "warning"
    };
    Ok(Health {
        status: status.to_string(),
        last_hour: Counts::from(hour),
        last_day: day,
        quarantine,
        last_request_at: last.map(|e| time(e.entry.at)),
        last_probe: probe,
        tokens: TokenHealth {
            active: active.len(),
            next_expiry: next_expiry.map(time),
            expiring_soon,
        },
        pipeline,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(requests: i64, failures: i64, reference_failures: i64) -> Counts {
        Counts { requests, failures, reference_failures }
    }

    #[test]
    fn entras_quarantine_rule() {
        assert_eq!(quarantine(day(0, 0, 0)).status, "ok");
        assert_eq!(quarantine(day(100, 10, 0)).status, "ok");
        // Half the rate warns, however few requests.
        assert_eq!(quarantine(day(100, 25, 0)).status, "warning");
        // Past 40 % but under 5,000 failures: Entra does not evaluate yet.
        assert_eq!(quarantine(day(1_000, 900, 0)).status, "warning");
        assert_eq!(quarantine(day(12_000, 5_000, 0)).status, "risk");
        // Reference failures do not count towards the 40 %…
        assert_eq!(quarantine(day(12_000, 5_000, 4_000)).status, "ok");
        // …nor towards 40,000, but do towards 60,000.
        assert_eq!(quarantine(day(1_000_000, 41_000, 0)).status, "risk");
        assert_eq!(quarantine(day(1_000_000, 50_000, 20_000)).status, "ok");
        assert_eq!(quarantine(day(1_000_000, 61_000, 30_000)).status, "risk");
    }
}
