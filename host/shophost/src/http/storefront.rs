//! The storefront: plain server-rendered HTML in Japanese. Product list, cart, the checkout steps
//! (お客様情報 → 発送・支払方法 → 内容確認 → the gateway → ご注文完了) and the member pages (ログイン,
//! 会員登録, マイページ, クレジットカード変更).
//!
//! Sessions live in the database (`storefront_sessions`): a random id in the `shophost_session` cookie
//! (HttpOnly, SameSite=Lax, so another site cannot post a form with it) keys a JSON row, changed in one
//! transaction per change, so a restart keeps carts and logins and several host processes behind a load
//! balancer serve the same shopper. They end a day after their last change (the scheduled jobs sweep
//! them). Nothing that matters after the gateway is in the session — attempts and orders have their own
//! tables, and the gateway return finds the order by its link key, not by the cookie.
//!
//! The session keeps the current attempt's link key, so that showing the confirm page again reuses the
//! attempt (one link key per attempt, not per page view); any change to the cart, the customer, the
//! payment method or the login drops it, and the next confirm page stores a new attempt.
//!
//! The confirm page carries the gateway form, so it is served in the gateway's charset (Shift_JIS for
//! Remise) and the browser submits exactly the bytes the gateway expects. A value the charset cannot
//! carry is refused by the host before the page is built, and the confirm page then shows why instead of
//! the form: mojibake is never sent to the gateway.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shophost_module_api::SettlementKind;

use crate::checkout::{self, CartInputLine, CheckoutError, CheckoutInput, Confirmed, ReturnView};
use crate::db::{DbError, OrderFilter};
use crate::domain::{
    japanese_date, local_date, local_datetime, now_millis, scheduled_charge, Attempt, AttemptKind,
    AttemptState, CartLine, CustomerDetails, Member, MemberCard, ProductRecurrence, ORDER_DAY,
};
use crate::http::html::{self, escape, yen};
use crate::http::ApiError;
use crate::AppState;

/// The storefront routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/cart", get(cart_page))
        .route("/cart/add", post(cart_add))
        .route("/cart/update", post(cart_update))
        .route(
            "/checkout/customer",
            get(customer_page).post(customer_submit),
        )
        .route(
            "/checkout/delivery",
            get(delivery_page).post(delivery_submit),
        )
        .route("/checkout/confirm", get(confirm_page))
        .route("/checkout/complete/{link_key}", get(complete))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/register", get(register_page).post(register_submit))
        .route("/mypage", get(mypage))
        .route("/mypage/card", post(card_update_start))
        .route(
            "/mypage/card/done",
            get(card_update_done).post(card_update_returned),
        )
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

// ---------------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------------

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "shophost_session";

/// A session unused this long is forgotten.
const SESSION_IDLE: Duration = Duration::from_secs(24 * 60 * 60);

/// Largest quantity of one product in the cart (the host refuses more).
const MAX_QUANTITY: i64 = 99;

/// What the storefront remembers about one shopper between requests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Session {
    /// Product id → quantity.
    cart: BTreeMap<i64, i64>,
    /// お客様情報, once entered.
    customer: Option<CustomerDetails>,
    /// The chosen payment method.
    payment_method_id: Option<i64>,
    /// Its checkout options (e.g. `div`).
    options: BTreeMap<String, String>,
    /// 備考.
    note: String,
    /// The logged-in member.
    member_id: Option<i64>,
    /// The current attempt's link key, while nothing it was made from has changed.
    link_key: Option<String>,
    /// Bumped on every change that invalidates the attempt, so a confirm page that was building an
    /// attempt from older data while the shopper changed something does not keep it.
    revision: u64,
    /// The link key of the member's last card-update attempt.
    card_update_key: Option<String>,
}

impl Session {
    /// Something the attempt is made from changed: the next confirm page needs a new attempt.
    fn changed(&mut self) {
        self.link_key = None;
        self.revision += 1;
    }

    /// The order for the current attempt exists: start a new cart.
    fn order_placed(&mut self) {
        self.cart.clear();
        self.note.clear();
        self.changed();
    }
}

/// 32 random bytes from the OS CSPRNG, in hex: a session id nobody can guess.
fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Whether a cookie value is one of our session ids (64 hex digits).
fn is_session_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Sessions changed before this are over.
fn fresh_after() -> i64 {
    now_millis() - SESSION_IDLE.as_millis() as i64
}

/// One request's view of the shopper's session: a copy read at the start, changes written back at once.
/// Sessions live in the database, so any host process behind a load balancer can serve the next request.
struct Visit {
    id: Option<String>,
    session: Session,
    set_cookie: Option<String>,
    secure: bool,
}

impl Visit {
    async fn read(state: &AppState, headers: &HeaderMap) -> Result<Visit, DbError> {
        let secure = state.config.public_url.starts_with("https://");
        let mut visit = Visit {
            id: None,
            session: Session::default(),
            set_cookie: None,
            secure,
        };
        if let Some(id) = cookie_value(headers, SESSION_COOKIE).filter(|id| is_session_id(id)) {
            if let Some(data) = state.store.session(&id, fresh_after()).await? {
                visit.session = serde_json::from_str(&data).unwrap_or_default();
                visit.id = Some(id);
            }
        }
        Ok(visit)
    }

    fn cookie(&self, id: &str, max_age: Option<u32>) -> String {
        let mut cookie = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(max_age) = max_age {
            let _ = write!(cookie, "; Max-Age={max_age}");
        }
        if self.secure {
            cookie.push_str("; Secure");
        }
        cookie
    }

    /// Applies `change` to the stored session (starting one if there is none) and keeps the result.
    /// Changes go to the stored session, not to this request's copy, so two requests of one shopper
    /// do not undo each other's changes.
    async fn update<R: Send>(
        &mut self,
        state: &AppState,
        change: impl FnOnce(&mut Session) -> R + Send,
    ) -> Result<R, DbError> {
        // Sessions are only started by a change; idle ones are swept by the scheduled jobs.
        let (id, new) = match &self.id {
            Some(id) => (id.clone(), false),
            None => (new_session_id(), true),
        };
        let mut result = None;
        let mut after = None;
        {
            let (result, after) = (&mut result, &mut after);
            state
                .store
                .modify_session(
                    &id,
                    fresh_after(),
                    now_millis(),
                    Box::new(move |data| {
                        let mut session: Session = data
                            .and_then(|data| serde_json::from_str(&data).ok())
                            .unwrap_or_default();
                        *result = Some(change(&mut session));
                        let text = serde_json::to_string(&session).unwrap_or_default();
                        *after = Some(session);
                        text
                    }),
                )
                .await?;
        }
        if new {
            self.set_cookie = Some(self.cookie(&id, None));
            self.id = Some(id);
        }
        self.session = after.unwrap_or_default();
        result.ok_or_else(|| DbError::Corrupt("the session change did not run".to_owned()))
    }

    /// A new session id for the same session, at login, so an id planted before login is worthless.
    async fn rotate(&mut self, state: &AppState) -> Result<(), DbError> {
        let mut session = self.session.clone();
        if let Some(old) = self.id.take() {
            if let Some(data) = state.store.session(&old, fresh_after()).await? {
                session = serde_json::from_str(&data).unwrap_or(session);
            }
            state.store.delete_session(&old).await?;
        }
        let id = new_session_id();
        let text = serde_json::to_string(&session).unwrap_or_default();
        state
            .store
            .modify_session(&id, fresh_after(), now_millis(), Box::new(move |_| text))
            .await?;
        self.session = session;
        self.set_cookie = Some(self.cookie(&id, None));
        self.id = Some(id);
        Ok(())
    }

