//! 商品: the list of products (on sale and stopped), the form that adds or changes one, and its
//! deletion. Every rule is in `crate::catalogue`, which the admin API's products calls too: a handler
//! turns the posted form into a `ProductForm`, calls one catalogue function, and shows each problem
//! next to its field, or goes back to the list with what was done (POST-redirect-GET).

use askama::Template;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::{Chrome, ConsoleForm, Signed};
use crate::catalogue::{self, CatalogueError, ProductForm, RecurrenceForm};
use crate::domain::{Product, ProductRecurrence, TaxClass, ORDER_DAY};
use crate::http::forms::FormErrors;
use crate::http::html::{self, filters};
use crate::AppState;

/// The menu entry of every products screen.
const MENU: &str = "/admin/products";

/// One product as listed.
struct Row {
    sku: String,
    name: String,
    price: i64,
    rate: u32,
    reduced: bool,
    active: bool,
    recurrence: String,
    edit_path: String,
}

#[derive(Template)]
#[template(path = "console/products.html")]
struct ProductsPage {
    chrome: Chrome,
    rows: Vec<Row>,
    notice: String,
}

/// One option of a select.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// What the form shows: a product's values, or what was posted.
struct Values {
    sku: String,
    name: String,
    price: String,
    description: String,
    /// `standard` or `reduced` (or what was posted).
    tax_class: String,
    /// `true` (販売中) or `false` (停止) (or what was posted).
    active: String,
    recurring: bool,
    interval_months: String,
    charging_day: String,
}

#[derive(Template)]
#[template(path = "console/product_form.html")]
struct ProductFormPage {
    chrome: Chrome,
    /// Adding a new product (else changing `values.sku`).
    adding: bool,
    /// Where the form posts.
    action: String,
    values: Values,
    intervals: Vec<Choice>,
    days: Vec<Choice>,
    errors: FormErrors,
    /// The deletion was refused: offer to stop the product instead. `Some(true)` while it is on sale.
    delete_refused: Option<bool>,
}

impl ProductFormPage {
    fn new(signed: &Signed, adding: bool, values: Values, errors: FormErrors) -> ProductFormPage {
        let intervals = [
            (1, "毎月（1か月ごと）"),
            (6, "6か月ごと"),
            (12, "毎年（12か月ごと）"),
        ]
        .into_iter()
        .map(|(months, label)| Choice {
            selected: values.interval_months.trim() == months.to_string(),
            value: months.to_string(),
            label: label.to_owned(),
        })
        .collect();
        let days = std::iter::once(ORDER_DAY)
            .chain(1..=28)
            .map(|day| Choice {
                selected: values.charging_day.trim() == day.to_string(),
                value: day.to_string(),
                label: if day == ORDER_DAY {
                    "ご注文日と同じ日".to_owned()
                } else {
                    format!("{day}日")
                },
            })
            .collect();
        ProductFormPage {
            chrome: Chrome::new(signed, MENU),
            adding,
            action: if adding {
                "/admin/products/new".to_owned()
            } else {
                edit_path(&values.sku)
            },
            values,
            intervals,
            days,
            errors,
            delete_refused: None,
        }
    }
}

/// The edit page's path of a SKU. Every character but letters and digits is escaped, and a SKU
/// spelled `new` is escaped too, so it reaches its product rather than the page that adds one.
fn edit_path(sku: &str) -> String {
    if sku == "new" {
        return "/admin/products/%6Eew".to_owned();
    }
    format!(
        "/admin/products/{}",
        utf8_percent_encode(sku, NON_ALPHANUMERIC)
    )
}

/// 継続課金 as the list shows it: 「毎月・注文日と同じ日」, 「6か月ごと・10日」.
fn recurrence_summary(recurrence: ProductRecurrence) -> String {
    let day = if recurrence.charging_day == ORDER_DAY {
        "注文日と同じ日".to_owned()
    } else {
        format!("{}日", recurrence.charging_day)
    };
    format!("{}・{day}", recurrence.interval_label())
}

