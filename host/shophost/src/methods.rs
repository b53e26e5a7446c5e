//! 支払方法: the rules of the operator's payment methods, once, for the JSON admin API
//! (`http/admin/methods.rs`) and the console's pages (`http/console/methods.rs`).
//!
//! A method may be 使用 only while a module provides its settlement type now; its type is chosen
//! among those provided (a method may keep a type no longer provided, stopped); its explanation is
//! operator HTML sanitised with ammonia before it is stored, as the shopper will see it; its name is
//! unique (the schema's `payment_methods_name_key`); a method an order or attempt refers to is never
//! deleted, only stopped; the operator's order is kept by moving a method past its neighbour.

use crate::db::{DbError, NewPaymentMethod, Store};
use crate::domain::{MoveDirection, PaymentMethod};
use crate::engine::Engine;

/// What the operator entered for a method (the API's body, the console's form).
#[derive(Debug, Clone, Default)]
pub struct MethodInput {
    /// 支払方法名.
    pub name: String,
    /// 説明 (operator HTML, sanitised before it is stored).
    pub explanation: String,
    /// 決済種別.
    pub settlement_type: String,
    /// Welcart's 決済モジュール field: must stay blank.
    pub module: String,
    /// 使用 (true) or 停止.
    pub active: bool,
}

/// One problem with an entry, about one field (`name`, `explanation`, `settlement_type`, `module`,
/// `active`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodProblem {
    /// The field.
    pub field: &'static str,
    /// What is wrong, in Japanese.
    pub message: String,
    /// Whether the entry clashes with the shop's state (a name taken, a type not provided now) rather
    /// than being malformed: the JSON API answers 409 for these, 422 with the fields for the others.
    pub conflict: bool,
}

/// Why a method could not be saved, moved or deleted.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    /// The entry breaks a rule; each problem names its field.
    #[error("{}", .0.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(" / "))]
    Invalid(Vec<MethodProblem>),
    /// No such method.
    #[error("支払方法が見つかりません")]
    NotFound,
    /// An order or attempt refers to the method: it can only be stopped.
    #[error("この支払方法を使った注文があるため削除できません。停止にしてください")]
    InUse,
    /// Storage failed.
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for MethodError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => MethodError::NotFound,
            DbError::Conflict("payment_methods_name_key") => {
                MethodError::Invalid(vec![MethodProblem {
                    field: "name",
                    message: "同じ名前の支払方法がすでにあります".to_owned(),
                    conflict: true,
                }])
            }
            DbError::Conflict("orders") => MethodError::InUse,
            other => MethodError::Db(other),
        }
    }
}

/// Sanitises an operator's explanation: formatting and images are kept, scripts and handlers are not.
/// What it returns is exactly what the storefront shows.
pub fn sanitise_explanation(html: &str) -> String {
    ammonia::Builder::default().clean(html).to_string()
}

/// A settlement type a module provides now, as the operator chooses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeChoice {
    /// The type's id (`acting_…`).
    pub id: String,
    /// The type's label.
    pub label: String,
    /// The providing module's display name.
    pub module_name: String,
}

/// The settlement types provided now, module by module.
pub fn type_choices(engine: &Engine) -> Vec<TypeChoice> {
    engine
        .states()
        .values()
        .filter(|state| state.config.is_some())
        .flat_map(|state| {
            state.settlement_types.iter().map(|t| TypeChoice {
                id: t.id.clone(),
                label: t.label.clone(),
                module_name: state.registered.display_name.clone(),
            })
        })
        .collect()
}

/// Whether a method can be offered, and if not, why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodStatus {
    /// 使用: offered to shoppers.
    InUse,
    /// 停止, as the operator chose, with its type provided.
    Stopped,
    /// 停止 because no module provides its type now: the module's settings are invalid or it no
    /// longer offers the type (`module` is the module's id), the module is out of use, or no module
    /// of the shop owns the type (`None`).
    Unavailable {
        /// The module that owns the type, when the shop has it.
        module: Option<String>,
        /// Whether that module is in use (its settings are then what to fix).
        in_use: bool,
    },
}

