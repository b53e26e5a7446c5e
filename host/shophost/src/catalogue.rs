//! 商品 (products): what the operator may add, change and delete, checked once for the admin API and
//! the operator console alike (both call these functions; the HTTP handlers only translate).
//!
//! A product has a SKU (商品コード, unique, never changed), a name, a tax-included price (税込), a
//! description, 販売中/停止 (a stopped product stays for the orders that name it and is not offered
//! in the storefront), a tax class (標準税率 10 % or 軽減税率 8 %) and, for 継続課金, an interval
//! (1, 6 or 12 months) and a charging day (1–28, or 99 = the day of the first order). What is typed
//! arrives as text, as a form posts it (the JSON API turns its numbers into text), so each problem is
//! reported against its field, all at once. A product is deleted only while no checkout attempt
//! (決済直前ログ) or order names it; otherwise it can be stopped.

use crate::db::{DbError, NewProduct};
use crate::domain::customer::narrow_digit;
use crate::domain::{Product, ProductRecurrence, TaxClass, ORDER_DAY};
use crate::AppState;

/// Longest SKU, in characters.
pub const SKU_MAX: usize = 64;
/// Longest name, in characters.
pub const NAME_MAX: usize = 200;
/// Longest description, in characters.
pub const DESCRIPTION_MAX: usize = 5000;
/// Lowest price, yen: a gateway charges no 0-yen order.
pub const PRICE_MIN: i64 = 1;
/// Highest price, yen.
pub const PRICE_MAX: i64 = 99_999_999;

/// A product as typed. `None` means "not given": for a new product the default (empty, 販売中,
/// 標準税率, not recurring), for a change the product's current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductForm {
    /// 商品コード.
    pub sku: Option<String>,
    /// 商品名.
    pub name: Option<String>,
    /// 価格（税込）, as typed (ASCII or full-width digits, commas and `円` allowed).
    pub price: Option<String>,
    /// 説明.
    pub description: Option<String>,
    /// 販売中 / 停止: `true`/`false`, `on`/`off`, `1`/`0`, `販売中`/`停止`.
    pub active: Option<String>,
    /// 税率: `standard`/`reduced`, or `10`/`8`.
    pub tax_class: Option<String>,
    /// 継続課金: `Some(None)` makes it one-off, `Some(Some(…))` recurring.
    pub recurrence: Option<Option<RecurrenceForm>>,
}

/// 継続課金 as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecurrenceForm {
    /// 課金間隔 in months: 1, 6 or 12.
    pub interval_months: String,
    /// 課金日: 1–28, or 99 (the day of the order).
    pub charging_day: String,
}

/// One problem of a form, keyed by its field (`sku`, `name`, `price`, `description`, `active`,
/// `tax_class`, `interval_months`, `charging_day`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field, by its form and JSON name.
    pub field: &'static str,
    /// What to tell the operator, in Japanese.
    pub message: String,
}

/// Why a change of the catalogue was refused; messages in Japanese.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// What was typed does not pass the checks: every problem, by field.
    #[error("入力内容を確認してください")]
    Invalid(Vec<FieldProblem>),
    /// Refused for the current state (a SKU taken, a product orders name); the message says why.
    #[error("{0}")]
    Conflict(String),
    /// No product with that SKU.
    #[error("商品が見つかりません")]
    NotFound,
    /// Storage failed.
    #[error("ただいま混み合っています。しばらくしてからもう一度お試しください")]
    Unavailable(DbError),
}

impl From<DbError> for CatalogueError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => CatalogueError::NotFound,
            other => CatalogueError::Unavailable(other),
        }
    }
}

/// Every product, on sale or stopped (the operator's list), in id order.
pub async fn products(state: &AppState) -> Result<Vec<Product>, DbError> {
    state.store.products().await
}

/// The products the storefront offers: those on sale (販売中).
pub async fn on_sale(state: &AppState) -> Result<Vec<Product>, DbError> {
    let mut products = state.store.products().await?;
    products.retain(|product| product.active);
    Ok(products)
}

/// One product by SKU.
pub async fn product(state: &AppState, sku: &str) -> Result<Product, CatalogueError> {
    state
        .store
        .product_by_sku(sku)
        .await?
        .ok_or(CatalogueError::NotFound)
}

/// Adds a product. A SKU that exists is refused (nothing is changed).
pub async fn add(state: &AppState, form: &ProductForm) -> Result<Product, CatalogueError> {
    let new = check(form, None)?;
    if state.store.product_by_sku(&new.sku).await?.is_some() {
        return Err(sku_taken(&new.sku));
    }
    match state.store.create_product(&new).await {
        // Another request added the same SKU between the look and the insert.
        Err(DbError::Conflict("products_sku_key")) => Err(sku_taken(&new.sku)),
        other => Ok(other?),
    }
}