fn row(product: Product) -> Row {
    Row {
        edit_path: edit_path(&product.sku),
        rate: product.tax_class.rate(),
        reduced: product.tax_class == TaxClass::Reduced,
        recurrence: product
            .recurrence
            .map(recurrence_summary)
            .unwrap_or_default(),
        sku: product.sku,
        name: product.name,
        price: product.price,
        active: product.active,
    }
}

/// A product's values for its form.
fn values_of(product: &Product) -> Values {
    Values {
        sku: product.sku.clone(),
        name: product.name.clone(),
        price: product.price.to_string(),
        description: product.description.clone(),
        tax_class: product.tax_class.as_str().to_owned(),
        active: product.active.to_string(),
        recurring: product.recurrence.is_some(),
        interval_months: product
            .recurrence
            .map_or(1, |r| r.interval_months)
            .to_string(),
        charging_day: product
            .recurrence
            .map_or(ORDER_DAY, |r| r.charging_day)
            .to_string(),
    }
}

/// The values of a new product's empty form.
fn blank() -> Values {
    Values {
        sku: String::new(),
        name: String::new(),
        price: String::new(),
        description: String::new(),
        tax_class: TaxClass::Standard.as_str().to_owned(),
        active: "true".to_owned(),
        recurring: false,
        interval_months: "1".to_owned(),
        charging_day: ORDER_DAY.to_string(),
    }
}

/// What was posted, shown again with its problems.
fn values_posted(form: &ConsoleForm, sku: &str) -> Values {
    Values {
        sku: sku.to_owned(),
        name: form.get("name"),
        price: form.get("price"),
        description: form.get("description"),
        tax_class: form.get("tax_class"),
        active: form.get("active"),
        recurring: form.get("recurring") == "yes",
        interval_months: form.get("interval_months"),
        charging_day: form.get("charging_day"),
    }
}

/// The posted form as the catalogue reads it: a field the form did not post is `None` (a new
/// product's default, a changed product's current value), as in the admin API.
fn product_form(form: &ConsoleForm) -> ProductForm {
    let given = |name: &str| {
        form.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let recurrence = given("recurring").map(|recurring| {
        (recurring == "yes").then(|| RecurrenceForm {
            interval_months: form.get("interval_months"),
            charging_day: form.get("charging_day"),
        })
    });
    ProductForm {
        sku: given("sku"),
        name: given("name"),
        price: given("price"),
        description: given("description"),
        active: given("active"),
        tax_class: given("tax_class"),
        recurrence,
    }
}

/// A refusal of the catalogue as the form's problems and the page's status (`conflict_field`: where a
/// refusal for the current state is shown). A missing product or a storage failure is given back, for
/// [`error_page`].
fn refusal(
    error: CatalogueError,
    conflict_field: &str,
) -> Result<(StatusCode, FormErrors), CatalogueError> {
    let mut errors = FormErrors::default();
    match error {
        CatalogueError::Invalid(problems) => {
            for problem in problems {
                errors.add(problem.field, problem.message);
            }
            Ok((StatusCode::UNPROCESSABLE_ENTITY, errors))
        }
        CatalogueError::Conflict(message) => {
            errors.add(conflict_field, message);
            Ok((StatusCode::CONFLICT, errors))
        }
        other => Err(other),
    }
}

/// The page of a catalogue error no form shows: a storage failure (the console's page for it, as on
/// every console screen) or no such product (named, where `PageError` would say only "page").
fn error_page(error: CatalogueError) -> Response {
    match error {
        CatalogueError::Unavailable(error) => super::unavailable(error),
        _ => not_found(),
    }
}

fn not_found() -> Response {
    html::error_page(
        StatusCode::NOT_FOUND,
        "商品が見つかりません。削除されたか、商品コードが違います。",
    )
}

/// Back to the list, saying what was done.
fn done(what: &str, sku: &str) -> Response {
    let sku = utf8_percent_encode(sku, NON_ALPHANUMERIC);
    Redirect::to(&format!("/admin/products?done={what}&sku={sku}")).into_response()
}

#[derive(Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    sku: String,
}

