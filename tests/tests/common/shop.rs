//! A test shop: the host in process on a real socket, with its own sandbox and database, and what a
//! test does through it as shopper, gateway and operator (the admin API, the storefront, the
//! sandbox's pages and notifications).

use super::*;

/// A running shop, its sandbox and an HTTP client that does not follow redirects (so tests see where
/// the shop sends the browser).
pub struct Shop {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The shop's state, for the few checks the HTTP API does not expose (a member's stored card).
    pub state: AppState,
    /// The sandbox.
    pub sandbox: Sandbox,
    /// `http://127.0.0.1:<port>` of the sandbox.
    pub sandbox_base: String,
    /// The client.
    pub http: reqwest::Client,
    scratch: Scratch,
    options: Options,
    sandbox_addr: SocketAddr,
    database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Shop {
    fn drop(&mut self) {
        if let Scratch::Directory(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Serves the shop until the sender is used (or dropped): then its requests in flight finish and its
/// keep-alive connections close.
fn serve_until_stopped(
    state: AppState,
    listener: tokio::net::TcpListener,
) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(shophost::http::server::serve(
        listener,
        shophost::http::router(state),
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
    ));
    stop
}

/// The shop's config file for a test.
pub(super) fn config_text(
    options: &Options,
    shop: SocketAddr,
    sandbox: SocketAddr,
    database_url: &str,
) -> String {
    let sources: Vec<String> = options
        .notify_sources
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    format!(
        r#"[server]
listen = "{shop}"
public_url = "http://{shop}"
max_body_bytes = {max_body}

[database]
url = "{database_url}"

[admin]
token = "{ADMIN_TOKEN}"

[shop]
name = "テストショップ"
demo_data = {demo}
job_interval_seconds = 3600

[sandbox]
enabled = false

[modules]
in_use = {in_use}

[modules.settings.remise]
SHOPCO = "TESTSHOP"
HOSTID = "12345678"
card_activate = true
card_jb = "{job}"
payquick = true
howpay = "on"
continuation = true
card_pc_ope = "test"
send_url_pc_test = "http://{sandbox}/rpgw2/pc/card/paycard.aspx"
conv_activate = true
S_PAYDATE = 14
conv_pc_ope = "test"
send_url_cvs_pc_test = "http://{sandbox}/rpgw2/pc/cvs/paycvs.aspx"
notify_sources_test = [{sources}]

{extra}
"#,
        max_body = options.max_body_bytes,
        demo = options.demo_data,
        job = options.card_job,
        sources = sources.join(", "),
        extra = options.extra_config,
        in_use = options.in_use,
    )
}

impl Shop {
    /// A shop with the default options (SQLite, CAPTURE, demo data).
    pub async fn start() -> Shop {
        Shop::start_with(Options::default()).await
    }

    /// A shop with these options; panics with the cause when it cannot start.
    pub async fn start_with(options: Options) -> Shop {
        match Shop::try_start(options).await {
            Ok(shop) => shop,
            Err(error) => panic!("the test shop did not start: {error:#}"),
        }
    }

    async fn try_start(options: Options) -> anyhow::Result<Shop> {
        let shop_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sandbox_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let shop_addr = shop_listener.local_addr()?;
        let sandbox_addr = sandbox_listener.local_addr()?;
        let base = format!("http://{shop_addr}");

        let (database_url, scratch) = match &options.database {
            Database::Sqlite => {
                let dir = std::env::temp_dir().join(format!("shophost-test-{}", unique_name()));
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite:{}", dir.join("shop.db").display());
                (url, Scratch::Directory(dir))
            }
            Database::Postgres(server_url) => {
                let (url, schema) = fresh_postgres_schema(server_url).await?;
                let scratch = Scratch::Schema {
                    server_url: server_url.clone(),
                    schema,
                };
                (url, scratch)
            }
        };

        let registry = match options.stand_in {
            None => shophost::bundled::registry(vec![])?,
            Some(build) => {
                let module: Arc<dyn PaymentModule> = Arc::from(build());
                let stand_in = RegisteredModule {
                    id: module.id().to_owned(),
                    display_name: module.display_name().to_owned(),
                    origin: Origin::CompiledIn,
                    module,
                };
                Registry::build(std::iter::empty(), vec![stand_in])?
            }
        };
        let text = config_text(&options, shop_addr, sandbox_addr, &database_url);
        let config = shophost::serve::config_from_toml(&text, &registry)?;
        let state = shophost::serve::build_state(config, registry).await?;
        if state.store.backend() != options.database.name() {
            bail!(
                "asked for {} but the shop runs on {}",
                options.database.name(),
                state.store.backend()
            );
        }
        if !options.demo_data {
            for (sku, name, price) in [
                ("SKU001", "有田焼 マグカップ", 3990),
                ("SKU002", "今治タオル ハンカチ", 1100),
                ("SKU003", "南部鉄器 急須", 12800),
                ("SKU004", "京都 宇治抹茶 30g", 1620),
            ] {
                state.store.ensure_product(sku, name, price, "").await?;
            }
        }
        let stop = serve_until_stopped(state.clone(), shop_listener);

        let sandbox = Sandbox::new(SandboxConfig {
            card_notify_url: format!("{base}/index.php?acting=remise_card"),
            conv_notify_url: format!("{base}/index.php?acting=remise_conv"),
            shops: Vec::new(),
            inline_attempts: options.inline_attempts,
            max_attempts: options.max_attempts,
            retry_base: Duration::from_millis(20),
        });
        tokio::spawn(sandbox.clone().serve(sandbox_listener));

        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Shop {
            base,
            state,
            sandbox,
            sandbox_base: format!("http://{sandbox_addr}"),
            http,
            scratch,
            options,
            sandbox_addr,
            database_url,
            stop: Some(stop),
        })
    }

    /// Stops the shop (its requests in flight finish, its database is closed) and starts it again on
    /// the same database with the config file's `modules.in_use` set to `in_use` (TOML), on a new port
    /// the sandbox's notifications are pointed at.
    pub async fn restart_with_in_use(&mut self, in_use: &'static str) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.state.store.close().await;
        self.options.in_use = in_use;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let registry = shophost::bundled::registry(vec![]).expect("registry");
        let text = config_text(&self.options, addr, self.sandbox_addr, &self.database_url);
        let config = shophost::serve::config_from_toml(&text, &registry).expect("config");
        let state = match shophost::serve::build_state(config, registry).await {
            Ok(state) => state,
            Err(error) => panic!("the test shop did not start again: {error:#}"),
        };
        self.stop = Some(serve_until_stopped(state.clone(), listener));
        self.state = state;
        self.base = format!("http://{addr}");
        self.restore_notify_urls();
    }

    /// Drops the PostgreSQL schema (a SQLite directory goes on drop).
    pub async fn finish(self) {
        if let Scratch::Schema { server_url, schema } = &self.scratch {
            drop_postgres_schema(server_url, schema).await;
        }
    }

    /// The shop's notification URL for `acting`.
    pub fn notify_url(&self, acting: &str) -> String {
        format!("{}/index.php?acting={acting}", self.base)
    }

    /// Points the sandbox's notifications at the shop again.
    pub fn restore_notify_urls(&self) {
        self.sandbox.set_notify_urls(
            self.notify_url("remise_card"),
            self.notify_url("remise_conv"),
        );
    }

    // -- plain HTTP -----------------------------------------------------------------------------

    /// GET a URL (absolute, or a path on the shop).
    pub async fn get(&self, url: &str) -> Page {
        let url = self.absolute(url);
        Page::read(self.http.get(&url).send().await, &url).await
    }

    /// POST a JSON body.
    pub async fn post_json(&self, url: &str, body: &Value) -> Page {
        let url = self.absolute(url);
        let request = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string());
        Page::read(request.send().await, &url).await
    }

    /// POST a form encoded in Shift_JIS, as Remise and a browser on a Shift_JIS page do.
    pub async fn post_sjis<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        fields: &[(K, V)],
    ) -> Page {
        self.post_raw(
            url,
            "application/x-www-form-urlencoded; charset=Shift_JIS",
            sjis_form(fields),
        )
        .await
    }

    /// POST these bytes with this content type.
    pub async fn post_raw(&self, url: &str, content_type: &str, body: Vec<u8>) -> Page {
        let url = self.absolute(url);
        let request = self
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        Page::read(request.send().await, &url).await
    }

    pub fn absolute(&self, url: &str) -> String {
        if url.starts_with("http://") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        }
    }

    // -- the admin API ----------------------------------------------------------------------------

    /// An admin API call; returns the status and the JSON body (null when empty).
    pub async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}/admin/api{path}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .http
            .request(method, &url)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let page = Page::read(request.send().await, &url).await;
        let value = if page.bytes.is_empty() {
            Value::Null
        } else {
            page.json()
        };
        (page.status, value)
    }

    /// `/metrics` as the operator's scraper reads it (with the admin token).
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.base);
        let request = self
            .http
            .get(&url)
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
        let page = Page::read(request.send().await, &url).await;
        assert_eq!(page.status, 200, "GET /metrics: {}", page.text());
        page.text()
    }

    /// An admin GET that must succeed.
    pub async fn admin_get(&self, path: &str) -> Value {
        let (status, value) = self.admin("GET", path, None).await;
        assert_eq!(status, 200, "GET /admin/api{path}: {value}");
        value
    }

    /// The order for a link key, if there is one.
    pub async fn order(&self, link_key: &str) -> Option<Value> {
        let list = self
            .admin_get(&format!("/orders?link_key={link_key}"))
            .await;
        let orders = list["orders"].as_array().expect("orders").clone();
        assert!(orders.len() <= 1, "one order per link key: {list}");
        orders.into_iter().next()
    }

    /// The order for a link key with its history and payment-event count; panics when there is none.
    pub async fn order_detail(&self, link_key: &str) -> OrderDetail {
        let order = self
            .order(link_key)
            .await
            .unwrap_or_else(|| panic!("no order for link key {link_key}"));
        let number = order["order_number"]
            .as_str()
            .expect("order number")
            .to_owned();
        let detail = self.admin_get(&format!("/orders/{number}")).await;
        OrderDetail {
            status: detail["order"]["payment_status"]
                .as_str()
                .expect("status")
                .to_owned(),
            label: detail["order"]["payment_status_label"]
                .as_str()
                .expect("label")
                .to_owned(),
            history: detail["history"]
                .as_array()
                .expect("history")
                .iter()
                .map(|entry| {
                    (
                        entry["to_status"].as_str().unwrap_or("").to_owned(),
                        entry["reason"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect(),
            events: detail["payment_events"].as_i64().expect("events"),
            number,
            order: detail["order"].clone(),
        }
    }

    /// The journal entries for a link key, oldest first.
    pub async fn journal(&self, link_key: &str) -> Vec<Value> {
        let list = self
            .admin_get(&format!("/journal?link_key={link_key}"))
            .await;
        let mut entries = list["entries"].as_array().expect("entries").clone();
        entries.reverse();
        entries
    }

    /// The 決済エラーログ entries for a link key, oldest first.
    pub async fn settlement_errors(&self, link_key: &str) -> Vec<Value> {
        let list = self.admin_get("/settlement-errors").await;
        let mut errors: Vec<Value> = list["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter(|e| e["link_key"].as_str() == Some(link_key))
            .cloned()
            .collect();
        errors.reverse();
        errors
    }

    /// The stored attempt (決済直前ログ) for a link key.
    pub async fn attempt(&self, link_key: &str) -> Value {
        self.admin_get(&format!("/attempts/{link_key}")).await["attempt"].clone()
    }

    // -- checkout ----------------------------------------------------------------------------------

    /// The id of the active payment method of a settlement type, as the checkout API lists it.
    pub async fn method_id(&self, settlement_type: &str) -> i64 {
        let page = self.get("/api/payment-methods").await;
        let list = page.json();
        list["payment_methods"]
            .as_array()
            .expect("methods")
            .iter()
            .find(|m| m["settlement_type"] == settlement_type)
            .and_then(|m| m["id"].as_i64())
            .unwrap_or_else(|| panic!("no active method for {settlement_type}: {list}"))
    }

    /// Stores a checkout attempt for one mug, paid by `settlement_type`; returns its link key.
    pub async fn checkout(
        &self,
        settlement_type: &str,
        options: &[(&str, &str)],
        member: Option<(&str, &str)>,
    ) -> String {
        let method = self.method_id(settlement_type).await;
        self.checkout_with_method(method, options, member).await
    }

    /// Stores a checkout attempt for one mug with the method `method`; returns its link key.
    pub async fn checkout_with_method(
        &self,
        method: i64,
        options: &[(&str, &str)],
        member: Option<(&str, &str)>,
    ) -> String {
        let options: serde_json::Map<String, Value> = options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let mut body = json!({
            "lines": [{"product_id": 1, "quantity": 1}],
            "customer": customer(),
            "payment_method_id": method,
            "note": "",
            "options": options,
        });
        if let Some((email, password)) = member {
            body["member"] = json!({"email": email, "password": password});
        }
        let page = self.post_json("/api/checkout", &body).await;
        assert_eq!(page.status, 201, "POST /api/checkout: {}", page.text());
        let created = page.json();
        assert_eq!(created["total"], MUG_PRICE);
        created["link_key"].as_str().expect("link key").to_owned()
    }

    /// The confirm step: the form the browser would post to Remise.
    pub async fn confirm(&self, link_key: &str) -> GatewayForm {
        let page = self
            .post_json(&format!("/api/checkout/{link_key}/confirm"), &json!({}))
            .await;
        assert_eq!(page.status, 200, "confirm: {}", page.text());
        let value = page.json();
        assert_eq!(value["kind"], "redirect", "{value}");
        assert_eq!(value["form"]["charset"], "Shift_JIS");
        assert_eq!(value["form"]["method"], "POST");
        GatewayForm {
            url: value["form"]["url"].as_str().expect("url").to_owned(),
            fields: value["form"]["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_str().expect("name").to_owned(),
                        pair[1].as_str().expect("value").to_owned(),
                    )
                })
                .collect(),
        }
    }

    /// Posts the shop's form to the sandbox (as the browser does) and returns the sandbox's page,
    /// which must be its card or payment-place page with a `SESSION`.
    pub async fn open_gateway(&self, form: &GatewayForm) -> Page {
        assert!(
            form.url.starts_with(&self.sandbox_base),
            "the form posts to the sandbox: {}",
            form.url
        );
        let page = self.post_sjis(&form.url, &form.fields).await;
        assert_eq!(
            page.status,
            200,
            "sandbox refused the form: {}",
            page.text()
        );
        page
    }

    /// Enters a card on the sandbox's card page; returns the page that sends the browser back.
    pub async fn submit_card(&self, session: &str, card: CardEntry<'_>) -> ReturnForm {
        let mut fields = vec![("SESSION".to_owned(), session.to_owned())];
        match card {
            CardEntry::Number(number) => {
                fields.push(("CARDNO".to_owned(), number.to_owned()));
                fields.push(("EXPIRE".to_owned(), card_expiry()));
                fields.push(("NAME".to_owned(), "TARO YAMADA".to_owned()));
            }
            CardEntry::Saved => fields.push(("USE_PAYQUICK".to_owned(), "1".to_owned())),
        }
        let page = self
            .post_sjis(
                &format!("{}{}", self.sandbox_base, remise_sandbox::CARD_SUBMIT_PATH),
                &fields,
            )
            .await;
        ReturnForm::from_page(&page)
    }

    /// Confirm, open the sandbox's card page and pay with `card`.
    pub async fn pay_by_card(&self, link_key: &str, card: CardEntry<'_>) -> ReturnForm {
        let form = self.confirm(link_key).await;
        let page = self.open_gateway(&form).await;
        self.submit_card(&session_of(&page), card).await
    }

    /// Confirm, open the sandbox's payment-place page and choose セブン-イレブン (`D001`).
    pub async fn issue_conv(&self, link_key: &str) -> ReturnForm {
        let form = self.confirm(link_key).await;
        let page = self.open_gateway(&form).await;
        let fields = [
            ("SESSION", session_of(&page)),
            ("PAY_CSV", "D001".to_owned()),
        ];
        let page = self
            .post_sjis(
                &format!("{}/rpgw2/pc/cvs/submit", self.sandbox_base),
                &fields,
            )
            .await;
        ReturnForm::from_page(&page)
    }

    /// The browser coming back to the shop with the sandbox's return form.
    pub async fn browser_return(&self, form: &ReturnForm) -> Page {
        assert!(
            form.action.starts_with(&self.base),
            "the return goes to the shop: {}",
            form.action
        );
        self.post_sjis(&form.action, &form.fields).await
    }

    /// Follows a redirect the shop answered with.
    pub async fn follow(&self, page: &Page) -> Page {
        let location = page
            .location
            .as_deref()
            .unwrap_or_else(|| panic!("expected a redirect, got {}: {}", page.status, page.text()));
        self.get(location).await
    }

    /// `GET /api/checkout/{link_key}`.
    pub async fn checkout_state(&self, link_key: &str) -> Value {
        let page = self.get(&format!("/api/checkout/{link_key}")).await;
        assert_eq!(page.status, 200, "{}", page.text());
        page.json()
    }

    // -- gateway side --------------------------------------------------------------------------------

    /// Posts a notification to `/index.php?acting=<acting>`, Shift_JIS, from 127.0.0.1.
    pub async fn notify<K: AsRef<str>, V: AsRef<str>>(
        &self,
        acting: &str,
        fields: &[(K, V)],
    ) -> Page {
        self.post_sjis(&self.notify_url(acting), fields).await
    }

    /// The sandbox's transaction for a link key (the last one, if several).
    pub fn transaction(&self, link_key: &str) -> Transaction {
        self.sandbox
            .transactions()
            .into_iter()
            .rev()
            .find(|t| t.torihiki_no == link_key)
            .unwrap_or_else(|| panic!("the sandbox has no transaction for {link_key}"))
    }

    /// Presses a button in the sandbox's backyard (`paid`, `resend`, …) for a transaction.
    pub async fn backyard(&self, remise_id: &str, action: &str) {
        let url = format!("{}/backyard/tx/{remise_id}/{action}", self.sandbox_base);
        let page = self
            .post_raw(&url, "application/x-www-form-urlencoded", Vec::new())
            .await;
        assert_eq!(page.status, 303, "backyard {action}: {}", page.text());
    }
}

/// An order as the admin API shows it.
#[derive(Debug, Clone)]
pub struct OrderDetail {
    /// The order number.
    pub number: String,
    /// `payment_status`.
    pub status: String,
    /// `payment_status_label`.
    pub label: String,
    /// `(to_status, reason)` oldest first.
    pub history: Vec<(String, String)>,
    /// Payment events recorded for the link key.
    pub events: i64,
    /// The whole order.
    pub order: Value,
}
