//! The checks: [`CHECKS`], their names and what each requires, and one function per check.
//!
//! Each check is a scenario spelled out step by step (attempt, notify, return, expect), because a
//! failed check is read by a module author who needs to see which step went wrong; the shared steps
//! (sending, the expected answers, the order and payment-event counts) live in the harness.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;

use shophost::checkout::{self, Confirmed, ReturnView};
use shophost::domain::AttemptState;
use shophost_module_api::{
    Answer, IpRange, NotificationTrust, PaymentModule, Refusal, SettingsValues,
};

use crate::forgery;
use crate::harness::{ensure, list, Kit, PRICE};
use crate::wire_format::{TestRequest, WireFormat};

/// The amount the kit's tampered notification is signed for: as many digits as [`PRICE`], so that
/// replacing one by the other keeps every length the same.
const SIGNED_AMOUNT: i64 = 1890;

/// Addresses no gateway posts from (documentation ranges, RFC 5737 and RFC 3849): the kit sends a
/// notification from the first one an endpoint's allowlist does not admit.
const STRANGERS: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
];

/// The forgeries sent to a signed endpoint.
#[derive(Clone, Copy)]
enum Forgery {
    Forged,
    Unsigned,
    Tampered,
}

/// The checks, in the order they run.
pub const CHECKS: &[(&str, &str)] = &[
    (
        "settings_validation",
        "the valid settings validate; the invalid ones fail with errors naming fields of the schema",
    ),
    (
        "payment_start",
        "the confirm step builds a redirect form carrying the link key and the amount, the same every time",
    ),
    (
        "notification_before_return",
        "a success notification alone creates the paid order and is acknowledged; the browser return after it creates nothing more",
    ),
    (
        "duplicate_notification",
        "the same notification twice is acknowledged twice with the same bytes and makes one order and one payment event",
    ),
    (
        "return_without_notification",
        "a success browser return alone creates no order and leaves the attempt open; the notification after it completes the order",
    ),
    (
        "wrong_amount",
        "a notification for another amount gets the module's refusal answer (not the acknowledgement, not a server error, not \"unavailable\") and changes nothing; the right one after it is accepted",
    ),
    (
        "failed_payment",
        "a failure notification is acknowledged, creates no order and is logged in the 決済エラーログ",
    ),
    (
        "undecodable_charset",
        "a notification whose bytes are not valid in the module's charset gets the module's refusal answer, as for `wrong_amount`, and changes nothing",
    ),
    (
        "notification_trust",
        "every endpoint says what vouches for its notifications: a signed endpoint refuses forged, unsigned and tampered-amount notifications; a source allowlist does not admit everyone and refuses a stranger; an unverified endpoint declares why",
    ),
    (
        "retry_after_refused_acknowledgement",
        "when the host cannot store a notification the module answers \"unavailable\", not an acknowledgement; the gateway's retry is then acknowledged and makes one order",
    ),
    (
        "invalid_settings_stop_module",
        "settings that fail validation stop the module's payment methods, and none of its start, notification or return methods is called until they are fixed",
    ),
];

/// `settings_validation`: runs on the module alone, before any host is built.
pub(crate) fn check_settings(
    module: &dyn PaymentModule,
    wire: &dyn WireFormat,
) -> Result<(), String> {
    let schema = module.settings_schema();
    let with_defaults = |values: &SettingsValues| schema.with_defaults(values);
    if let Err(errors) = module.validate(&with_defaults(&wire.valid_settings())) {
        return Err(format!(
            "the valid settings do not validate: {}",
            list(&errors)
        ));
    }
    let invalid = wire.invalid_settings();
    match module.validate(&with_defaults(&invalid)) {
        Ok(_) => Err("the invalid settings validate".to_owned()),
        Err(errors) if errors.is_empty() => {
            Err("validation failed without naming any field".to_owned())
        }
        Err(errors) => {
            for error in &errors {
                ensure!(
                    schema.field(&error.key).is_some() || invalid.contains_key(&error.key),
                    "error `{error}` names no field of the schema"
                );
                ensure!(
                    !error.message.trim().is_empty(),
                    "the error for `{}` has no message",
                    error.key
                );
            }
            Ok(())
        }
    }
}