    /// Forgets the session (logout): cart, details and login.
    async fn end(&mut self, state: &AppState) -> Result<(), DbError> {
        if let Some(id) = self.id.take() {
            state.store.delete_session(&id).await?;
        }
        self.session = Session::default();
        self.set_cookie = Some(self.cookie("", Some(0)));
        Ok(())
    }

    /// The response, with the session cookie when one was started.
    fn respond(self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        if let Some(cookie) = self.set_cookie {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        // Pages show the shopper's cart and details: never let a shared cache keep them.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

// ---------------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------------

/// A page that could not be built; the HTML error page to show instead.
struct PageError(Response);

/// In a handler that answers with a page either way: the value, or the error page at once.
macro_rules! or_page {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(error) => return PageError::from(error).0,
        }
    };
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0
    }
}

fn unavailable(detail: &str) -> PageError {
    tracing::error!(%detail, "storefront request failed");
    PageError(html::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "ただいま混み合っています。しばらくしてからもう一度お試しください",
    ))
}

impl From<DbError> for PageError {
    fn from(error: DbError) -> Self {
        unavailable(&error.to_string())
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        unavailable(&error.to_string())
    }
}

impl From<CheckoutError> for PageError {
    fn from(error: CheckoutError) -> Self {
        match error {
            CheckoutError::Input(message) => {
                PageError(html::error_page(StatusCode::BAD_REQUEST, &message))
            }
            CheckoutError::NotFound => PageError(html::error_page(
                StatusCode::NOT_FOUND,
                "お支払い手続きが見つかりません",
            )),
            CheckoutError::Unavailable(db) => db.into(),
        }
    }
}

type PageResult = Result<Response, PageError>;

/// A submitted form as name/value pairs (repeated and unknown names are harmless).
type Fields = Vec<(String, String)>;

fn field(fields: &Fields, name: &str) -> String {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

fn error_box(problems: &[String]) -> String {
    if problems.is_empty() {
        return String::new();
    }
    let items: String = problems
        .iter()
        .map(|p| format!("<li>{}</li>", escape(p)))
        .collect();
    format!("<div class=\"error\" id=\"form-errors\"><ul>{items}</ul></div>")
}

/// The only places a `next` parameter may send the shopper after login: never another site.
fn safe_next(next: &str) -> &'static str {
    [
        "/cart",
        "/checkout/customer",
        "/checkout/delivery",
        "/checkout/confirm",
        "/mypage",
    ]
    .into_iter()
    .find(|allowed| *allowed == next)
    .unwrap_or("/mypage")
}

/// The session's cart priced from the catalogue; products no longer sold drop out.
async fn priced_cart(state: &AppState, session: &Session) -> Result<Vec<CartLine>, DbError> {
    if session.cart.is_empty() {
        return Ok(Vec::new());
    }
    let products = state.store.products().await?;
    Ok(session
        .cart
        .iter()
        .filter_map(|(id, quantity)| {
            products.iter().find(|p| p.id == *id).map(|p| CartLine {
                product_id: p.id,
                name: p.name.clone(),
                unit_price: p.price,
                quantity: *quantity,
                recurring: None,
            })
        })
        .collect())
}

/// Totals as the host computes them for an attempt: prices include 10% tax, the tax shown is the
/// included part, rounded down.
struct Totals {
    items: i64,
    shipping: i64,
    total: i64,
    tax: i64,
}

fn totals(lines: &[CartLine], shipping: i64) -> Totals {
    let items: i64 = lines.iter().map(|l| l.unit_price * l.quantity).sum();
    let total = items + shipping;
    Totals {
        items,
        shipping,
        total,
        tax: total * 10 / 110,
    }
}

fn lines_table(lines: &[CartLine], totals: &Totals) -> String {
    let mut html = String::from(
        "<table class=\"lines\"><tr><th>商品名</th><th>単価</th><th>数量</th><th>金額</th></tr>",
    );
    for line in lines {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&line.name),
            yen(line.unit_price),
            line.quantity,
            yen(line.unit_price * line.quantity)
        );
    }
    let _ = write!(
        html,
        "<tr><th colspan=\"3\">商品合計</th><td>{}</td></tr>\
         <tr><th colspan=\"3\">送料</th><td>{}</td></tr>\
         <tr><th colspan=\"3\">お支払い金額</th><td><strong id=\"total\">{}</strong>（内消費税 {}）</td></tr></table>",
        yen(totals.items),
        yen(totals.shipping),
        yen(totals.total),
        yen(totals.tax)
    );
    html
}

fn customer_table(customer: &CustomerDetails) -> String {
    let kana = format!("{} {}", customer.family_kana, customer.given_kana);
    let address = format!(
        "〒{} {}{} {} {}",
        customer.postcode,
        customer.prefecture,
        customer.address1,
        customer.address2,
        customer.address3
    );
    format!(
        "<table class=\"customer\"><tr><th>お名前</th><td>{} 様</td></tr>\
         <tr><th>フリガナ</th><td>{}</td></tr><tr><th>メールアドレス</th><td>{}</td></tr>\
         <tr><th>住所</th><td>{}</td></tr><tr><th>電話番号</th><td>{}</td></tr></table>",
        escape(&customer.full_name()),
        escape(kana.trim()),
        escape(&customer.email),
        escape(address.trim()),
        escape(&customer.phone)
    )
}

/// Steps of the checkout, for the header of each step's page.
fn steps(current: usize) -> String {
    let names = [
        "カート",
        "お客様情報",
        "発送・支払方法",
        "内容確認",
        "ご注文完了",
    ];
    let items: String = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if i == current {
                format!("<li><strong>{name}</strong></li>")
            } else {
                format!("<li>{name}</li>")
            }
        })
        .collect();
    format!("<ol class=\"steps\">{items}</ol>")
}

// ---------------------------------------------------------------------------------------------------
// Products and cart
// ---------------------------------------------------------------------------------------------------

async fn index(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let visit = Visit::read(&state, &headers).await?;
    let products = state.store.products().await?;
    let mut body = format!("<h2>{}</h2>", escape(&state.config.shop.name));
    if products.is_empty() {
        body.push_str("<p>現在お取り扱いの商品はありません。</p>");
    }
    for product in &products {
        let _ = write!(
            body,
            "<section class=\"product\" id=\"product-{id}\"><h3>{name}</h3>\
             <p class=\"price\">{price}（税込）{recurring}</p><p>{description}</p>\
             <form method=\"post\" action=\"/cart/add\"><input type=\"hidden\" name=\"product_id\" value=\"{id}\">\
             <label>数量 <input type=\"number\" name=\"quantity\" value=\"1\" min=\"1\" max=\"{MAX_QUANTITY}\"></label>\
             <button type=\"submit\">カートに入れる</button></form></section>",
            id = product.id,
            name = escape(&product.name),
            price = yen(product.price),
            recurring = product
                .recurrence
                .map(|r| format!(
                    " <span class=\"recurring\">{}（継続課金・会員のみ・カード決済）</span>",
                    recurrence_label(r)
                ))
                .unwrap_or_default(),
            description = escape(&product.description),
        );
    }
    Ok(visit.respond(html::page(StatusCode::OK, "商品一覧", &body)))
}

/// 毎月 / 6か月ごと / 毎年, with the charging day.
fn recurrence_label(recurrence: ProductRecurrence) -> String {
    let every = match recurrence.interval_months {
        1 => "毎月".to_owned(),
        12 => "毎年".to_owned(),
        months => format!("{months}か月ごと"),
    };
    if recurrence.charging_day == ORDER_DAY {
        format!("{every}（ご注文日と同じ日）")
    } else {
        format!("{every}{}日", recurrence.charging_day)
    }
}

