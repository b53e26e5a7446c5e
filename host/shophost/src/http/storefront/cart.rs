//! The product list and the cart: adding, changing and removing lines, priced from the catalogue.

use std::collections::BTreeMap;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};

use super::session::{Session, Visit};
use super::views::{recurrence_label, CartPage, FormErrors, IndexPage, ProductCard};
use super::{field, see_other, Fields, PageResult, MAX_QUANTITY};
use crate::checkout::Totals;
use crate::db::{DbError, OrderFilter};
use crate::domain::customer::narrow_digit;
use crate::domain::{CartLine, TaxClass};
use crate::http::{html, PageError};
use crate::AppState;

pub(super) async fn index(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let visit = Visit::read(&state, &headers).await?;
    let products = crate::catalogue::on_sale(&state).await?;
    let page = IndexPage {
        shop_name: state.config.shop.name.clone(),
        products: products
            .into_iter()
            .map(|product| ProductCard {
                id: product.id,
                name: product.name,
                price: product.price,
                description: product.description,
                reduced: product.tax_class == TaxClass::Reduced,
                recurrence: product.recurrence.map(recurrence_label),
            })
            .collect(),
        max_quantity: MAX_QUANTITY,
    };
    Ok(visit.respond(html::render(StatusCode::OK, &page)))
}

pub(super) async fn cart_add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let product = match field(&fields, "product_id").trim().parse::<i64>() {
        // A stopped (停止) product is not offered.
        Ok(id) => state.store.product(id).await?.filter(|p| p.active),
        Err(_) => None,
    };
    let Some(product) = product else {
        return Ok(visit.respond(PageError::NotFound("商品が見つかりません".to_owned())));
    };
    let quantity = match field(&fields, "quantity").trim() {
        "" => 1,
        text => match parse_quantity(text) {
            Some(q) if q >= 1 => q,
            _ => {
                return Ok(visit.respond(PageError::BadRequest(
                    "数量は1から99までの数字で入力してください".to_owned(),
                )))
            }
        },
    };
    visit
        .update(&state, |s| {
            let line = s.cart.entry(product.id).or_insert(0);
            *line = (*line + quantity).min(MAX_QUANTITY);
            s.changed();
        })
        .await?;
    Ok(visit.respond(see_other("/cart")))
}

/// A quantity typed by the shopper: ASCII or full-width digits, 0 to 99.
fn parse_quantity(text: &str) -> Option<i64> {
    let ascii: String = text.trim().chars().map(narrow_digit).collect();
    ascii
        .parse::<i64>()
        .ok()
        .filter(|q| (0..=MAX_QUANTITY).contains(q))
}

pub(super) async fn cart_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    forget_finished_order(&state, &mut visit).await?;
    render_cart(&state, visit, FormErrors::default()).await
}

async fn render_cart(state: &AppState, visit: Visit, errors: FormErrors) -> PageResult {
    let lines = priced_cart(state, &visit.session).await?;
    let page = CartPage {
        totals: Totals::of(&lines, state.config.shop.shipping),
        lines,
        errors,
        max_quantity: MAX_QUANTITY,
    };
    Ok(visit.respond(html::render(StatusCode::OK, &page)))
}

pub(super) async fn cart_update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    if let Some((_, id)) = fields.iter().find(|(key, _)| key == "remove") {
        if let Ok(id) = id.parse::<i64>() {
            visit
                .update(&state, |s| {
                    if s.cart.remove(&id).is_some() {
                        s.changed();
                    }
                })
                .await?;
        }
        return Ok(visit.respond(see_other("/cart")));
    }
    let mut wanted = BTreeMap::new();
    let mut errors = FormErrors::default();
    for (key, value) in &fields {
        let Some(id) = key
            .strip_prefix("qty_")
            .and_then(|id| id.parse::<i64>().ok())
        else {
            continue;
        };
        match parse_quantity(value) {
            Some(quantity) => {
                wanted.insert(id, quantity);
            }
            // One message for the form (kept once), not one in each quantity box.
            None => errors.add("", "数量は0から99までの数字で入力してください"),
        }
    }
    if !errors.is_empty() {
        return render_cart(&state, visit, errors).await;
    }
    visit
        .update(&state, |s| {
            let before = s.cart.clone();
            for (id, quantity) in &wanted {
                if !s.cart.contains_key(id) {
                    continue;
                }
                if *quantity == 0 {
                    s.cart.remove(id);
                } else {
                    s.cart.insert(*id, *quantity);
                }
            }
            if s.cart != before {
                s.changed();
            }
        })
        .await?;
    if fields.iter().any(|(key, _)| key == "next") && !visit.session.cart.is_empty() {
        return Ok(visit.respond(see_other("/checkout/customer")));
    }
    Ok(visit.respond(see_other("/cart")))
}

/// If the session's attempt became an order (the shopper paid, maybe in another tab), start a new cart.
async fn forget_finished_order(state: &AppState, visit: &mut Visit) -> Result<(), DbError> {
    let Some(link_key) = visit.session.link_key.clone() else {
        return Ok(());
    };
    let filter = OrderFilter {
        link_key: Some(link_key.clone()),
        ..OrderFilter::default()
    };
    if !state.store.orders(&filter, 1).await?.is_empty() {
        visit
            .update(state, |s| s.order_placed_for(&link_key))
            .await?;
    }
    Ok(())
}

/// The session's cart priced from the catalogue, each line with its product's tax rate; products no
/// longer sold (deleted or stopped) drop out.
async fn priced_cart(state: &AppState, session: &Session) -> Result<Vec<CartLine>, DbError> {
    if session.cart.is_empty() {
        return Ok(Vec::new());
    }
    let products = crate::catalogue::on_sale(state).await?;
    Ok(session
        .cart
        .iter()
        .filter_map(|(id, quantity)| {
            products.iter().find(|p| p.id == *id).map(|p| CartLine {
                product_id: p.id,
                name: p.name.clone(),
                unit_price: p.price,
                quantity: *quantity,
                tax_rate: p.tax_class.rate(),
                recurring: None,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_accept_full_width_digits_and_refuse_nonsense() {
        assert_eq!(parse_quantity("3"), Some(3));
        assert_eq!(parse_quantity("１２"), Some(12));
        assert_eq!(parse_quantity("0"), Some(0));
        assert_eq!(parse_quantity("100"), None);
        assert_eq!(parse_quantity("-1"), None);
        assert_eq!(parse_quantity("abc"), None);
    }
}
