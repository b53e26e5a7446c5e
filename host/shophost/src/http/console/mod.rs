//! The operator console (管理画面) under `/admin`: server-rendered Japanese pages from the templates
//! in `templates/console/`, working without JavaScript (`/assets/console.js` adds copy buttons and
//! confirmation dialogs).
//!
//! Every page but the sign-in needs a live operator session ([`auth::require_operator`]); every form
//! post is read through [`auth::ConsoleForm`], which checks the session's CSRF token, and cross-site
//! posts are refused before any handler (`cross_origin`). Pages call the same functions as the JSON
//! admin API (`http/admin`), never the gateway.
//!
//! One file per screen: `sign_in.rs`, `dashboard.rs` (its pictures' geometry in `charts.rs`),
//! `methods.rs` (支払方法), `operators.rs`, `modules.rs` (決済モジュール, with its settings form derived
//! in `settings_form.rs`, the choice of modules in use in `modules_selection.rs` and its calls into
//! the engine in `modules_engine.rs`), `products.rs` (商品, on `crate::catalogue`), `attempts.rs`
//! (決済直前ログ and 受注データ登録, on `crate::attempt_log`), `members.rs` (会員, ペイクイックを解除する on
//! `crate::members`), `contracts.rs` (継続課金, 停止 on `crate::contracts`), `settlement_errors.rs`
//! (決済エラーログ), `journal.rs` (通知ジャーナル), `refused.rs` (拒否した通知),
//! `mail.rs` (送信メール and メール設定, on `crate::mail::actions`), `orders.rs` (受注リスト and an order's page, on `crate::orders`) with its CSV download in
//! `orders_csv.rs`.

mod attempts;
pub mod auth;
mod charts;
mod contracts;
mod dashboard;
mod journal;
mod mail;
mod members;
mod methods;
mod modules;
mod modules_engine;
mod modules_selection;
mod operators;
mod orders;
mod orders_csv;
mod products;
mod refused;
mod settings_form;
mod settlement_errors;
mod sign_in;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub use auth::{ConsoleForm, Signed};

/// What the frame of every console page shows: who is signed in, the form token of the sign-out
/// button, and which menu entry is the current page.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The operator's login.
    pub login: String,
    /// The session's form token.
    pub csrf: String,
    /// The menu entry of this page (its path).
    pub current: &'static str,
}

impl Chrome {
    /// The frame for `signed` on the page of menu entry `current`.
    pub fn new(signed: &Signed, current: &'static str) -> Chrome {
        Chrome {
            login: signed.operator.login.clone(),
            csrf: signed.csrf.clone(),
            current,
        }
    }

    /// The menu: (path, label).
    pub fn menu(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("/admin", "ダッシュボード"),
            ("/admin/orders", "受注リスト"),
            ("/admin/attempts", "決済直前ログ"),
            ("/admin/settlement-errors", "決済エラーログ"),
            ("/admin/journal", "通知ジャーナル"),
            ("/admin/mail", "送信メール"),
            ("/admin/members", "会員"),
            ("/admin/contracts", "継続課金"),
            ("/admin/products", "商品"),
            ("/admin/methods", "支払方法"),
            ("/admin/modules", "決済モジュール"),
            ("/admin/operators", "運営者"),
        ]
    }
}

/// The console's pages that need a session.
fn signed_routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard::page))
        .route("/admin/", get(dashboard::page))
        .route("/admin/logout", post(sign_in::sign_out))
        .route("/admin/attempts", get(attempts::list))
        .route("/admin/attempts/{link_key}", get(attempts::detail))
        .route(
            "/admin/attempts/{link_key}/register",
            post(attempts::register),
        )
        .route("/admin/methods", get(methods::list))
        .route(
            "/admin/methods/new",
            get(methods::new_form).post(methods::create),
        )
        .route(
            "/admin/methods/{id}",
            get(methods::edit_form).post(methods::update),
        )
        .route("/admin/methods/{id}/delete", post(methods::delete))
        .route("/admin/methods/{id}/move", post(methods::move_method))
        .route(
            "/admin/modules",
            get(modules::list).post(modules_selection::choose),
        )
        .route(
            "/admin/modules/{id}",
            get(modules::settings).post(modules::save),
        )
        .route("/admin/members", get(members::list))
        .route("/admin/members/{id}", get(members::detail))
        .route(
            "/admin/members/{id}/cards/{module}/release",
            post(members::release),
        )
        .route("/admin/contracts", get(contracts::list))
        .route("/admin/contracts/{id}", get(contracts::detail))
        .route("/admin/contracts/{id}/stop", post(contracts::stop))
        .route("/admin/orders", get(orders::list))
        .route("/admin/orders.csv", get(orders_csv::download))
        .route("/admin/orders/{number}", get(orders::detail))
        .route(
            "/admin/orders/{number}/clear-attention",
            post(orders::clear_attention),
        )
        .route("/admin/orders/{number}/status", post(orders::change_status))
        .route("/admin/products", get(products::list))
        .route(
            "/admin/products/new",
            get(products::new_form).post(products::create),
        )
        .route(
            "/admin/products/{sku}",
            get(products::edit_form).post(products::save),
        )
        .route("/admin/products/{sku}/delete", post(products::delete))
        .route(
            "/admin/modules/{id}/revert",
            axum::routing::post(modules::revert),
        )
        .route(
            "/admin/operators",
            get(operators::page).post(operators::create),
        )
        .route("/admin/operators/{login}/disable", post(operators::disable))
        .route("/admin/operators/{login}/enable", post(operators::enable))
        .route("/admin/journal", get(journal::list))
        .route("/admin/journal/{id}", get(journal::entry))
        .route("/admin/journal/{id}/replay", post(journal::replay))
        .route("/admin/mail", get(mail::list))
        .route(
            "/admin/mail/settings",
            get(mail::settings).post(mail::save_settings),
        )
        .route("/admin/mail/test", post(mail::send_test))
        .route("/admin/mail/{id}", get(mail::detail))
        .route("/admin/mail/{id}/resend", post(mail::resend))
        .route(
            "/admin/orders/{number}/send-confirmation",
            post(orders::send_confirmation),
        )
        .route("/admin/refused", get(refused::list))
        .route("/admin/refused/{id}/replay", post(refused::replay))
        .route("/admin/settlement-errors", get(settlement_errors::list))
        .route(
            "/admin/settlement-errors/delete-all",
            post(settlement_errors::delete_all),
        )
        .route(
            "/admin/settlement-errors/{id}",
            get(settlement_errors::detail),
        )
        .route(
            "/admin/settlement-errors/{id}/log.txt",
            get(settlement_errors::download),
        )
        .route(
            "/admin/settlement-errors/{id}/delete",
            post(settlement_errors::delete),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            auth::require_operator,
        ))
}

/// Every console route (mounted at the root; all under `/admin`).
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/login", get(sign_in::page).post(sign_in::submit))
        .merge(signed_routes(state))
}

/// The page for a storage failure (its detail logged, never shown).
pub(crate) fn unavailable(error: crate::db::DbError) -> axum::response::Response {
    tracing::error!(%error, "console: storage failed");
    crate::http::html::error_page(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "データベースに接続できません。しばらくしてからもう一度お試しください。",
    )
}