async fn cart_add(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let product = match field(&fields, "product_id").trim().parse::<i64>() {
        Ok(id) => state.store.product(id).await?,
        Err(_) => None,
    };
    let Some(product) = product else {
        return Ok(visit.respond(html::error_page(
            StatusCode::NOT_FOUND,
            "商品が見つかりません",
        )));
    };
    let quantity = match field(&fields, "quantity").trim() {
        "" => 1,
        text => match parse_quantity(text) {
            Some(q) if q >= 1 => q,
            _ => {
                return Ok(visit.respond(html::error_page(
                    StatusCode::BAD_REQUEST,
                    "数量は1から99までの数字で入力してください",
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

/// Full-width digits and hyphen-like characters as ASCII (Japanese input methods type them).
fn narrow_digit(c: char) -> char {
    match c {
        '０'..='９' => char::from(b'0' + (u32::from(c) - u32::from('０')) as u8),
        'ー' | '－' | '―' | '‐' | '−' => '-',
        other => other,
    }
}

async fn cart_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    forget_finished_order(&state, &mut visit).await?;
    render_cart(&state, visit, &[]).await
}

async fn render_cart(state: &AppState, visit: Visit, problems: &[String]) -> PageResult {
    let lines = priced_cart(state, &visit.session).await?;
    let mut body = format!("{}<h2>カート</h2>{}", steps(0), error_box(problems));
    if lines.is_empty() {
        body.push_str("<p id=\"cart-empty\">カートに商品はありません。</p><p><a href=\"/\">商品一覧へ</a></p>");
        return Ok(visit.respond(html::page(StatusCode::OK, "カート", &body)));
    }
    let sums = totals(&lines, state.config.shop.shipping);
    body.push_str(
        "<form id=\"cart-form\" method=\"post\" action=\"/cart/update\"><table class=\"lines\">\
         <tr><th>商品名</th><th>単価</th><th>数量</th><th>金額</th><th></th></tr>",
    );
    let mut remove_forms = String::new();
    for line in &lines {
        // The remove buttons belong to forms outside the cart form, so that Enter in a quantity box
        // submits the cart form's first button (update), never a remove button.
        let _ = write!(
            body,
            "<tr><td>{name}</td><td>{price}</td><td><input type=\"number\" name=\"qty_{id}\" value=\"{qty}\" \
             min=\"0\" max=\"{MAX_QUANTITY}\" aria-label=\"{name}の数量\"></td><td>{amount}</td>\
             <td><button type=\"submit\" form=\"remove-{id}\">削除</button></td></tr>",
            id = line.product_id,
            name = escape(&line.name),
            price = yen(line.unit_price),
            qty = line.quantity,
            amount = yen(line.unit_price * line.quantity),
        );
        let _ = write!(
            remove_forms,
            "<form id=\"remove-{id}\" method=\"post\" action=\"/cart/update\">\
             <input type=\"hidden\" name=\"remove\" value=\"{id}\"></form>",
            id = line.product_id
        );
    }
    let _ = write!(
        body,
        "<tr><th colspan=\"3\">商品合計</th><td colspan=\"2\">{}</td></tr>\
         <tr><th colspan=\"3\">送料</th><td colspan=\"2\">{}</td></tr>\
         <tr><th colspan=\"3\">合計</th><td colspan=\"2\"><strong id=\"total\">{}</strong>（内消費税 {}）</td></tr></table>\
         <p><button type=\"submit\" name=\"update\" value=\"1\">数量を更新</button> \
         <button type=\"submit\" name=\"next\" value=\"1\" id=\"cart-next\">次へ</button></p></form>{remove_forms}\
         <p><a href=\"/\">買い物を続ける</a></p>",
        yen(sums.items),
        yen(sums.shipping),
        yen(sums.total),
        yen(sums.tax),
    );
    Ok(visit.respond(html::page(StatusCode::OK, "カート", &body)))
}

async fn cart_update(
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
    let mut problems = Vec::new();
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
            None => problems.push("数量は0から99までの数字で入力してください".to_owned()),
        }
    }
    if !problems.is_empty() {
        problems.dedup();
        return render_cart(&state, visit, &problems).await;
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
            .update(state, |s| {
                if s.link_key.as_deref() == Some(link_key.as_str()) {
                    s.order_placed();
                }
            })
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// Checkout: customer details
// ---------------------------------------------------------------------------------------------------

const PREFECTURES: [&str; 47] = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
];

/// The customer as typed, trimmed; digits in the postcode and phone narrowed to ASCII.
fn read_customer(fields: &Fields) -> CustomerDetails {
    let text = |name: &str| field(fields, name).trim().to_owned();
    let narrow = |name: &str| -> String {
        text(name)
            .chars()
            .map(narrow_digit)
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    CustomerDetails {
        email: text("email"),
        family_name: text("family_name"),
        given_name: text("given_name"),
        family_kana: text("family_kana"),
        given_kana: text("given_kana"),
        postcode: narrow("postcode"),
        prefecture: text("prefecture"),
        address1: text("address1"),
        address2: text("address2"),
        address3: text("address3"),
        phone: narrow("phone"),
    }
}

fn is_kana(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{309F}' | '\u{30A0}'..='\u{30FF}' | '\u{FF65}'..='\u{FF9F}' | ' ' | '\u{3000}')
}

/// What is wrong with the customer's details, as messages for the shopper.
fn customer_problems(customer: &CustomerDetails) -> Vec<String> {
    let mut problems = Vec::new();
    let required = [
        (&customer.family_name, "お名前（姓）"),
        (&customer.given_name, "お名前（名）"),
        (&customer.email, "メールアドレス"),
        (&customer.postcode, "郵便番号"),
        (&customer.address1, "市区町村・番地"),
        (&customer.phone, "電話番号"),
    ];
    for (value, label) in required {
        if value.is_empty() {
            problems.push(format!("{label}を入力してください"));
        }
    }
    let all = [
        (&customer.family_name, "お名前（姓）"),
        (&customer.given_name, "お名前（名）"),
        (&customer.family_kana, "フリガナ（セイ）"),
        (&customer.given_kana, "フリガナ（メイ）"),
        (&customer.email, "メールアドレス"),
        (&customer.address1, "市区町村・番地"),
        (&customer.address2, "番地・部屋番号など"),
        (&customer.address3, "ビル名"),
    ];
    for (value, label) in all {
        if value.chars().count() > 100 {
            problems.push(format!("{label}は100文字以内で入力してください"));
        }
        if value.chars().any(char::is_control) {
            problems.push(format!("{label}に使えない文字が含まれています"));
        }
    }
    for (value, label) in [
        (&customer.family_kana, "フリガナ（セイ）"),
        (&customer.given_kana, "フリガナ（メイ）"),
    ] {
        if !value.chars().all(is_kana) {
            problems.push(format!("{label}はカタカナで入力してください"));
        }
    }
    let email = &customer.email;
    if !email.is_empty() {
        let valid = email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && email.is_ascii()
                && !email.chars().any(|c| c.is_whitespace() || c == ',')
        });
        if !valid {
            problems.push("メールアドレスが正しくありません".to_owned());
        }
    }
    let postcode_digits: String = customer.postcode.replace('-', "");
    let postcode_ok = postcode_digits.len() == 7
        && postcode_digits.chars().all(|c| c.is_ascii_digit())
        && customer.postcode.matches('-').count() <= 1;
    if !customer.postcode.is_empty() && !postcode_ok {
        problems.push("郵便番号は7桁の数字で入力してください（例: 100-0001）".to_owned());
    }
    if !PREFECTURES.contains(&customer.prefecture.as_str()) {
        problems.push("都道府県を選んでください".to_owned());
    }
    let phone_digits = customer.phone.chars().filter(char::is_ascii_digit).count();
    let phone_ok = customer
        .phone
        .chars()
        .all(|c| c.is_ascii_digit() || c == '-')
        && (10..=11).contains(&phone_digits);
    if !customer.phone.is_empty() && !phone_ok {
        problems.push(
            "電話番号は10桁または11桁の数字で入力してください（例: 03-1234-5678）".to_owned(),
        );
    }
    problems
}

/// The inputs of the customer form (shared by checkout and member registration).
fn customer_inputs(customer: &CustomerDetails) -> String {
    let input = |name: &str, label: &str, value: &str, kind: &str, extra: &str| {
        format!(
            "<label for=\"{name}\">{label}</label><input type=\"{kind}\" id=\"{name}\" name=\"{name}\" value=\"{}\"{extra}>",
            escape(value)
        )
    };
    let options: String = PREFECTURES
        .iter()
        .map(|p| {
            let selected = if *p == customer.prefecture {
                " selected"
            } else {
                ""
            };
            format!("<option value=\"{p}\"{selected}>{p}</option>")
        })
        .collect();
    let mut html = String::from("<fieldset><legend>お客様情報</legend>");
    html.push_str(&input(
        "family_name",
        "お名前（姓）",
        &customer.family_name,
        "text",
        " autocomplete=\"family-name\" required",
    ));
    html.push_str(&input(
        "given_name",
        "お名前（名）",
        &customer.given_name,
        "text",
        " autocomplete=\"given-name\" required",
    ));
    html.push_str(&input(
        "family_kana",
        "フリガナ（セイ）",
        &customer.family_kana,
        "text",
        "",
    ));
    html.push_str(&input(
        "given_kana",
        "フリガナ（メイ）",
        &customer.given_kana,
        "text",
        "",
    ));
    html.push_str(&input(
        "email",
        "メールアドレス",
        &customer.email,
        "email",
        " autocomplete=\"email\" required",
    ));
    html.push_str(&input(
        "postcode",
        "郵便番号",
        &customer.postcode,
        "text",
        " autocomplete=\"postal-code\" placeholder=\"100-0001\" required",
    ));
    let _ = write!(
        html,
        "<label for=\"prefecture\">都道府県</label><select id=\"prefecture\" name=\"prefecture\" required>\
         <option value=\"\">選択してください</option>{options}</select>"
    );
    html.push_str(&input(
        "address1",
        "市区町村・番地",
        &customer.address1,
        "text",
        " required",
    ));
    html.push_str(&input(
        "address2",
        "番地・部屋番号など",
        &customer.address2,
        "text",
        "",
    ));
    html.push_str(&input("address3", "ビル名", &customer.address3, "text", ""));
    html.push_str(&input(
        "phone",
        "電話番号",
        &customer.phone,
        "tel",
        " autocomplete=\"tel\" placeholder=\"03-1234-5678\" required",
    ));
    html.push_str("</fieldset>");
    html
}

async fn customer_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let visit = Visit::read(&state, &headers).await?;
    if visit.session.cart.is_empty() {
        return Ok(visit.respond(see_other("/cart")));
    }
    let customer = match (&visit.session.customer, visit.session.member_id) {
        (Some(customer), _) => customer.clone(),
        (None, Some(member_id)) => state
            .store
            .member(member_id)
            .await?
            .map(|m| m.details)
            .unwrap_or_default(),
        (None, None) => CustomerDetails::default(),
    };
    Ok(render_customer(visit, &customer, &[]))
}

fn render_customer(visit: Visit, customer: &CustomerDetails, problems: &[String]) -> Response {
    let member_note = if visit.session.member_id.is_some() {
        "<p class=\"notice\">会員としてログインしています。ご登録の内容を表示しています。</p>"
            .to_owned()
    } else {
        "<p class=\"notice\">会員の方は<a href=\"/login?next=/checkout/customer\" id=\"member-login\">会員ログイン</a>\
         してください。初めての方は<a href=\"/register?next=/checkout/customer\">会員登録</a>もできます。</p>"
            .to_owned()
    };
    let body = format!(
        "{}<h2>お客様情報</h2>{member_note}{}<form method=\"post\" action=\"/checkout/customer\">{}\
         <p><button type=\"submit\" id=\"customer-next\">次へ</button></p></form><p><a href=\"/cart\">カートに戻る</a></p>",
        steps(1),
        error_box(problems),
        customer_inputs(customer)
    );
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    visit.respond(html::page(status, "お客様情報", &body))
}

async fn customer_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let customer = read_customer(&fields);
    let problems = customer_problems(&customer);
    if !problems.is_empty() {
        return Ok(render_customer(visit, &customer, &problems));
    }
    visit
        .update(&state, |s| {
            if s.customer.as_ref() != Some(&customer) {
                s.customer = Some(customer);
                s.changed();
            }
        })
        .await?;
    Ok(visit.respond(see_other("/checkout/delivery")))
}

// ---------------------------------------------------------------------------------------------------
// Checkout: payment method
// ---------------------------------------------------------------------------------------------------

/// A checkout option: its key, label, and `(value, label)` choices.
struct MethodOption {
    key: String,
    label: String,
    choices: Vec<(String, String)>,
}

/// A payment method as the storefront shows it (from [`crate::http::api::checkout_methods`]).
struct MethodView {
    id: i64,
    name: String,
    /// Sanitised by the host when the operator saved it: shown as HTML.
    explanation: String,
    settlement_type: String,
    notice: Option<String>,
    options: Vec<MethodOption>,
    /// Takes carts with a recurring (継続課金) item.
    recurring: bool,
}

impl MethodView {
    fn from_json(value: &Value) -> Option<MethodView> {
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let options = value
            .get("options")
            .and_then(Value::as_array)
            .map(|options| {
                options
                    .iter()
                    .filter_map(|option| {
                        let key = option.get("key")?.as_str()?.to_owned();
                        let label = option.get("label")?.as_str()?.to_owned();
                        let choices = option
                            .get("choices")?
                            .as_array()?
                            .iter()
                            .filter_map(|choice| {
                                let pair = choice.as_array()?;
                                Some((
                                    pair.first()?.as_str()?.to_owned(),
                                    pair.get(1)?.as_str()?.to_owned(),
                                ))
                            })
                            .collect();
                        Some(MethodOption {
                            key,
                            label,
                            choices,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(MethodView {
            id: value.get("id")?.as_i64()?,
            name: text("name")?,
            explanation: text("explanation").unwrap_or_default(),
            settlement_type: text("settlement_type")?,
            notice: text("notice"),
            options,
            recurring: value
                .get("recurring")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    fn option_field(&self, key: &str) -> String {
        format!("opt_{}_{key}", self.id)
    }
}

async fn methods_for_checkout(state: &AppState) -> Result<Vec<MethodView>, PageError> {
    Ok(crate::http::api::checkout_methods(state)
        .await?
        .iter()
        .filter_map(MethodView::from_json)
        .collect())
}

/// `ご登録のカード（…）でお支払いいただけます` for a member whose card the method's module keeps.
async fn saved_card_for(
    state: &AppState,
    member_id: Option<i64>,
    settlement_type: &str,
) -> Result<Option<MemberCard>, DbError> {
    let Some(member_id) = member_id else {
        return Ok(None);
    };
    let Some(provided) = state.engine.provided(settlement_type) else {
        return Ok(None);
    };
    // Only immediate (card) payments use a kept card.
    if provided.settlement_type.kind != SettlementKind::Immediate {
        return Ok(None);
    }
    state
        .store
        .member_card(member_id, provided.module.id())
        .await
}

/// What the shopper chose on the delivery page.
struct DeliveryChoice {
    payment_method_id: Option<i64>,
    options: BTreeMap<String, String>,
    note: String,
}

async fn delivery_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let visit = Visit::read(&state, &headers).await?;
    if visit.session.cart.is_empty() {
        return Ok(visit.respond(see_other("/cart")));
    }
    if visit.session.customer.is_none() {
        return Ok(visit.respond(see_other("/checkout/customer")));
    }
    let choice = DeliveryChoice {
        payment_method_id: visit.session.payment_method_id,
        options: visit.session.options.clone(),
        note: visit.session.note.clone(),
    };
    render_delivery(&state, visit, &choice, &[]).await
}

async fn render_delivery(
    state: &AppState,
    visit: Visit,
    choice: &DeliveryChoice,
    problems: &[String],
) -> PageResult {
    let mut methods = methods_for_checkout(state).await?;
    let mut list = String::new();
    // A recurring item (継続課金) can only be paid with a method that registers the recurring charge.
    let products = state.store.products().await?;
    let recurring_cart = visit.session.cart.keys().any(|id| {
        products
            .iter()
            .any(|product| product.id == *id && product.recurrence.is_some())
    });
    if recurring_cart {
        methods.retain(|method| method.recurring);
        list.push_str(
            "<p class=\"notice\" id=\"recurring-notice\">継続課金の商品は、会員ログインのうえ、自動継続課金に対応したお支払方法でご注文ください（2回目以降は自動でお支払いになります）。</p>",
        );
    }
    if methods.is_empty() {
        list.push_str(
            "<p class=\"error\">現在ご利用いただけるお支払方法がありません。恐れ入りますが、ショップへお問い合わせください。</p>",
        );
    }
    for method in &methods {
        let checked = if choice.payment_method_id == Some(method.id) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            list,
            "<div class=\"method\" id=\"method-{id}\"><label><input type=\"radio\" name=\"payment_method\" value=\"{id}\"{checked} required> \
             <strong>{name}</strong></label><div class=\"explanation\">{explanation}</div>",
            id = method.id,
            name = escape(&method.name),
            explanation = method.explanation,
        );
        if let Some(notice) = &method.notice {
            let _ = write!(list, "<p class=\"method-notice\">{}</p>", escape(notice));
        }
        if let Some(card) =
            saved_card_for(state, visit.session.member_id, &method.settlement_type).await?
        {
            let _ = write!(
                list,
                "<p class=\"saved-card\">ご登録のカード（下4桁 ****{}、有効期限 {}）でお支払いいただけます</p>",
                escape(&card.last4),
                escape(&card.expiry)
            );
        }
        for MethodOption {
            key,
            label,
            choices,
        } in &method.options
        {
            let name = method.option_field(key);
            let chosen = if choice.payment_method_id == Some(method.id) {
                choice.options.get(key).cloned()
            } else {
                None
            };
            let options: String = choices
                .iter()
                .map(|(value, text)| {
                    let selected = if chosen.as_deref() == Some(value.as_str()) {
                        " selected"
                    } else {
                        ""
                    };
                    format!(
                        "<option value=\"{}\"{selected}>{}</option>",
                        escape(value),
                        escape(text)
                    )
                })
                .collect();
            let _ = write!(
                list,
                "<label for=\"{name}\">{}</label><select id=\"{name}\" name=\"{name}\">{options}</select>",
                escape(label)
            );
        }
        list.push_str("</div>");
    }
    let body = format!(
        "{}<h2>発送・支払方法</h2>{}<form method=\"post\" action=\"/checkout/delivery\">\
         <fieldset><legend>支払方法</legend>{list}</fieldset>\
         <label for=\"note\">備考</label><textarea id=\"note\" name=\"note\" rows=\"4\">{}</textarea>\
         <p><button type=\"submit\" id=\"delivery-next\">次へ</button></p></form>\
         <p><a href=\"/checkout/customer\">お客様情報に戻る</a></p>",
        steps(2),
        error_box(problems),
        escape(&choice.note)
    );
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(visit.respond(html::page(status, "発送・支払方法", &body)))
}

async fn delivery_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    if visit.session.cart.is_empty() {
        return Ok(visit.respond(see_other("/cart")));
    }
    let methods = methods_for_checkout(&state).await?;
    let mut problems = Vec::new();
    let method = field(&fields, "payment_method")
        .parse::<i64>()
        .ok()
        .and_then(|id| methods.iter().find(|m| m.id == id));
    let mut options = BTreeMap::new();
    match method {
        None => problems.push("お支払方法を選んでください".to_owned()),
        Some(method) => {
            for MethodOption {
                key,
                label,
                choices,
            } in &method.options
            {
                let value = field(&fields, &method.option_field(key));
                if choices.iter().any(|(v, _)| *v == value) {
                    options.insert(key.clone(), value);
                } else {
                    problems.push(format!("{label}を選んでください"));
                }
            }
        }
    }
    let note = field(&fields, "note").trim().to_owned();
    if note.chars().count() > 1000 {
        problems.push("備考は1000文字以内で入力してください".to_owned());
    }
    let choice = DeliveryChoice {
        payment_method_id: method.map(|m| m.id),
        options,
        note,
    };
    if !problems.is_empty() {
        return render_delivery(&state, visit, &choice, &problems).await;
    }
    visit
        .update(&state, |s| {
            if s.payment_method_id != choice.payment_method_id
                || s.options != choice.options
                || s.note != choice.note
            {
                s.payment_method_id = choice.payment_method_id;
                s.options = choice.options;
                s.note = choice.note;
                s.changed();
            }
        })
        .await?;
    Ok(visit.respond(see_other("/checkout/confirm")))
}

// ---------------------------------------------------------------------------------------------------
// Checkout: confirm
// ---------------------------------------------------------------------------------------------------

/// The session's attempt, as the confirm page needs it.
enum CurrentAttempt {
    /// Open: show its form.
    Open(Box<Attempt>),
    /// Already an order (paid in another tab, or the shopper came back after paying).
    Ordered(String),
}

/// The session's attempt if nothing changed since it was stored, otherwise a new one.
async fn current_attempt(
    state: &AppState,
    visit: &mut Visit,
) -> Result<CurrentAttempt, CheckoutError> {
    if let Some(link_key) = visit.session.link_key.clone() {
        if let Some(attempt) = state.store.attempt_by_link_key(&link_key).await? {
            match (attempt.kind, attempt.state) {
                (AttemptKind::Order, AttemptState::Open) => {
                    return Ok(CurrentAttempt::Open(Box::new(attempt)))
                }
                (AttemptKind::Order, AttemptState::Ordered) => {
                    return Ok(CurrentAttempt::Ordered(link_key))
                }
                _ => {}
            }
        }
    }
    let session = &visit.session;
    let revision = session.revision;
    let input = CheckoutInput {
        lines: session
            .cart
            .iter()
            .map(|(product_id, quantity)| CartInputLine {
                product_id: *product_id,
                quantity: *quantity,
            })
            .collect(),
        customer: session.customer.clone().unwrap_or_default(),
        payment_method_id: session.payment_method_id.unwrap_or_default(),
        note: session.note.clone(),
        options: session.options.clone(),
    };
    let attempt = checkout::create_attempt(state, &input, session.member_id).await?;
    let kept = visit
        .update(state, |s| {
            if s.revision == revision && s.link_key.is_none() {
                s.link_key = Some(attempt.link_key.clone());
                true
            } else {
                false
            }
        })
        .await?;
    if !kept {
        // Another request of this shopper stored an attempt first: show that one, so the shopper
        // has one link key, not two.
        if let Some(other) = visit.session.link_key.clone() {
            if let Some(other) = state.store.attempt_by_link_key(&other).await? {
                if other.state == AttemptState::Open {
                    return Ok(CurrentAttempt::Open(Box::new(other)));
                }
            }
        }
    }
    Ok(CurrentAttempt::Open(Box::new(attempt)))
}

/// The order summary of the confirm page, from what the attempt stored (what will be charged).
fn attempt_summary(state: &AppState, attempt: &Attempt) -> String {
    let snapshot = &attempt.snapshot;
    let sums = Totals {
        items: snapshot.items_total,
        shipping: snapshot.shipping,
        total: snapshot.total,
        tax: snapshot.tax,
    };
    let provided = state.engine.provided(&attempt.settlement_type);
    let notice = provided
        .as_ref()
        .and_then(|p| p.settlement_type.notice.clone())
        .map(|n| format!(" <span class=\"method-notice\">{}</span>", escape(&n)))
        .unwrap_or_default();
    let mut payment = format!(
        "<tr><th>支払方法</th><td><span id=\"payment-method\">{}</span>{notice}</td></tr>",
        escape(&attempt.payment_method_name)
    );
    if let Some(provided) = &provided {
        for option in &provided.settlement_type.checkout_options {
            if let Some(value) = snapshot.options.get(&option.key) {
                let shown = option
                    .choices
                    .iter()
                    .find(|(v, _)| v == value)
                    .map(|(_, label)| label.as_str())
                    .unwrap_or(value.as_str());
                let _ = write!(
                    payment,
                    "<tr><th>{}</th><td>{}</td></tr>",
                    escape(&option.label),
                    escape(shown)
                );
            }
        }
    }
    let note = if snapshot.note.is_empty() {
        "なし".to_owned()
    } else {
        escape(&snapshot.note).replace('\n', "<br>")
    };
    let _ = write!(payment, "<tr><th>備考</th><td>{note}</td></tr>");
    format!(
        "<h3>ご注文商品</h3>{}<h3>お客様情報</h3>{}<h3>発送・支払方法</h3><table class=\"payment\">{payment}</table>",
        lines_table(&snapshot.lines, &sums),
        customer_table(&snapshot.customer)
    )
}

/// The confirm page when the order cannot go to the gateway: the message, and where to fix it.
fn confirm_error(visit: Visit, message: &str, summary: &str) -> Response {
    let body = format!(
        "{}<h2>内容確認</h2><div class=\"error\" id=\"checkout-error\"><p>{}</p>\
         <p><a href=\"/checkout/customer\">お客様情報を修正する</a>　<a href=\"/checkout/delivery\">お支払方法・備考を修正する</a></p></div>{summary}",
        steps(3),
        escape(message)
    );
    visit.respond(html::page(StatusCode::OK, "内容確認", &body))
}

async fn confirm_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    if visit.session.cart.is_empty() {
        return Ok(visit.respond(see_other("/cart")));
    }
    if visit.session.customer.is_none() {
        return Ok(visit.respond(see_other("/checkout/customer")));
    }
    if visit.session.payment_method_id.is_none() {
        return Ok(visit.respond(see_other("/checkout/delivery")));
    }
    let attempt = match current_attempt(&state, &mut visit).await {
        Ok(CurrentAttempt::Open(attempt)) => attempt,
        Ok(CurrentAttempt::Ordered(link_key)) => {
            visit
                .update(&state, |s| {
                    if s.link_key.as_deref() == Some(link_key.as_str()) {
                        s.order_placed();
                    }
                })
                .await?;
            return Ok(visit.respond(see_other(&format!("/checkout/complete/{link_key}"))));
        }
        Err(CheckoutError::Input(message)) => return Ok(confirm_error(visit, &message, "")),
        Err(error) => return Err(error.into()),
    };
    match checkout::confirm(&state, &attempt.link_key).await {
        Ok(Confirmed::Redirect(form)) => {
            let body = format!(
                "{}<h2>内容確認</h2><p>ご注文内容をご確認のうえ、「上記内容で注文する」を押してください。\
                 決済会社のページに移動します。</p>{}<div class=\"purchase\">{}</div>\
                 <p><a href=\"/checkout/delivery\">発送・支払方法に戻る</a>　<a href=\"/checkout/customer\">お客様情報に戻る</a></p>",
                steps(3),
                attempt_summary(&state, &attempt),
                html::gateway_form(&form, "上記内容で注文する")
            );
            Ok(visit.respond(html::page_in(form.charset, "内容確認", &body)))
        }
        Ok(Confirmed::Completed(order)) => {
            visit
                .update(&state, |s| {
                    if s.link_key.as_deref() == Some(order.link_key.as_str()) {
                        s.order_placed();
                    }
                })
                .await?;
            Ok(visit.respond(see_other(&format!("/checkout/complete/{}", order.link_key))))
        }
        Err(CheckoutError::Input(message)) => Ok(confirm_error(
            visit,
            &message,
            &attempt_summary(&state, &attempt),
        )),
        Err(CheckoutError::NotFound) => {
            // The order was created between reading the attempt and building the form.
            Ok(visit.respond(see_other(&format!(
                "/checkout/complete/{}",
                attempt.link_key
            ))))
        }
        Err(error) => Err(error.into()),
    }
}

// ---------------------------------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------------------------------

async fn complete(
    State(state): State<AppState>,
    Path(link_key): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut visit = or_page!(Visit::read(&state, &headers).await);
    let view = checkout::view_for(&state, &link_key).await;
    if matches!(view, Ok(ReturnView::Completed(_)))
        && visit.session.link_key.as_deref() == Some(link_key.as_str())
    {
        or_page!(
            visit
                .update(&state, |s| {
                    if s.link_key.as_deref() == Some(link_key.as_str()) {
                        s.order_placed();
                    }
                })
                .await
        );
    }
    let response = match view {
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
            body.push_str("<p><a href=\"/\">トップページへ戻る</a></p>");
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
    };
    visit.respond(response)
}

// ---------------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, serde::Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

fn login_form(email: &str, next: &str, problems: &[String]) -> String {
    format!(
        "<h2>会員ログイン</h2>{}<form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label for=\"email\">メールアドレス</label><input type=\"email\" id=\"email\" name=\"email\" value=\"{}\" autocomplete=\"username\" required>\
         <label for=\"password\">パスワード</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <p><button type=\"submit\" id=\"login-button\">ログイン</button></p></form>\
         <p>はじめての方は<a href=\"/register?next={}\">会員登録</a>してください。</p>",
        error_box(problems),
        escape(next),
        escape(email),
        escape(next)
    )
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let visit = or_page!(Visit::read(&state, &headers).await);
    if visit.session.member_id.is_some() {
        return visit.respond(see_other(safe_next(&query.next)));
    }
    let next = safe_next(&query.next);
    visit.respond(html::page(
        StatusCode::OK,
        "会員ログイン",
        &login_form("", next, &[]),
    ))
}

async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let email = field(&fields, "email").trim().to_owned();
    let next = safe_next(&field(&fields, "next"));
    match authenticate(&state, &email, &field(&fields, "password")).await? {
        Some(member) => {
            visit.rotate(&state).await?;
            visit
                .update(&state, |s| {
                    s.member_id = Some(member.id);
                    // Logging in means "use my account": the member's stored details replace what was
                    // typed as a guest (the customer form shows them, to be checked or changed).
                    s.customer = None;
                    // The attempt remembers who bought: a new login needs a new attempt.
                    s.changed();
                })
                .await?;
            Ok(visit.respond(see_other(next)))
        }
        None => Ok(visit.respond(html::page(
            StatusCode::UNAUTHORIZED,
            "会員ログイン",
            &login_form(
                &email,
                next,
                &["メールアドレスまたはパスワードが違います".to_owned()],
            ),
        ))),
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut visit = or_page!(Visit::read(&state, &headers).await);
    or_page!(visit.end(&state).await);
    visit.respond(see_other("/"))
}

fn register_form(email_and_details: &CustomerDetails, next: &str, problems: &[String]) -> String {
    format!(
        "<h2>会員登録</h2>{}<form method=\"post\" action=\"/register\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\">{}\
         <fieldset><legend>パスワード</legend>\
         <label for=\"password\">パスワード（6文字以上）</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" required>\
         <label for=\"password_confirm\">パスワード（確認）</label><input type=\"password\" id=\"password_confirm\" name=\"password_confirm\" autocomplete=\"new-password\" required>\
         </fieldset><p><button type=\"submit\" id=\"register-button\">会員登録する</button></p></form>",
        error_box(problems),
        escape(next),
        customer_inputs(email_and_details)
    )
}

async fn register_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let visit = or_page!(Visit::read(&state, &headers).await);
    let details = visit.session.customer.clone().unwrap_or_default();
    visit.respond(html::page(
        StatusCode::OK,
        "会員登録",
        &register_form(&details, safe_next(&query.next), &[]),
    ))
}

async fn register_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let next = safe_next(&field(&fields, "next"));
    let details = read_customer(&fields);
    let password = field(&fields, "password");
    let mut problems = customer_problems(&details);
    if password.chars().count() < 6 {
        problems.push("パスワードは6文字以上で入力してください".to_owned());
    } else if password != field(&fields, "password_confirm") {
        problems.push("パスワード（確認）が一致しません".to_owned());
    }
    let show = |visit: Visit, problems: &[String]| {
        visit.respond(html::page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "会員登録",
            &register_form(&details, next, problems),
        ))
    };
    if !problems.is_empty() {
        return Ok(show(visit, &problems));
    }
    // Hashing takes tens of milliseconds of CPU on purpose: keep it off the async workers.
    let hash = tokio::task::spawn_blocking(move || crate::members::hash_password(&password))
        .await
        .map_err(|e| unavailable(&e.to_string()))?;
    let member = match state
        .store
        .create_member(&details.email, &hash, &details)
        .await
    {
        Ok(member) => member,
        Err(DbError::Conflict("members_email_key")) => {
            return Ok(show(
                visit,
                &["このメールアドレスはすでに登録されています".to_owned()],
            ))
        }
        Err(error) => return Err(error.into()),
    };
    visit.rotate(&state).await?;
    visit
        .update(&state, |s| {
            s.member_id = Some(member.id);
            s.customer = Some(details.clone());
            s.changed();
        })
        .await?;
    Ok(visit.respond(see_other(next)))
}

/// The logged-in member, or the login page to go to.
async fn require_member(
    state: &AppState,
    visit: &mut Visit,
    next: &str,
) -> Result<Result<Member, String>, DbError> {
    let login = format!("/login?next={next}");
    let Some(member_id) = visit.session.member_id else {
        return Ok(Err(login));
    };
    match state.store.member(member_id).await? {
        Some(member) => Ok(Ok(member)),
        None => {
            visit.end(state).await?;
            Ok(Err(login))
        }
    }
}

/// The cards the in-use modules keep for a member, by module id.
async fn member_cards(state: &AppState, member_id: i64) -> Result<Vec<MemberCard>, DbError> {
    let mut cards = Vec::new();
    for module_id in state.engine.states().keys() {
        if let Some(card) = state.store.member_card(member_id, module_id).await? {
            cards.push(card);
        }
    }
    Ok(cards)
}

async fn mypage(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let member = match require_member(&state, &mut visit, "/mypage").await? {
        Ok(member) => member,
        Err(login) => return Ok(visit.respond(see_other(&login))),
    };
    let filter = OrderFilter {
        member_id: Some(member.id),
        ..OrderFilter::default()
    };
    let orders = state.store.orders(&filter, 100).await?;
    let cards = member_cards(&state, member.id).await?;
    let mut body = format!(
        "<h2>マイページ</h2><table class=\"member\"><tr><th>会員番号</th><td>{}</td></tr>\
         <tr><th>お名前</th><td id=\"member-name\">{} 様</td></tr><tr><th>メールアドレス</th><td>{}</td></tr></table>",
        member.id,
        escape(&member.details.full_name()),
        escape(&member.email)
    );
    for card in &cards {
        let _ = write!(
            body,
            "<h3>ご登録のクレジットカード</h3><table class=\"card\"><tr><th>カード番号下4桁</th><td id=\"card-last4\">****{}</td></tr>\
             <tr><th>有効期限</th><td id=\"card-expiry\">{}</td></tr></table>\
             <form method=\"post\" action=\"/mypage/card\"><input type=\"hidden\" name=\"module\" value=\"{}\">\
             <button type=\"submit\" id=\"card-change\">クレジットカード変更はこちら</button></form>",
            escape(&card.last4),
            escape(&card.expiry),
            escape(&card.module_id)
        );
    }
    let contracts = state.store.contracts(Some(member.id), 100).await?;
    if !contracts.is_empty() {
        body.push_str(
            "<h3>継続課金</h3><table class=\"contracts\"><tr><th>商品</th><th>金額</th><th>次回課金日</th><th>状態</th></tr>",
        );
        for contract in &contracts {
            // The gateway charges on the registered schedule by itself: show the next date of it.
            let next = if contract.status == "continuation" {
                scheduled_charge(
                    &contract.next_charge,
                    contract.interval_months,
                    local_date(now_millis()),
                )
                .map(japanese_date)
                .unwrap_or_else(|| contract.next_charge.clone())
            } else {
                "—".to_owned()
            };
            let _ = write!(
                body,
                "<tr class=\"contract\"><td>{}</td><td>{}</td><td>{}</td><td class=\"contract-status\">{}</td></tr>",
                escape(&contract.product_name),
                yen(contract.amount),
                escape(&next),
                if contract.status == "continuation" { "継続中" } else { "停止" }
            );
        }
        body.push_str("</table>");
    }
    body.push_str("<h3>ご注文履歴</h3>");
    if orders.is_empty() {
        body.push_str("<p id=\"no-orders\">ご注文はまだありません。</p>");
    } else {
        body.push_str(
            "<table class=\"orders\"><tr><th>ご注文番号</th><th>ご注文日</th><th>合計</th><th>お支払方法</th><th>入金状況</th></tr>",
        );
        for order in &orders {
            let _ = write!(
                body,
                "<tr class=\"order\" data-order-number=\"{number}\"><td class=\"order-number\">{number}</td><td>{date}</td>\
                 <td>{total}</td><td>{method}</td><td class=\"payment-status\">{status}</td></tr>",
                number = escape(&order.order_number),
                date = escape(&local_datetime(order.created_at)),
                total = yen(order.total),
                method = escape(&order.payment_method_name),
                status = order.payment_status.label()
            );
        }
        body.push_str("</table>");
    }
    body.push_str(
        "<form method=\"post\" action=\"/logout\"><p><button type=\"submit\" id=\"logout\">ログアウト</button></p></form>",
    );
    Ok(visit.respond(html::page(StatusCode::OK, "マイページ", &body)))
}

/// The link key of the card-update attempt a form was built for: the form value that names a
/// card-update attempt of this member (modules name the field differently).
async fn card_update_key(
    state: &AppState,
    member_id: i64,
    form: &shophost_module_api::RedirectForm,
) -> Result<Option<String>, DbError> {
    for field in &form.fields {
        if field.value.is_empty() || !field.value.bytes().all(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        if let Some(attempt) = state.store.attempt_by_link_key(&field.value).await? {
            if attempt.kind == AttemptKind::CardUpdate && attempt.member_id == Some(member_id) {
                return Ok(Some(attempt.link_key));
            }
        }
    }
    Ok(None)
}

async fn card_update_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let member = match require_member(&state, &mut visit, "/mypage").await? {
        Ok(member) => member,
        Err(login) => return Ok(visit.respond(see_other(&login))),
    };
    let module_id = match field(&fields, "module") {
        module if module.is_empty() => "remise".to_owned(),
        module => module,
    };
    let form = match checkout::start_card_update(&state, member.id, &module_id).await {
        Ok(form) => form,
        Err(CheckoutError::NotFound) => {
            return Ok(visit.respond(html::error_page(
                StatusCode::NOT_FOUND,
                "クレジットカードの変更は現在ご利用いただけません",
            )))
        }
        Err(error) => return Err(error.into()),
    };
    let key = card_update_key(&state, member.id, &form).await?;
    visit.update(&state, |s| s.card_update_key = key).await?;
    let card = state.store.member_card(member.id, &module_id).await?;
    let (last4, expiry) = card
        .map(|c| (format!("****{}", c.last4), c.expiry))
        .unwrap_or_default();
    let body = format!(
        "<h2>クレジットカード更新</h2><p>「更新処理を行う」をクリックすると決済会社のページが表示されますので、\
         新しいカードの情報をご記入ください。尚、この処理はクレジットカード有効期限などのカード情報を更新するもので、\
         現在ご利用いただいていますサービスのご契約更新ではありません。現在のご契約をご確認いただくには会員ページをご覧ください。</p>\
         <table><tr><th>ご登録のカード番号下4桁</th><td>{}</td></tr><tr><th>有効期限</th><td>{}</td></tr></table>{}\
         <p><a href=\"/mypage\">会員情報ページへ戻る</a>　<a href=\"/\">トップページへ戻る</a></p>",
        escape(&last4),
        escape(&expiry),
        html::gateway_form(&form, "更新処理を行う")
    );
    Ok(visit.respond(html::page_in(form.charset, "カード情報の更新", &body)))
}

/// The gateway's browser return after a card change, a POST from the gateway's site: it carries no
/// SameSite=Lax cookie, so answer with a redirect to the GET page, which does (a top-level GET).
async fn card_update_returned() -> Response {
    see_other("/mypage/card/done")
}

#[derive(Debug, serde::Deserialize)]
struct DoneQuery {
    #[serde(default)]
    n: u32,
}

/// The gateway sends the browser here after a card change. It only shows the result: the card itself
/// is changed by the gateway's notification, which may land a moment after the browser.
async fn card_update_done(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<DoneQuery>,
) -> PageResult {
    let mut visit = Visit::read(&state, &headers).await?;
    let member = match require_member(&state, &mut visit, "/mypage").await? {
        Ok(member) => member,
        Err(login) => return Ok(visit.respond(see_other(&login))),
    };
    let updated = match &visit.session.card_update_key {
        Some(key) => state
            .store
            .attempt_by_link_key(key)
            .await?
            .is_some_and(|a| a.state == AttemptState::CardUpdated),
        None => false,
    };
    // A declined card comes back as the gateway's failure notification: stop waiting then.
    let failed = match &visit.session.card_update_key {
        Some(key) if !updated => {
            state.store.last_payment_event(key).await?.as_deref() == Some("payment_failed")
        }
        _ => false,
    };
    let cards = member_cards(&state, member.id).await?;
    let card_rows: String = cards
        .iter()
        .map(|c| {
            format!(
                "<tr><th>カード番号下4桁</th><td>****{}</td></tr><tr><th>有効期限</th><td>{}</td></tr>",
                escape(&c.last4),
                escape(&c.expiry)
            )
        })
        .collect();
    let body = if updated {
        format!(
            "<h2 id=\"card-result\">カード情報を更新しました</h2><table>{card_rows}</table>\
             <p><a href=\"/mypage\">マイページへ戻る</a></p>"
        )
    } else if failed {
        "<h2 id=\"card-result\">カード情報を更新できませんでした</h2><p class=\"error\">カード会社で承認されませんでした。\
         別のカードでもう一度お試しください。</p><p><a href=\"/mypage\">マイページへ戻る</a></p>"
            .to_owned()
    } else if query.n < 5 {
        // Without a result yet (the notification may be delayed), refresh a few times, not forever.
        format!(
            "<meta http-equiv=\"refresh\" content=\"2;url=/mypage/card/done?n={}\">\
             <h2 id=\"card-result\">確認中</h2><p class=\"notice\">決済会社からのカード情報の更新結果を確認しています。\
             このページは自動で更新されます。</p><p><a href=\"/mypage\">マイページへ戻る</a></p>",
            query.n + 1
        )
    } else {
        "<h2 id=\"card-result\">確認中</h2><p class=\"notice\">カード情報の更新を確認できませんでした。\
         マイページでご登録のカードをご確認のうえ、変わっていない場合はもう一度お試しください。</p>\
         <p><a href=\"/mypage\">マイページへ戻る</a></p>"
            .to_owned()
    };
    Ok(visit.respond(html::page(StatusCode::OK, "カード情報の更新", &body)))
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

    #[test]
    fn next_never_leaves_the_shop() {
        assert_eq!(safe_next("/checkout/customer"), "/checkout/customer");
        assert_eq!(safe_next("//evil.example/"), "/mypage");
        assert_eq!(safe_next("https://evil.example/"), "/mypage");
        assert_eq!(safe_next(""), "/mypage");
    }

    #[test]
    fn customer_validation_names_each_problem() {
        let good = CustomerDetails {
            email: "taro@example.jp".into(),
            family_name: "山田".into(),
            given_name: "太郎".into(),
            family_kana: "ヤマダ".into(),
            given_kana: "タロウ".into(),
            postcode: "100-0001".into(),
            prefecture: "東京都".into(),
            address1: "千代田区千代田".into(),
            address2: "1-1".into(),
            address3: String::new(),
            phone: "03-1234-5678".into(),
        };
        assert!(customer_problems(&good).is_empty());
        let bad = CustomerDetails {
            family_name: String::new(),
            family_kana: "yamada".into(),
            email: "taro@".into(),
            postcode: "1000".into(),
            prefecture: "東京".into(),
            phone: "03".into(),
            ..good
        };
        let problems = customer_problems(&bad);
        for expected in [
            "お名前（姓）を入力してください",
            "フリガナ（セイ）はカタカナで入力してください",
            "メールアドレスが正しくありません",
            "郵便番号は7桁の数字で入力してください（例: 100-0001）",
            "都道府県を選んでください",
            "電話番号は10桁または11桁の数字で入力してください（例: 03-1234-5678）",
        ] {
            assert!(
                problems.iter().any(|p| p == expected),
                "{expected} missing from {problems:?}"
            );
        }
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; shophost_session=abc; b=2"),
        );
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("abc")
        );
        assert_eq!(cookie_value(&headers, "missing"), None);
    }
}