/// 商品一覧.
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Query(done): Query<Done>,
) -> Response {
    let products = match catalogue::products(&state).await {
        Ok(products) => products,
        Err(error) => return super::unavailable(error),
    };
    let notice = match done.done.as_str() {
        "created" => format!("商品コード「{}」の商品を追加しました。", done.sku),
        "saved" => format!("商品コード「{}」の商品を更新しました。", done.sku),
        "deleted" => format!("商品コード「{}」の商品を削除しました。", done.sku),
        _ => String::new(),
    };
    let page = ProductsPage {
        chrome: Chrome::new(&signed, MENU),
        rows: products.into_iter().map(row).collect(),
        notice,
    };
    html::render(StatusCode::OK, &page)
}

/// 新規商品追加: the empty form.
pub(super) async fn new_form(Extension(signed): Extension<Signed>) -> Response {
    let page = ProductFormPage::new(&signed, true, blank(), FormErrors::default());
    html::render(StatusCode::OK, &page)
}

/// Adds the posted product; a SKU that exists is refused at the SKU field.
pub(super) async fn create(State(state): State<AppState>, form: ConsoleForm) -> Response {
    let (status, errors) = match catalogue::add(&state, &product_form(&form)).await {
        Ok(product) => {
            tracing::info!(by = %form.signed.operator.login, sku = %product.sku, "console: product added");
            return done("created", &product.sku);
        }
        Err(error) => match refusal(error, "sku") {
            Ok(refused) => refused,
            Err(error) => return error_page(error),
        },
    };
    let values = values_posted(&form, form.get("sku").trim());
    html::render(
        status,
        &ProductFormPage::new(&form.signed, true, values, errors),
    )
}

/// 商品編集: the product's form.
pub(super) async fn edit_form(
    State(state): State<AppState>,
    Extension(signed): Extension<Signed>,
    Path(sku): Path<String>,
) -> Response {
    match catalogue::product(&state, &sku).await {
        Ok(product) => {
            let page =
                ProductFormPage::new(&signed, false, values_of(&product), FormErrors::default());
            html::render(StatusCode::OK, &page)
        }
        Err(error) => error_page(error),
    }
}

/// Changes the product with the posted values (a field not posted keeps its value).
pub(super) async fn save(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    form: ConsoleForm,
) -> Response {
    let (status, errors) = match catalogue::edit(&state, &sku, &product_form(&form)).await {
        Ok(product) => {
            tracing::info!(by = %form.signed.operator.login, sku = %product.sku, active = product.active, "console: product changed");
            return done("saved", &product.sku);
        }
        Err(error) => match refusal(error, "") {
            Ok(refused) => refused,
            Err(error) => return error_page(error),
        },
    };
    let values = values_posted(&form, &sku);
    html::render(
        status,
        &ProductFormPage::new(&form.signed, false, values, errors),
    )
}

/// Deletes the product, or, while an order or a checkout attempt names it, shows its form with the
/// reason and the offer to stop it instead.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    form: ConsoleForm,
) -> Response {
    let (status, errors) = match catalogue::delete(&state, &sku).await {
        Ok(()) => {
            tracing::info!(by = %form.signed.operator.login, %sku, "console: product deleted");
            return done("deleted", &sku);
        }
        Err(error) => match refusal(error, "") {
            Ok(refused) => refused,
            Err(error) => return error_page(error),
        },
    };
    let product = match catalogue::product(&state, &sku).await {
        Ok(product) => product,
        Err(error) => return error_page(error),
    };
    let mut page = ProductFormPage::new(&form.signed, false, values_of(&product), errors);
    page.delete_refused = Some(product.active);
    html::render(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_paths_reach_the_product_and_never_the_new_form() {
        assert_eq!(edit_path("SKU001"), "/admin/products/SKU001");
        assert_eq!(edit_path("new"), "/admin/products/%6Eew");
        assert_eq!(edit_path("茶-1"), "/admin/products/%E8%8C%B6%2D1");
    }

    #[test]
    fn recurrence_reads_as_the_list_shows_it() {
        let every = |interval_months, charging_day| {
            recurrence_summary(ProductRecurrence {
                interval_months,
                charging_day,
            })
        };
        assert_eq!(every(1, ORDER_DAY), "毎月・注文日と同じ日");
        assert_eq!(every(6, 10), "6か月ごと・10日");
        assert_eq!(every(12, 1), "毎年・1日");
    }
}
