//! 利用中の決済モジュール: which registered modules are in use and in what order, chosen on the
//! 決済モジュール page as Welcart's 利用中のクレジット決済代行会社 (a checkbox and a 順番 per module,
//! saved with one button, no JavaScript needed).
//!
//! The choice goes to the engine's `set_in_use`, the function `PUT /admin/api/modules/in-use` calls.
//! When it would stop payment methods that are 使用, the engine changes nothing and names them: the
//! page then asks (「次の支払方法を「停止」にします」), and its form posts the same choice again with
//! `confirm=1`. Applied, the list page says what stopped, which modules came into use (their settings
//! valid or not, their methods waiting for 使用) and which modules out of use still listen.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::modules::{render_list, MENU};
use super::modules_engine::{modules_now, set_in_use, ModuleNow};
use super::{Chrome, ConsoleForm};
use crate::engine::{SelectionError, SelectionOutcome, SelectionReport};
use crate::http::forms::{field, field_values, Fields, FormErrors};
use crate::http::html;
use crate::AppState;

/// The largest 順番 accepted (far more than modules anyone registers).
const MAX_ORDER: u32 = 999;

/// One module in the form 「利用中の決済モジュール」.
pub(super) struct SelectionRow {
    pub id: String,
    pub display_name: String,
    /// Whether its checkbox is ticked.
    pub checked: bool,
    /// Its 順番 as the field shows it (empty: after the numbered ones).
    pub order: String,
}

/// The form as the engine holds it now: modules in use first, in their order, then the others by id.
pub(super) fn current_rows(modules: &[ModuleNow]) -> Vec<SelectionRow> {
    let mut rows: Vec<(Option<usize>, SelectionRow)> = modules
        .iter()
        .map(|module| {
            let position = module.overview.position.filter(|_| module.overview.in_use);
            (
                position,
                SelectionRow {
                    id: module.registered.id.clone(),
                    display_name: module.registered.display_name.clone(),
                    checked: position.is_some(),
                    order: position.map(|p| (p + 1).to_string()).unwrap_or_default(),
                },
            )
        })
        .collect();
    // In use by position, then the rest as registered (by id); `None` sorts after every `Some` here.
    rows.sort_by_key(|(position, _)| position.map_or((1, 0), |p| (0, p)));
    rows.into_iter().map(|(_, row)| row).collect()
}

/// The form as posted, for showing it again with its problems.
fn posted_rows(modules: &[ModuleNow], fields: &Fields) -> Vec<SelectionRow> {
    let ticked = field_values(fields, "use");
    let mut rows = current_rows(modules);
    for row in &mut rows {
        row.checked = ticked.contains(&row.id);
        row.order = field(fields, &order_field(&row.id));
    }
    rows
}

/// The name of a module's 順番 field.
fn order_field(id: &str) -> String {
    format!("order-{id}")
}

