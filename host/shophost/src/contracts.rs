//! 継続課金 (recurring contracts) as the operator handles them: the next charge to expect, and stopping
//! one. The admin API and the console call these same functions. Stopping is the shop's record only:
//! the gateway goes on charging until the operator stops it there too (a module has no call for it),
//! which the answer's notice says.

use thiserror::Error;

use crate::db::DbError;
use shophost_module_api::LocalDate;

use crate::domain::{local_date, now_millis, scheduled_charge, RecurringContract};
use crate::AppState;

/// Why a contract was not stopped.
#[derive(Debug, Error)]
pub enum ContractError {
    /// No contract has the id.
    #[error("継続課金が見つかりません")]
    NotFound,
    /// It is 停止 already.
    #[error("この継続課金はすでに停止しています")]
    AlreadyStopped,
    /// Storage failed.
    #[error(transparent)]
    Db(DbError),
}

/// A contract stopped, and the reminder to stop it at the gateway too.
#[derive(Debug)]
pub struct Stopped {
    /// The contract, now 停止.
    pub contract: RecurringContract,
    /// `notices::contract_stopped` for its module.
    pub notice: String,
}

/// Whether a contract is running (継続中).
pub fn running(contract: &RecurringContract) -> bool {
    contract.status == "continuation"
}

/// The next charge of a running contract on the schedule registered at the gateway (which charges
/// every interval by itself from its first date), or `None` for a stopped one.
pub fn next_charge_expected(contract: &RecurringContract) -> Option<LocalDate> {
    if !running(contract) {
        return None;
    }
    let today = local_date(now_millis());
    scheduled_charge(&contract.next_charge, contract.interval_months, today)
}

/// Marks contract `id` 停止 in the shop.
pub async fn stop(state: &AppState, id: i64) -> Result<Stopped, ContractError> {
    let contract = match state.store.stop_contract(id).await {
        Ok(contract) => contract,
        Err(DbError::Conflict("contract_stopped")) => return Err(ContractError::AlreadyStopped),
        Err(DbError::NotFound) => return Err(ContractError::NotFound),
        Err(error) => return Err(ContractError::Db(error)),
    };
    tracing::info!(
        contract = contract.id,
        order = contract.order_id,
        "recurring contract stopped"
    );
    let notice = crate::notices::contract_stopped(state, &contract.module_id);
    Ok(Stopped { contract, notice })
}
