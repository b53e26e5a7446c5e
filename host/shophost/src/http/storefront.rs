//! The storefront: plain server-rendered HTML in Japanese (placeholder until the full storefront lands).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::checkout::{self, ReturnView};
use crate::domain::{japanese_date, Member};
use crate::http::html::{self, escape, yen};
use crate::http::ApiError;
use crate::AppState;

/// The storefront routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/checkout/complete/{link_key}", get(complete))
}

/// Checks a member's e-mail and password.
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<Option<Member>, ApiError> {
    Ok(match state.store.member_by_email(email.trim()).await? {
        Some((member, hash)) if crate::members::verify_password(password, &hash) => Some(member),
        _ => None,
    })
}

async fn complete(State(state): State<AppState>, Path(link_key): Path<String>) -> Response {
    match checkout::view_for(&state, &link_key).await {
        Ok(ReturnView::Completed(order)) => {
            let mut body = format!(
                "<h2>ご注文ありがとうございました</h2><p>ご注文番号: <strong id=\"order-number\">{}</strong></p>\
                 <p>お支払方法: {}</p><p>合計: {}</p><p>入金状況: <span id=\"payment-status\">{}</span></p>",
                escape(&order.order_number),
                escape(&order.payment_method_name),
                yen(order.total),
                order.payment_status.label()
            );
            if let Some(slip) = &order.slip {
                body.push_str("<h3>ルミーズ・マルチ決済</h3><table>");
                body.push_str(&format!(
                    "<tr><th>ご請求番号</th><td>{}</td></tr>",
                    escape(&order.link_key)
                ));
                body.push_str(&format!(
                    "<tr><th>ご請求合計金額</th><td>{}</td></tr>",
                    yen(order.total)
                ));
                if let Some(deadline) = slip
                    .deadline
                    .as_deref()
                    .and_then(shophost_module_api::LocalDate::parse_yyyymmdd)
                {
                    body.push_str(&format!(
                        "<tr><th>お支払期限</th><td>{}（期限を過ぎますとお支払ができません）</td></tr>",
                        japanese_date(deadline)
                    ));
                }
                body.push_str(&format!(
                    "<tr><th>お支払先</th><td>{}</td></tr>",
                    escape(&slip.place)
                ));
                for (label, value, link) in &slip.rows {
                    let safe_link =
                        *link && (value.starts_with("https://") || value.starts_with("http://"));
                    let shown = if safe_link {
                        format!(
                            "<a href=\"{0}\" target=\"_blank\" rel=\"noopener\">{0}</a>",
                            escape(value)
                        )
                    } else {
                        escape(value)
                    };
                    body.push_str(&format!(
                        "<tr><th>{}</th><td>{shown}</td></tr>",
                        escape(label)
                    ));
                }
                body.push_str("</table>");
            }
            html::page(StatusCode::OK, "ご注文完了", &body)
        }
        Ok(ReturnView::Confirming(_)) => {
            let body = "<meta http-equiv=\"refresh\" content=\"2\"><h2>お支払いを確認しています</h2>\
                        <p class=\"notice\">決済会社からの結果通知を待っています。このページは自動で更新されます。</p>";
            html::page(StatusCode::OK, "お支払いを確認しています", body)
        }
        Ok(ReturnView::Failed(message)) => html::payment_failed_page(&message),
        Ok(ReturnView::Cancelled(_)) => {
            html::error_page(StatusCode::NOT_FOUND, "ご注文が見つかりません")
        }
        Err(checkout::CheckoutError::NotFound) => {
            html::error_page(StatusCode::NOT_FOUND, "ご注文が見つかりません")
        }
        Err(error) => html::error_page(StatusCode::SERVICE_UNAVAILABLE, &error.to_string()),
    }
}