/// The status of `method` now.
pub fn status(engine: &Engine, method: &PaymentMethod) -> MethodStatus {
    if method.active {
        return MethodStatus::InUse;
    }
    if engine.provided(&method.settlement_type).is_some() {
        return MethodStatus::Stopped;
    }
    if let Some(owner) = engine.owner_of(&method.settlement_type) {
        return MethodStatus::Unavailable {
            module: Some(owner.registered.id),
            in_use: true,
        };
    }
    let module = engine
        .registry()
        .modules()
        .iter()
        .find(|m| {
            method
                .settlement_type
                .starts_with(&format!("acting_{}_", m.id))
        })
        .map(|m| m.id.clone());
    MethodStatus::Unavailable {
        module,
        in_use: false,
    }
}

/// Checks an entry against the rules; `existing` is the method being changed (none when adding).
/// Every problem is reported, each with its field.
pub fn check(
    engine: &Engine,
    input: &MethodInput,
    existing: Option<&PaymentMethod>,
) -> Result<NewPaymentMethod, Vec<MethodProblem>> {
    let mut problems = Vec::new();
    let mut problem = |field, message: String, conflict| {
        problems.push(MethodProblem {
            field,
            message,
            conflict,
        })
    };
    let name = input.name.trim();
    if name.is_empty() {
        problem("name", "支払方法名を入力してください".to_owned(), false);
    }
    if !input.module.is_empty() {
        problem(
            "module",
            "決済モジュールは空白にしてください".to_owned(),
            false,
        );
    }
    let provided = engine.provided(&input.settlement_type).is_some();
    let keeps_type = existing.is_some_and(|m| m.settlement_type == input.settlement_type);
    if input.settlement_type.is_empty() {
        problem(
            "settlement_type",
            "決済種別を選んでください".to_owned(),
            false,
        );
    } else if !provided && !keeps_type {
        problem(
            "settlement_type",
            format!(
                "決済種別 `{}` は現在利用できません（利用できる決済種別: {}）",
                input.settlement_type,
                engine.provided_type_ids().join(", ")
            ),
            false,
        );
    } else if input.active && !provided {
        problem(
            "active",
            format!(
                "決済種別 `{}` が提供されていないため「使用」にできません。決済モジュールの設定を確認してください",
                input.settlement_type
            ),
            true,
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(NewPaymentMethod {
        name: name.to_owned(),
        explanation: sanitise_explanation(&input.explanation),
        settlement_type: input.settlement_type.clone(),
        active: input.active,
    })
}

/// Adds a method at the bottom of the operator's order.
pub async fn create(
    store: &dyn Store,
    engine: &Engine,
    input: &MethodInput,
) -> Result<PaymentMethod, MethodError> {
    let new = check(engine, input, None).map_err(MethodError::Invalid)?;
    Ok(store.create_payment_method(&new).await?)
}

/// Changes method `id` (its place in the order stays).
pub async fn update(
    store: &dyn Store,
    engine: &Engine,
    id: i64,
    input: &MethodInput,
) -> Result<PaymentMethod, MethodError> {
    let existing = store
        .payment_method(id)
        .await?
        .ok_or(MethodError::NotFound)?;
    let new = check(engine, input, Some(&existing)).map_err(MethodError::Invalid)?;
    Ok(store.update_payment_method(id, &new).await?)
}

/// Deletes method `id`, unless an order or attempt refers to it ([`MethodError::InUse`]); returns
/// the method deleted.
pub async fn delete(store: &dyn Store, id: i64) -> Result<PaymentMethod, MethodError> {
    let method = store
        .payment_method(id)
        .await?
        .ok_or(MethodError::NotFound)?;
    store.delete_payment_method(id).await?;
    Ok(method)
}

/// Moves method `id` one place up or down in the operator's order (the storefront and the checkout
/// API follow it); returns the method.
pub async fn move_method(
    store: &dyn Store,
    id: i64,
    direction: MoveDirection,
) -> Result<PaymentMethod, MethodError> {
    store.move_payment_method(id, direction).await?;
    store.payment_method(id).await?.ok_or(MethodError::NotFound)
}
