//! One provider `usage` report, accounted the same way for every request a session makes
//! (the agent loop's and the summary's): the rate limiter's estimate replaced by the real
//! count, the session's token estimates calibrated, the cost priced, a `usage` journaled.

use botcoder_protocol::{EventBody, TurnId};

use super::core::SessionCore;
use crate::llm::ProviderEvent;
use crate::llm::pricing::PriceTable;
use crate::ratelimit::Permit;

/// The request a usage report is for.
pub struct Request<'a> {
    /// The turn (or summary) that made it.
    pub turn_id: &'a TurnId,
    /// The model it went to, for the price.
    pub model: &'a str,
    /// Prompt tokens it was estimated at, to calibrate the estimates.
    pub estimate: u64,
    /// Its admission by the rate limiter.
    pub permit: &'a Permit,
}

/// Accounts `event` when it is a [`ProviderEvent::Usage`]; any other event is ignored.
pub async fn record(
    core: &SessionCore,
    pricing: &PriceTable,
    req: &Request<'_>,
    event: &ProviderEvent,
) {
    let &ProviderEvent::Usage {
        input_tokens,
        output_tokens,
        cached_input_tokens,
        reasoning_tokens,
    } = event
    else {
        return;
    };
    req.permit.reconcile(input_tokens + output_tokens);
    core.with_ledger(|l| l.calibrate(req.estimate, input_tokens));
    let cost_usd = pricing.cost_usd(req.model, input_tokens, cached_input_tokens, output_tokens);
    let body = EventBody::Usage {
        turn_id: req.turn_id.clone(),
        input_tokens,
        output_tokens,
        cached_input_tokens,
        reasoning_tokens,
        cost_usd,
    };
    if let Err(e) = core.emit(body).await {
        tracing::error!(session = %core.id, error = %e, "could not journal usage");
    }
}