/// The modules ticked, in the order chosen: by 順番, those without one after the numbered ones, ties
/// in the order the form sent them (the page's order). A 順番 that is not a number from 1 is a
/// problem at its field.
pub(super) fn chosen_order(
    fields: &Fields,
    display_name: impl Fn(&str) -> String,
) -> Result<Vec<String>, FormErrors> {
    let mut errors = FormErrors::default();
    let mut chosen: Vec<(u32, String)> = Vec::new();
    for id in field_values(fields, "use") {
        let name = order_field(&id);
        let text = field(fields, &name);
        let text = text.trim();
        let order = if text.is_empty() {
            u32::MAX
        } else {
            match text.parse::<u32>() {
                Ok(order) if (1..=MAX_ORDER).contains(&order) => order,
                _ => {
                    errors.add(
                        name,
                        format!(
                            "{}の順番は1から{MAX_ORDER}までの半角数字で入力してください",
                            display_name(&id)
                        ),
                    );
                    continue;
                }
            }
        };
        chosen.push((order, id));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // A stable sort keeps the form's order among equal numbers.
    chosen.sort_by_key(|(order, _)| *order);
    Ok(chosen.into_iter().map(|(_, id)| id).collect())
}

/// A module named on the pages.
pub(super) struct Named {
    pub id: String,
    pub display_name: String,
}

/// A module put into use, as the page reports it.
pub(super) struct AddedRow {
    pub module: Named,
    pub settings_valid: bool,
    /// Its methods that are 停止 and wait for the operator to set them to 使用.
    pub waiting: Vec<String>,
}

/// What an applied change did, as the list page says it above the list.
pub(super) struct SelectionDone {
    /// The modules in use now, in order.
    pub in_use: Vec<Named>,
    pub added: Vec<AddedRow>,
    pub removed: Vec<Named>,
    pub stopped: Vec<String>,
    /// Why modules taken out of use still listen (or cannot).
    pub listening: Vec<String>,
}

impl SelectionDone {
    /// Whether everything is as the operator would want (nothing stopped, every added module valid).
    pub fn clean(&self) -> bool {
        self.stopped.is_empty() && self.added.iter().all(|a| a.settings_valid)
    }

    /// Whether some method waits for the operator in 支払方法.
    pub fn to_methods(&self) -> bool {
        !self.stopped.is_empty() || self.added.iter().any(|a| !a.waiting.is_empty())
    }
}

fn named(modules: &[ModuleNow], id: &str) -> Named {
    Named {
        id: id.to_owned(),
        display_name: modules
            .iter()
            .find(|m| m.registered.id == id)
            .map(|m| m.registered.display_name.clone())
            .unwrap_or_else(|| id.to_owned()),
    }
}

fn done(modules: &[ModuleNow], report: &SelectionReport) -> SelectionDone {
    SelectionDone {
        in_use: report.in_use.iter().map(|id| named(modules, id)).collect(),
        added: report
            .added
            .iter()
            .map(|added| AddedRow {
                module: named(modules, &added.module),
                settings_valid: added.settings_valid,
                waiting: added.methods_waiting_for_use.clone(),
            })
            .collect(),
        removed: report.removed.iter().map(|id| named(modules, id)).collect(),
        stopped: report.stopped_methods.clone(),
        listening: report
            .listening
            .iter()
            .filter(|l| report.removed.contains(&l.module))
            .map(|l| l.reason.clone())
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "console/modules_confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    /// The methods that would stop.
    methods: Vec<String>,
    /// The modules taken out of use.
    removed: Vec<Named>,
    /// The modules in use after the change, in order (posted again as the same choice).
    in_use: Vec<Named>,
}

/// `POST /admin/modules`: the form 「利用中の決済モジュール」.
pub(super) async fn choose(State(state): State<AppState>, form: ConsoleForm) -> Response {
    let modules = modules_now(&state);
    let name_of = |id: &str| named(&modules, id).display_name;
    let in_use = match chosen_order(&form.fields, name_of) {
        Ok(in_use) => in_use,
        Err(errors) => {
            let rows = posted_rows(&modules, &form.fields);
            return render_list(
                &state,
                &form.signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                rows,
                errors,
                None,
            );
        }
    };
    let confirm = form.get("confirm") == "1";
    let refused = |message: String| {
        let rows = posted_rows(&modules, &form.fields);
        render_list(
            &state,
            &form.signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            rows,
            FormErrors::general(message),
            None,
        )
    };
    match set_in_use(&state, in_use.clone(), confirm).await {
        Ok(SelectionOutcome::NeedsConfirmation {
            methods, removed, ..
        }) => {
            let page = ConfirmPage {
                chrome: Chrome::new(&form.signed, MENU),
                methods,
                removed: removed.iter().map(|id| named(&modules, id)).collect(),
                in_use: in_use.iter().map(|id| named(&modules, id)).collect(),
            };
            html::render(StatusCode::OK, &page)
        }
        Ok(SelectionOutcome::Applied(report)) => {
            tracing::info!(by = %form.signed.operator.login, in_use = ?report.in_use, stopped = ?report.stopped_methods, "console: modules in use changed");
            let outcome = done(&modules, &report);
            let now = modules_now(&state);
            render_list(
                &state,
                &form.signed,
                StatusCode::OK,
                current_rows(&now),
                FormErrors::default(),
                Some(outcome),
            )
        }
        Err(SelectionError::UnknownModule(id)) => {
            refused(format!("モジュール「{id}」は登録されていません。"))
        }
        Err(SelectionError::Duplicate(id)) => {
            refused(format!("モジュール「{id}」が重複しています。"))
        }
        Err(SelectionError::Db(error)) => super::unavailable(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn check(pairs: &[(&str, &str)], expect: Result<&[&str], &[&str]>) {
        let got = chosen_order(&fields(pairs), |id| id.to_uppercase());
        match (got, expect) {
            (Ok(ids), Ok(expect)) => assert_eq!(ids, expect),
            (Err(errors), Err(expect)) => assert_eq!(errors.messages(), expect),
            (got, expect) => panic!("{pairs:?}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn the_order_is_the_numbers_then_the_page() {
        check(&[], Ok(&[]));
        check(&[("order-a", "1")], Ok(&[]));
        check(&[("use", "a"), ("order-a", "")], Ok(&["a"]));
        check(
            &[
                ("use", "a"),
                ("order-a", "2"),
                ("use", "b"),
                ("order-b", "1"),
            ],
            Ok(&["b", "a"]),
        );
        // Without a number: after the numbered ones; equal numbers: as the page lists them.
        check(
            &[
                ("use", "a"),
                ("order-a", ""),
                ("use", "b"),
                ("order-b", " 3 "),
                ("use", "c"),
                ("order-c", "3"),
            ],
            Ok(&["b", "c", "a"]),
        );
        check(
            &[
                ("use", "a"),
                ("order-a", "x"),
                ("use", "b"),
                ("order-b", "0"),
            ],
            Err(&[
                "Aの順番は1から999までの半角数字で入力してください",
                "Bの順番は1から999までの半角数字で入力してください",
            ]),
        );
    }
}