/// Changes the product with SKU `sku`: what the form gives replaces the current value, the rest stays.
/// Orders and attempts already made keep the names, prices and tax rates they were made with.
pub async fn edit(
    state: &AppState,
    sku: &str,
    form: &ProductForm,
) -> Result<Product, CatalogueError> {
    let current = product(state, sku).await?;
    let changed = check(form, Some(&current))?;
    Ok(state.store.update_product(sku, &changed).await?)
}

/// Makes a product recurring (継続課金) or one-off, by the same rules as [`edit`].
pub async fn set_recurrence(
    state: &AppState,
    sku: &str,
    recurrence: Option<RecurrenceForm>,
) -> Result<Product, CatalogueError> {
    let form = ProductForm {
        recurrence: Some(recurrence),
        ..ProductForm::default()
    };
    edit(state, sku, &form).await
}

/// Deletes a product, unless a checkout attempt (決済直前ログ) or an order names it: then it is
/// refused with the reason, and the product can be stopped (停止) instead.
pub async fn delete(state: &AppState, sku: &str) -> Result<(), CatalogueError> {
    match state.store.delete_product(sku).await {
        Err(DbError::Conflict("product_in_orders")) => Err(CatalogueError::Conflict(
            "この商品を含むご注文（または決済直前ログ）があるため削除できません。\
             販売を停止してください"
                .to_owned(),
        )),
        other => Ok(other?),
    }
}

fn sku_taken(sku: &str) -> CatalogueError {
    CatalogueError::Conflict(format!(
        "商品コード「{sku}」の商品はすでにあります。変更するときは商品の編集をお使いください"
    ))
}

/// Checks a form: the product it describes, or every problem by field. `current` is the product being
/// changed (whose SKU stays), `None` for a new one.
pub fn check(form: &ProductForm, current: Option<&Product>) -> Result<NewProduct, CatalogueError> {
    let mut problems = Vec::new();
    let mut problem = |field: &'static str, message: &str| {
        problems.push(FieldProblem {
            field,
            message: message.to_owned(),
        })
    };

    let sku = match (current, form.sku.as_deref().map(str::trim)) {
        (Some(current), None) => current.sku.clone(),
        (Some(current), Some(sku)) => {
            if sku != current.sku {
                problem("sku", "商品コードは変更できません");
            }
            current.sku.clone()
        }
        (None, sku) => {
            let sku = sku.unwrap_or_default();
            if sku.is_empty() || sku.chars().count() > SKU_MAX {
                problem("sku", "商品コードを64文字以内で入力してください");
            } else if sku
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '%'))
            {
                problem("sku", "商品コードに空白と / ? # % は使えません");
            }
            sku.to_owned()
        }
    };

    let name = text(form.name.as_deref(), current.map(|p| p.name.as_str()));
    if name.is_empty() {
        problem("name", "商品名を入力してください");
    } else if name.chars().count() > NAME_MAX {
        problem("name", "商品名は200文字以内で入力してください");
    }

    let price = match (form.price.as_deref(), current) {
        (None, Some(current)) => current.price,
        (typed, _) => match parse_number(typed.unwrap_or_default()) {
            Number::Empty => {
                problem("price", "価格（税込）を入力してください");
                0
            }
            Number::Unreadable => {
                problem("price", "価格は数字で入力してください");
                0
            }
            Number::Value(price) if !(PRICE_MIN..=PRICE_MAX).contains(&price) => {
                problem("price", "価格は1円から99,999,999円までです");
                0
            }
            Number::Value(price) => price,
        },
    };

    let description = match form.description.as_deref() {
        Some(typed) => typed.trim().to_owned(),
        None => current.map(|p| p.description.clone()).unwrap_or_default(),
    };
    if description.chars().count() > DESCRIPTION_MAX {
        problem("description", "説明は5000文字以内で入力してください");
    }

    let active = match form.active.as_deref() {
        None => current.is_none_or(|p| p.active),
        Some(typed) => match typed.trim() {
            "true" | "on" | "1" | "販売中" => true,
            "false" | "off" | "0" | "停止" => false,
            _ => {
                problem("active", "販売状態は販売中か停止を選んでください");
                true
            }
        },
    };

    let tax_class = match form.tax_class.as_deref() {
        None => current.map(|p| p.tax_class).unwrap_or_default(),
        Some(typed) => TaxClass::parse(typed).unwrap_or_else(|| {
            problem(
                "tax_class",
                "税率は標準税率（10%）か軽減税率（8%）を選んでください",
            );
            TaxClass::Standard
        }),
    };

    let recurrence = match &form.recurrence {
        None => current.and_then(|p| p.recurrence),
        Some(None) => None,
        Some(Some(typed)) => {
            let interval = match parse_number(&typed.interval_months) {
                Number::Value(months @ (1 | 6 | 12)) => months as u32,
                _ => {
                    problem(
                        "interval_months",
                        "課金間隔は1か月・6か月・12か月から選んでください",
                    );
                    1
                }
            };
            let day = match parse_number(&typed.charging_day) {
                Number::Value(day) if (1..=28).contains(&day) || day == i64::from(ORDER_DAY) => {
                    day as u32
                }
                _ => {
                    problem(
                        "charging_day",
                        "課金日は1日から28日まで、またはご注文日（99）を指定してください",
                    );
                    ORDER_DAY
                }
            };
            Some(ProductRecurrence {
                interval_months: interval,
                charging_day: day,
            })
        }
    };

    if !problems.is_empty() {
        return Err(CatalogueError::Invalid(problems));
    }
    Ok(NewProduct {
        sku,
        name,
        price,
        description,
        active,
        tax_class,
        recurrence,
    })
}

