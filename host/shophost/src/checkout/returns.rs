//! The shopper's browser back from the gateway (RETURL / NG_RETURL / EXITURL): what it shows, never
//! what it pays. Only a deferred payment's first return may create the unpaid (未入金) order from the
//! slip it carries, once, through the notification path's checks.

use shophost_module_api::{ReturnKind, Signal};

use super::CheckoutError;
use crate::db::{ApplyContext, Intent, OrderFilter, Verdict};
use crate::domain::{now_millis, Order};
use crate::inbound::{decode_for, record_for, RawInbound};
use crate::AppState;

/// What the shopper should see after a browser return.
#[derive(Debug, Clone, PartialEq, Eq)]
// Built once per request and matched at once; boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum ReturnView {
    /// The order is confirmed (or, for deferred payments, issued).
    Completed(Order),
    /// The gateway said success, but the notification has not landed yet.
    Confirming(String),
    /// The payment did not complete.
    Failed(String),
    /// The shopper cancelled at the gateway: back to the confirm step.
    Cancelled(Option<String>),
}

/// Handles a browser return for `settlement_type`. A return never marks anything paid: it can only
/// create the unpaid order of a deferred payment from the slip it carries, once, through the same
/// checks and journal as a notification.
pub async fn handle_return(
    state: &AppState,
    settlement_type: &str,
    kind: ReturnKind,
    raw: RawInbound,
) -> Result<ReturnView, CheckoutError> {
    let module_state = state
        .engine
        .owner_of(settlement_type)
        .ok_or(CheckoutError::NotFound)?;
    let Some(config) = module_state.config.clone() else {
        return Ok(ReturnView::Failed(
            "決済モジュールの設定に不備があるため、お支払いを確認できません".to_owned(),
        ));
    };
    let module = module_state.registered.module.clone();
    let decoded = decode_for(
        &raw,
        module_state.wire_charset,
        module.as_ref(),
        &state.config.trusted_proxies,
    );
    let read = crate::guard::module_call_async(&module_state.registered.id, "parse_return", || {
        module.parse_return(&config, settlement_type, kind, &decoded.request)
    })
    .await?;
    let link_key = read.link_key.clone();
    match kind {
        ReturnKind::Cancel => return Ok(ReturnView::Cancelled(link_key)),
        ReturnKind::Failure => {
            return Ok(ReturnView::Failed(
                read.message
                    .unwrap_or_else(|| "お支払いが完了しませんでした".to_owned()),
            ))
        }
        ReturnKind::Success => {}
    }
    let Some(link_key) = link_key else {
        return Ok(ReturnView::Failed(
            "決済結果を確認できませんでした".to_owned(),
        ));
    };
    let Some(attempt) = state.store.attempt_by_link_key(&link_key).await? else {
        // A forged or foreign return: show nothing, create nothing.
        return Ok(ReturnView::Failed(
            "お支払い手続きが見つかりません".to_owned(),
        ));
    };
    if attempt.settlement_type != settlement_type {
        return Ok(ReturnView::Failed(
            "お支払い手続きが見つかりません".to_owned(),
        ));
    }
    state.store.mark_returned(&link_key, now_millis()).await?;
    if let Some(notification) = read.notification {
        if matches!(notification.signal, Signal::PaymentIssued { .. })
            && notification.link_key == link_key
        {
            let endpoint = format!("return:{settlement_type}:{}", kind.as_str());
            let record = record_for(
                Some(module.id()),
                &endpoint,
                &raw,
                &decoded,
                now_millis(),
                None,
            );
            let context = ApplyContext {
                module_id: module.id().to_owned(),
                settlement_labels: module_state
                    .settlement_types
                    .iter()
                    .map(|t| (t.id.clone(), t.label.clone()))
                    .collect(),
                settlement_kinds: module_state
                    .settlement_types
                    .iter()
                    .map(|t| (t.id.clone(), t.kind))
                    .collect(),
                channel: "browser_return",
            };
            let response =
                shophost_module_api::WireResponse::text(303, "text/plain", "browser return");
            let recorded = state
                .store
                .record_inbound(
                    record,
                    Intent::Apply(notification),
                    context,
                    crate::db::Responses::always(response),
                )
                .await?;
            if let Verdict::Refused { reason, .. } = &recorded.verdict {
                tracing::warn!(link_key = %link_key, "browser return refused: {reason}");
            }
        }
    }
    view_for(state, &link_key).await
}

/// What the completion page shows for a link key now.
pub async fn view_for(state: &AppState, link_key: &str) -> Result<ReturnView, CheckoutError> {
    let filter = OrderFilter {
        link_key: Some(link_key.to_owned()),
        ..OrderFilter::default()
    };
    if let Some(order) = state.store.orders(&filter, 1).await?.into_iter().next() {
        return Ok(ReturnView::Completed(order));
    }
    let attempt = state
        .store
        .attempt_by_link_key(link_key)
        .await?
        .ok_or(CheckoutError::NotFound)?;
    // The gateway's failure notification is as authoritative for "not paid" as its success is for
    // "paid": stop asking the shopper to wait.
    if state.store.last_payment_event(link_key).await?.as_deref() == Some("payment_failed") {
        return Ok(ReturnView::Failed(
            "お支払いが完了しませんでした。お支払方法を選び直してください".to_owned(),
        ));
    }
    Ok(ReturnView::Confirming(attempt.link_key))
}
