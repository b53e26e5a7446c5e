//! The gateways bundled with the host, behind the cargo feature `remise` (on by default): the one
//! place, with `sandbox.rs`, where the host names a gateway.
//!
//! `inventory` registers a module only if its crate is linked; referencing each bundled gateway here
//! makes sure the linker keeps it, so the registry never silently lacks one. The demo payment methods
//! for the bundled gateway are seeded here too.

use crate::db::Store;
use crate::engine::Engine;
use crate::registry::{RegisteredModule, Registry, RegistryError};

/// Builds the registry from every compiled-in module plus already-loaded dynamic ones.
pub fn registry(loaded: Vec<RegisteredModule>) -> Result<Registry, RegistryError> {
    #[cfg(feature = "remise")]
    remise::force_link();
    Registry::build(shophost_module_api::compiled_in_modules(), loaded)
}

/// With `shop.demo_data`: the demo payment methods of the bundled gateway, in use when their settlement
/// types are provided, once (only into a shop without any payment method).
#[cfg(feature = "remise")]
pub async fn seed_demo_methods(store: &dyn Store, engine: &Engine) -> anyhow::Result<()> {
    use crate::db::NewPaymentMethod;
    if !store.payment_methods().await?.is_empty() {
        return Ok(());
    }
    let demo = [
        ("クレジットカード決済", "ルミーズ・カード決済サービス（VISA / Mastercard / JCB）", remise::SETTLEMENT_CARD),
        ("コンビニ・電子マネー決済", "ルミーズ・マルチ決済サービス（セブン-イレブン、ローソン、ファミリーマート、ペイジー、WebMoney）", remise::SETTLEMENT_CONV),
    ];
    for (name, explanation, settlement_type) in demo {
        let active = engine.provided(settlement_type).is_some();
        store
            .create_payment_method(&NewPaymentMethod {
                name: name.to_owned(),
                explanation: explanation.to_owned(),
                settlement_type: settlement_type.to_owned(),
                active,
            })
            .await?;
    }
    Ok(())
}

/// Without a bundled gateway there are no demo payment methods: the operator creates them.
#[cfg(not(feature = "remise"))]
pub async fn seed_demo_methods(_store: &dyn Store, _engine: &Engine) -> anyhow::Result<()> {
    Ok(())
}
