//! The conformance kit for shophost gateway modules: runs a module through a real host and checks the
//! behaviours every gateway must get right.
//!
//! # The key design decision: test the module *through the host*
//!
//! A module's own unit tests (see `shophost_module_api::testing`) show that it reads and writes its wire
//! format. What goes wrong in production is the seam: a duplicate notification that makes a second
//! order, a browser return that marks an order paid, a refusal that the gateway reads as "received", a
//! notification acknowledged although the database refused it. Those depend on what the module returns
//! *and* on what the host does with it, so the kit builds a real host state (SQLite in a temporary
//! directory, the module registered as it would be in production), creates checkout attempts through
//! the host's checkout code, and sends every request through the host's HTTP router in-process, from
//! 127.0.0.1.
//!
//! The module author describes the wire format once, by implementing [`WireFormat`]: settings that
//! validate (and allow notifications from 127.0.0.1), settings that do not, and how to make a successful
//! notification, a failed one, one that cannot be decoded, and a browser return. Then:
//!
//! ```text
//! #[tokio::test]
//! async fn my_module_conforms() {
//!     let report = shophost_testkit::run_conformance(Arc::new(MyModule), &MyWire).await;
//!     report.assert_passed();
//! }
//! ```
//!
//! # The checks
//!
//! See [`CHECKS`]; each is one entry in the [`Report`], passed or failed with the reason.
//!
//! # Map
//! - this file: [`run_conformance`], what a module author calls;
//! - `wire_format.rs`: [`WireFormat`], the trait the author implements, and [`TestRequest`];
//! - `report.rs`: the [`Report`] the run returns;
//! - `harness.rs`: the host the checks run against (SQLite in a scratch directory, requests through
//!   the router, the expected answers) and `spy.rs`, the module wrapper that counts calls;
//! - `checks.rs`: the list of [`CHECKS`] and the body of each; `forgery.rs`, the forged, unsigned and
//!   tampered requests `notification_trust` sends to a signed endpoint.

use std::sync::Arc;

use shophost_module_api::PaymentModule;

mod checks;
mod forgery;
mod harness;
mod report;
mod spy;
mod wire_format;

pub use checks::CHECKS;
pub use report::{CheckResult, Report};
pub use wire_format::{TestRequest, WireFormat};

use checks::check_settings;
use harness::Kit;

/// Runs every check in [`CHECKS`] against `module`, driven by `wire`. Never panics on a failed check:
/// the report says what failed (use [`Report::assert_passed`] in a test).
pub async fn run_conformance(module: Arc<dyn PaymentModule>, wire: &dyn WireFormat) -> Report {
    let mut report = Report {
        module_id: module.id().to_owned(),
        checks: Vec::new(),
    };
    let validation = check_settings(module.as_ref(), wire);
    let valid = validation.is_ok();
    report.checks.push(CheckResult {
        name: "settings_validation",
        outcome: validation,
    });
    if !valid {
        return report;
    }
    let kit = match Kit::start(module, wire).await {
        Ok(kit) => kit,
        Err(reason) => {
            report.checks.push(CheckResult {
                name: "setup",
                outcome: Err(reason),
            });
            return report;
        }
    };
    // Each check is the kit method of the same name.
    macro_rules! check {
        ($($name:ident),+) => {
            $(report.checks.push(CheckResult { name: stringify!($name), outcome: kit.$name().await });)+
        };
    }
    check!(
        payment_start,
        notification_before_return,
        duplicate_notification,
        return_without_notification,
        wrong_amount,
        failed_payment,
        undecodable_charset,
        notification_trust,
        retry_after_refused_acknowledgement
    );
    // Last: it leaves the module with invalid settings.
    check!(invalid_settings_stop_module);
    report
}