/// A text field: what was typed, trimmed, or the current value when nothing was.
fn text(typed: Option<&str>, current: Option<&str>) -> String {
    typed.or(current).unwrap_or_default().trim().to_owned()
}

enum Number {
    Empty,
    Unreadable,
    Value(i64),
}

/// A whole number as typed: ASCII or full-width digits, thousands commas and a trailing `円` allowed.
fn parse_number(typed: &str) -> Number {
    let digits: String = typed
        .trim()
        .trim_end_matches('円')
        .chars()
        .map(narrow_digit)
        .filter(|c| !matches!(c, ',' | '，'))
        .collect();
    if digits.is_empty() {
        return Number::Empty;
    }
    match digits.parse::<i64>() {
        Ok(value) => Number::Value(value),
        Err(_) => Number::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)]) -> ProductForm {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        ProductForm {
            sku: get("sku"),
            name: get("name"),
            price: get("price"),
            description: get("description"),
            active: get("active"),
            tax_class: get("tax_class"),
            recurrence: None,
        }
    }

    fn problems(result: Result<NewProduct, CatalogueError>) -> Vec<&'static str> {
        match result {
            Err(CatalogueError::Invalid(problems)) => problems.iter().map(|p| p.field).collect(),
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn a_new_product_takes_defaults_and_typed_numbers() {
        let new = check(
            &form(&[
                ("sku", "TEA01"),
                ("name", " 静岡 煎茶 "),
                ("price", "１，０８０円"),
                ("tax_class", "8"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(new.name, "静岡 煎茶");
        assert_eq!(new.price, 1080);
        assert_eq!(new.tax_class, TaxClass::Reduced);
        assert!(new.active);
        assert_eq!(new.recurrence, None);
    }

    #[test]
    fn every_problem_is_reported_by_its_field() {
        let result = check(
            &form(&[
                ("sku", "a/b"),
                ("price", "abc"),
                ("tax_class", "5"),
                ("active", "maybe"),
            ]),
            None,
        );
        assert_eq!(
            problems(result),
            ["sku", "name", "price", "active", "tax_class"]
        );
        assert_eq!(
            problems(check(
                &form(&[("sku", "X"), ("name", "n"), ("price", "-1")]),
                None
            )),
            ["price"]
        );
        assert_eq!(
            problems(check(
                &form(&[("sku", "X"), ("name", "n"), ("price", "０円")]),
                None
            )),
            ["price"]
        );
        let mut recurring = form(&[("sku", "X"), ("name", "n"), ("price", "1")]);
        recurring.recurrence = Some(Some(RecurrenceForm {
            interval_months: "3".into(),
            charging_day: "31".into(),
        }));
        assert_eq!(
            problems(check(&recurring, None)),
            ["interval_months", "charging_day"]
        );
    }

    #[test]
    fn a_change_keeps_what_it_does_not_give_and_never_the_sku() {
        let current = Product {
            id: 1,
            sku: "TEA01".into(),
            name: "煎茶".into(),
            price: 1080,
            description: "説明".into(),
            active: true,
            tax_class: TaxClass::Reduced,
            recurrence: Some(ProductRecurrence {
                interval_months: 1,
                charging_day: ORDER_DAY,
            }),
        };
        let changed = check(
            &form(&[("price", "1200"), ("active", "停止")]),
            Some(&current),
        )
        .unwrap();
        assert_eq!(changed.price, 1200);
        assert!(!changed.active);
        assert_eq!(
            (changed.sku.as_str(), changed.name.as_str()),
            ("TEA01", "煎茶")
        );
        assert_eq!(changed.tax_class, TaxClass::Reduced);
        assert_eq!(changed.recurrence, current.recurrence);
        assert_eq!(
            problems(check(&form(&[("sku", "OTHER")]), Some(&current))),
            ["sku"]
        );
    }
}