impl Kit<'_> {
    pub(crate) async fn payment_start(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let form = match checkout::confirm(&self.state, &link_key).await {
            Ok(Confirmed::Redirect(form)) => form,
            Ok(Confirmed::Completed(_)) => {
                return Err("the confirm step completed a paid attempt without the gateway".into())
            }
            Err(error) => return Err(format!("the confirm step failed: {error}")),
        };
        ensure!(
            form.url.starts_with("http://") || form.url.starts_with("https://"),
            "the form posts to `{}`, not an http(s) URL",
            form.url
        );
        ensure!(
            form.fields.iter().any(|f| f.value == link_key),
            "no field of the form carries the link key {link_key}"
        );
        ensure!(
            form.fields.iter().any(|f| f.value == PRICE.to_string()),
            "no field of the form carries the amount {PRICE}"
        );
        let again = checkout::confirm(&self.state, &link_key)
            .await
            .map_err(|e| format!("the second confirm failed: {e}"))?;
        ensure!(
            again == Confirmed::Redirect(form),
            "the confirm step built a different form the second time; modules must be deterministic"
        );
        Ok(())
    }

    pub(crate) async fn notification_before_return(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&notification, "the success notification")
            .await?;
        self.expect_one_paid_order(
            &link_key,
            "after the notification, before any browser return",
        )
        .await?;
        let sent = self
            .browser_return(&self.wire.success_return(&link_key))
            .await?;
        ensure!(
            sent.status < 500,
            "the browser return after the notification was answered {}",
            sent.describe()
        );
        self.expect_one_paid_order(&link_key, "after the browser return")
            .await?;
        let events = self.events(&link_key).await?;
        ensure!(
            events == 1,
            "{events} payment events were recorded, expected 1"
        );
        match checkout::view_for(&self.state, &link_key).await {
            Ok(ReturnView::Completed(_)) => Ok(()),
            Ok(other) => Err(format!(
                "the completion page shows {other:?}, not the order"
            )),
            Err(error) => Err(format!("the completion page failed: {error}")),
        }
    }

    pub(crate) async fn duplicate_notification(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&notification, "the first copy")
            .await?;
        let resend = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&resend, "the second copy").await?;
        self.expect_one_paid_order(&link_key, "after two copies")
            .await?;
        let events = self.events(&link_key).await?;
        ensure!(
            events == 1,
            "two copies recorded {events} payment events, expected 1"
        );
        let journal = self
            .state
            .store
            .journal(Some(&link_key), 10)
            .await
            .map_err(|e| format!("journal: {e}"))?;
        let verdicts: Vec<&str> = journal.iter().rev().map(|e| e.verdict.as_str()).collect();
        ensure!(
            verdicts == ["accepted", "duplicate"],
            "the journal says {verdicts:?}, expected [\"accepted\", \"duplicate\"]"
        );
        Ok(())
    }

    pub(crate) async fn return_without_notification(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let sent = self
            .browser_return(&self.wire.success_return(&link_key))
            .await?;
        ensure!(
            sent.status < 500,
            "the browser return was answered {}",
            sent.describe()
        );
        if let Some(location) = &sent.location {
            ensure!(
                location == &format!("/checkout/complete/{link_key}"),
                "the browser return redirects to `{location}`, expected /checkout/complete/{link_key}"
            );
        }
        self.expect_no_order(&link_key, "after a browser return alone")
            .await?;
        let attempt = self
            .state
            .store
            .attempt_by_link_key(&link_key)
            .await
            .map_err(|e| format!("attempt: {e}"))?
            .ok_or("the attempt disappeared")?;
        ensure!(
            attempt.state == AttemptState::Open,
            "after a browser return alone the attempt is {:?}, expected open",
            attempt.state
        );
        match checkout::view_for(&self.state, &link_key).await {
            Ok(ReturnView::Confirming(_)) => {}
            Ok(other) => {
                return Err(format!(
                    "the completion page shows {other:?}, expected \"confirming\""
                ))
            }
            Err(error) => return Err(format!("the completion page failed: {error}")),
        }
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&notification, "the notification after the return")
            .await?;
        self.expect_one_paid_order(&link_key, "after the late notification")
            .await?;
        Ok(())
    }

    pub(crate) async fn wrong_amount(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let wrong = self.wire.success_notification(&link_key, PRICE + 1);
        self.expect_refused(
            &wrong,
            Refusal::Mismatch,
            "a notification for the wrong amount",
        )
        .await?;
        self.expect_no_order(&link_key, "after a notification for the wrong amount")
            .await?;
        let right = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&right, "the notification for the right amount after it")
            .await?;
        self.expect_one_paid_order(&link_key, "after the right amount")
            .await?;
        Ok(())
    }

    pub(crate) async fn failed_payment(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let failure = self.wire.failure_notification(&link_key);
        self.expect_acknowledged(&failure, "the failure notification")
            .await?;
        let orders = self.orders(&link_key).await?;
        ensure!(
            orders.is_empty(),
            "a failure notification created order {}",
            orders[0].order_number
        );
        let errors = self
            .state
            .store
            .settlement_errors(100)
            .await
            .map_err(|e| format!("settlement errors: {e}"))?;
        ensure!(
            errors
                .iter()
                .any(|e| e.link_key.as_deref() == Some(link_key.as_str())),
            "the failure is not in the 決済エラーログ"
        );
        Ok(())
    }

    pub(crate) async fn undecodable_charset(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let undecodable = self.wire.undecodable_notification(&link_key, PRICE);
        self.expect_refused(
            &undecodable,
            Refusal::Malformed,
            "an undecodable notification",
        )
        .await?;
        self.expect_no_order(&link_key, "after an undecodable notification")
            .await?;
        let journal = self
            .state
            .store
            .journal(None, 1)
            .await
            .map_err(|e| format!("journal: {e}"))?;
        ensure!(
            journal.first().is_some_and(|e| e.verdict == "rejected"),
            "the undecodable notification is not journaled as rejected"
        );
        let good = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&good, "a good notification after the undecodable one")
            .await?;
        self.expect_one_paid_order(&link_key, "after the good notification")
            .await?;
        Ok(())
    }

    pub(crate) async fn notification_trust(&self) -> Result<(), String> {
        let states = self.state.engine.states();
        let endpoints = &states
            .get(&self.module_id)
            .ok_or("the module is not in use")?
            .endpoints;
        for endpoint in endpoints {
            let name = &endpoint.name;
            match &endpoint.trust {
                NotificationTrust::Signed => {}
                NotificationTrust::SourceAddress(ranges) => ensure!(
                    !ranges.iter().any(|range| range.prefix == 0),
                    "endpoint `{name}` accepts notifications from every address ({}); allow only the gateway's addresses",
                    endpoint.trust
                ),
                NotificationTrust::Unverified { reason } => ensure!(
                    !reason.trim().is_empty(),
                    "endpoint `{name}` is unverified and declares no reason: anyone who learns a link key and an amount can post a payment to it. Sign its notifications (NotificationEndpoint::signed), allow only the gateway's addresses (NotificationEndpoint::source_address), or declare why neither is needed (NotificationEndpoint::unverified(name, reason))"
                ),
            }
        }
        let endpoint = endpoints
            .iter()
            .find(|endpoint| endpoint.name == self.endpoint_name())
            .ok_or("the endpoint under test is not listened on")?;
        match &endpoint.trust {
            NotificationTrust::Signed => self.forgeries_are_refused().await,
            NotificationTrust::SourceAddress(ranges) => self.strangers_are_refused(ranges).await,
            NotificationTrust::Unverified { .. } => Ok(()),
        }
    }

    /// A forged, an unsigned and a tampered notification: none may be acknowledged or make an order,
    /// and each gets the module's refusal answer. Every one is tried, so the report names them all.
    async fn forgeries_are_refused(&self) -> Result<(), String> {
        let mut failures = Vec::new();
        for (forgery, what) in [
            (
                Forgery::Forged,
                "a notification with a forged signature (the right form, the wrong value)",
            ),
            (Forgery::Unsigned, "a notification without its signature"),
            (
                Forgery::Tampered,
                "a notification signed for 1890 yen whose amount was changed to 1980",
            ),
        ] {
            // The tampered notification replaces the amount's digits: keep them out of the link key.
            let link_key = self
                .attempt_avoiding(&[&SIGNED_AMOUNT.to_string(), &PRICE.to_string()])
                .await?;
            let request = self.forgery(forgery, &link_key)?;
            let sent = self.notify(&request).await?;
            let orders = self.orders(&link_key).await?;
            if sent.is(&self.acknowledgement(&request)) || !orders.is_empty() {
                failures.push(format!(
                    "{what} was {} ({})",
                    if orders.is_empty() {
                        "acknowledged"
                    } else {
                        "accepted and made an order"
                    },
                    sent.describe()
                ));
            } else if let Err(reason) =
                self.check_refusal(&request, &sent, Refusal::Malformed, what)
            {
                failures.push(reason);
            }
        }
        ensure!(
            failures.is_empty(),
            "endpoint `{}` is signed, but {}; a signed endpoint must reject every notification whose signature does not verify over exactly what was received",
            self.endpoint_name(),
            failures.join("; ")
        );
        Ok(())
    }

    /// The forged request of this kind for `link_key`, from the author's hooks or made by the kit.
    fn forgery(&self, forgery: Forgery, link_key: &str) -> Result<TestRequest, String> {
        let headers = self.spy.inbound_headers();
        let genuine = || self.wire.success_notification(link_key, PRICE);
        let made = match forgery {
            Forgery::Forged => self
                .wire
                .forged_notification(link_key, PRICE)
                .or_else(|| forgery::with_forged_headers(&genuine(), headers)),
            Forgery::Unsigned => self
                .wire
                .unsigned_notification(link_key, PRICE)
                .or_else(|| forgery::without_headers(&genuine(), headers)),
            Forgery::Tampered => self
                .wire
                .tampered_notification(link_key, SIGNED_AMOUNT, PRICE)
                .or_else(|| {
                    let signed = self.wire.success_notification(link_key, SIGNED_AMOUNT);
                    forgery::with_amount(&signed, SIGNED_AMOUNT, PRICE)
                }),
        };
        made.ok_or_else(|| match forgery {
            Forgery::Forged | Forgery::Unsigned => format!(
                "endpoint `{}` is signed, but the success notification carries none of the headers the module declares it reads ({headers:?}), so the kit cannot forge its signature; declare the signature header in `inbound_headers`, or implement WireFormat::forged_notification and WireFormat::unsigned_notification",
                self.endpoint_name()
            ),
            Forgery::Tampered => format!(
                "the success notification for {SIGNED_AMOUNT} yen does not write the amount as `{SIGNED_AMOUNT}`, so the kit cannot tamper with it; implement WireFormat::tampered_notification"
            ),
        })
    }

    /// A notification from an address the endpoint's allowlist does not admit is refused.
    async fn strangers_are_refused(&self, ranges: &[IpRange]) -> Result<(), String> {
        let stranger = STRANGERS
            .into_iter()
            .find(|address| !ranges.iter().any(|range| range.contains(*address)))
            .ok_or_else(|| {
                format!(
                    "endpoint `{}` admits every documentation address ({}); allow only the gateway's addresses",
                    self.endpoint_name(),
                    STRANGERS.map(|a| a.to_string()).join(", ")
                )
            })?;
        let link_key = self.attempt().await?;
        let request = self.wire.success_notification(&link_key, PRICE);
        let what = format!("a success notification from {stranger} (outside the allowlist)");
        let sent = self.notify_from(stranger, &request).await?;
        ensure!(
            !sent.is(&self.acknowledgement(&request)),
            "{what} was acknowledged ({}); the gateway's answer must say the request was refused",
            sent.describe()
        );
        self.check_refusal(&request, &sent, Refusal::SourceNotAllowed, &what)?;
        self.expect_no_order(&link_key, &format!("after {what}"))
            .await
    }

    pub(crate) async fn retry_after_refused_acknowledgement(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.refuse_writes(true).await?;
        let refused = self.notify(&notification).await;
        self.refuse_writes(false).await?;
        let refused = refused?;
        let unavailable = self.expected(&notification, &Answer::Unavailable);
        ensure!(
            !refused.is(&self.acknowledgement(&notification)),
            "a notification the host could not store was acknowledged ({}); the gateway would never resend it",
            refused.describe()
        );
        ensure!(
            refused.is(&unavailable),
            "a notification the host could not store was answered {}, expected the module's \"unavailable\" (HTTP {} `{}`)",
            refused.describe(),
            unavailable.status,
            String::from_utf8_lossy(&unavailable.body)
        );
        self.expect_no_order(&link_key, "after a notification the host could not store")
            .await?;
        let retry = self.wire.success_notification(&link_key, PRICE);
        self.expect_acknowledged(&retry, "the gateway's retry")
            .await?;
        self.expect_one_paid_order(&link_key, "after the retry")
            .await?;
        let events = self.events(&link_key).await?;
        ensure!(
            events == 1,
            "the retry recorded {events} payment events, expected 1"
        );
        Ok(())
    }

    pub(crate) async fn invalid_settings_stop_module(&self) -> Result<(), String> {
        let link_key = self.attempt().await?;
        let report = self
            .state
            .engine
            .update_settings(
                &self.module_id,
                self.wire.invalid_settings(),
                self.state.store.as_ref(),
            )
            .await
            .map_err(|e| format!("the settings update failed outright: {e}"))?;
        ensure!(!report.ok, "the host accepted the invalid settings");
        ensure!(
            report.stopped_methods.contains(&self.method_name),
            "the payment method was not stopped (stopped: {:?})",
            report.stopped_methods
        );
        let method = self
            .state
            .store
            .payment_method(self.method_id)
            .await
            .map_err(|e| format!("payment method: {e}"))?
            .ok_or("the payment method disappeared")?;
        ensure!(!method.active, "the payment method is still in use (使用)");
        ensure!(
            self.state.engine.provided(&self.settlement_type).is_none(),
            "settlement type `{}` is still provided",
            self.settlement_type
        );
        let calls_before = self.spy.calls.load(Ordering::SeqCst);
        ensure!(
            checkout::confirm(&self.state, &link_key).await.is_err(),
            "an open attempt could still be sent to the gateway"
        );
        let notification = self.wire.success_notification(&link_key, PRICE);
        self.expect_not_acknowledged(
            &notification,
            "a notification while the settings are invalid",
        )
        .await?;
        let sent = self
            .browser_return(&self.wire.success_return(&link_key))
            .await?;
        ensure!(
            sent.status < 500,
            "a browser return while the settings are invalid was answered {}",
            sent.describe()
        );
        self.expect_no_order(&link_key, "while the settings are invalid")
            .await?;
        let calls = self.spy.calls.load(Ordering::SeqCst) - calls_before;
        ensure!(
            calls == 0,
            "the host called the module's payment methods {calls} time(s) while its settings were invalid"
        );
        let restored = self
            .state
            .engine
            .update_settings(
                &self.module_id,
                self.wire.valid_settings(),
                self.state.store.as_ref(),
            )
            .await
            .map_err(|e| format!("restoring the valid settings failed: {e}"))?;
        ensure!(restored.ok, "the valid settings no longer validate");
        Ok(())
    }
}
