//! Host-core behaviour: the registry, every config error, settings updates stopping payment methods,
//! taking a module out of use, deleting methods, and which methods checkout lists. The tests of a
//! running shop run on SQLite and on PostgreSQL when `SHOPHOST_TEST_PG_URL` names a server.

#[macro_use]
mod common;

use std::sync::Arc;

use common::Backend;
use shophost::config::{Config, RawConfig};
use shophost::db::NewPaymentMethod;
use shophost::domain::MoveDirection;
use shophost::registry::{Origin, RegisteredModule, Registry, RegistryError};
use shophost::AppState;
use std::marker::PhantomData;

use remise::{RemiseConfig, RemiseModule};
use shophost_module_api::{
    Answer, FieldError, InboundRequest, ModuleDescriptor, Notification, NotificationEndpoint,
    PaymentModule, PaymentStart, PaymentStartError, PaymentStartRequest, Rejection, SettingsSchema,
    SettingsValues, SettlementType, TypedModule, WireResponse, API_VERSION,
};

fn registry() -> Registry {
    shophost::bundled::registry(vec![]).expect("registry builds")
}

fn build_remise() -> Box<dyn PaymentModule> {
    Box::new(RemiseModule)
}

static FAKE_REMISE: ModuleDescriptor = {
    let mut descriptor = ModuleDescriptor::of::<RemiseModule>(build_remise);
    descriptor.display_name = "偽ルミーズ";
    descriptor
};

static REAL_REMISE: ModuleDescriptor = ModuleDescriptor::of::<RemiseModule>(build_remise);

static OLD_API: ModuleDescriptor = {
    let mut descriptor = ModuleDescriptor::of::<RemiseModule>(build_remise);
    descriptor.display_name = "古いルミーズ";
    descriptor.api_version = API_VERSION + 1;
    descriptor
};

/// The id of a [`Renamed`] module.
trait Name: Send + Sync + 'static {
    const ID: &'static str;
}

/// A module under another id that behaves like Remise, so that a registry can be built from several
/// modules in this test binary (only `remise` is linked into it).
struct Renamed<N>(PhantomData<N>);

impl<N: Name> Renamed<N> {
    fn boxed() -> Box<dyn PaymentModule> {
        Box::new(Renamed::<N>(PhantomData))
    }
}

impl<N: Name> TypedModule for Renamed<N> {
    const ID: &'static str = N::ID;
    const DISPLAY_NAME: &'static str = N::ID;
    type Config = RemiseConfig;

    fn settings_schema(&self) -> SettingsSchema {
        TypedModule::settings_schema(&RemiseModule)
    }
    fn validate(&self, values: &SettingsValues) -> Result<RemiseConfig, Vec<FieldError>> {
        TypedModule::validate(&RemiseModule, values)
    }
    fn settlement_types(&self, config: &RemiseConfig) -> Vec<SettlementType> {
        TypedModule::settlement_types(&RemiseModule, config)
    }
    fn notification_endpoints(&self, config: &RemiseConfig) -> Vec<NotificationEndpoint> {
        TypedModule::notification_endpoints(&RemiseModule, config)
    }
    async fn start_payment(
        &self,
        config: &RemiseConfig,
        request: &PaymentStartRequest,
    ) -> Result<PaymentStart, PaymentStartError> {
        TypedModule::start_payment(&RemiseModule, config, request).await
    }
    async fn parse_notification(
        &self,
        config: &RemiseConfig,
        endpoint: &str,
        request: &InboundRequest,
    ) -> Result<Notification, Rejection> {
        TypedModule::parse_notification(&RemiseModule, config, endpoint, request).await
    }
    fn respond(&self, endpoint: &str, request: &InboundRequest, answer: &Answer) -> WireResponse {
        TypedModule::respond(&RemiseModule, endpoint, request, answer)
    }
}

struct Zeta;
impl Name for Zeta {
    const ID: &'static str = "zeta";
}
struct Alpha;
impl Name for Alpha {
    const ID: &'static str = "alpha";
}
struct Middle;
impl Name for Middle {
    const ID: &'static str = "middle";
}

static ZETA: ModuleDescriptor = ModuleDescriptor::of::<Renamed<Zeta>>(Renamed::<Zeta>::boxed);

static ALPHA: ModuleDescriptor = ModuleDescriptor::of::<Renamed<Alpha>>(Renamed::<Alpha>::boxed);

#[test]
fn remise_is_registered() {
    let registry = registry();
    assert!(
        registry.ids().contains(&"remise".to_owned()),
        "registered: {:?}",
        registry.ids()
    );
    let remise = registry.get("remise").unwrap();
    assert_eq!(remise.display_name, "ルミーズ");
    assert_eq!(remise.origin.to_string(), "compiled-in");
}

#[test]
fn the_registry_is_sorted_by_id_whatever_order_modules_come_in() {
    // Compiled-in descriptors out of order, and a loaded module whose id sorts between them.
    let loaded = RegisteredModule {
        id: "middle".to_owned(),
        display_name: "middle".to_owned(),
        origin: Origin::File("/modules/libmiddle.so".into()),
        module: Arc::from(Renamed::<Middle>::boxed()),
    };
    let descriptors = [&ZETA, &REAL_REMISE, &ALPHA];
    let registry = Registry::build(descriptors, vec![loaded]).expect("registry builds");
    assert_eq!(registry.ids(), ["alpha", "middle", "remise", "zeta"]);
    let origins: Vec<String> = registry
        .modules()
        .iter()
        .map(|module| format!("{} {}", module.id, module.origin))
        .collect();
    assert_eq!(
        origins,
        [
            "alpha compiled-in",
            "middle /modules/libmiddle.so",
            "remise compiled-in",
            "zeta compiled-in"
        ]
    );
    assert_eq!(registry.get("zeta").map(|m| m.module.id()), Some("zeta"));
}

#[test]
fn duplicate_ids_and_other_api_versions_are_refused() {
    let descriptors = shophost_module_api::compiled_in_modules().chain([&FAKE_REMISE]);
    let error = Registry::build(descriptors, vec![]).unwrap_err();
    assert_eq!(
        error,
        RegistryError::Duplicate {
            id: "remise".into(),
            first: "compiled-in".into(),
            second: "compiled-in".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "module id `remise` is registered twice (compiled-in and compiled-in)"
    );
    let error = Registry::build([&OLD_API], vec![]).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "module `remise` (compiled-in) was built for module API version {}, this host speaks version {API_VERSION}",
            API_VERSION + 1
        )
    );
}

fn config_error(text: &str) -> String {
    let registry = registry();
    match RawConfig::parse(text, "shophost.toml") {
        Err(error) => error.to_string(),
        Ok(raw) => match Config::from_raw(raw, "shophost.toml", &registry, &|_| None) {
            Err(error) => error.to_string(),
            Ok(_) => "ok".to_owned(),
        },
    }
}

#[test]
fn every_config_error_names_file_key_and_reason() {
    let cases: &[(&str, &str)] = &[
        ("[modules]\nin_use = [\"remise\"]\n", "ok"),
        ("[server]\nlisten = \"127.0.0.1:8080\"\nport = 1\n", "shophost.toml: server.port (line 3): unknown field `port`, expected one of `listen`, `public_url`, `trusted_proxies`, `max_body_bytes`, `metrics_listen`"),
        ("[shop]\nshipping = \"free\"\n", "shophost.toml: shop.shipping (line 2): invalid type: string \"free\", expected i64"),
        ("[oops]\n", "shophost.toml: oops (line 1): unknown field `oops`, expected one of `server`, `database`, `admin`, `shop`, `sandbox`, `notifications`, `retention`, `modules`, `mail`"),
        ("[notifications]\nrate_per_minute = 0\n", "shophost.toml: notifications.rate_per_minute: must be at least 1"),
        ("[notifications]\nrefused_max_bytes = -1\n", "shophost.toml: notifications.refused_max_bytes (line 2): invalid value: integer `-1`, expected u64"),
        ("[retention]\nsessions_days = 0\n", "shophost.toml: retention.sessions_days: must be at least 1 (to keep longer, give more days)"),
        ("[server]\nlisten = \"nowhere\"\n", "shophost.toml: server.listen: `nowhere` is not an address like 127.0.0.1:8080"),
        ("[server]\npublic_url = \"ftp://x\"\n", "shophost.toml: server.public_url: `ftp://x` must start with http:// or https://"),
        ("[server]\ntrusted_proxies = [\"10.0.0.0/99\"]\n", "shophost.toml: server.trusted_proxies: `10.0.0.0/99` has an invalid prefix length"),
        ("[database]\nurl = \"mysql://x\"\n", "shophost.toml: database.url: unknown database URL scheme `mysql:` (use `sqlite:PATH` or `postgres://…`)"),
        ("[admin]\ntoken = \"short\"\n", "shophost.toml: admin.token: must be at least 12 characters"),
        ("[modules]\nin_use = [\"acme\"]\n", "shophost.toml: modules.in_use[0]: unknown module `acme` (registered: remise)"),
        ("[modules]\nin_use = [\"remise\", \"remise\"]\n", "shophost.toml: modules.in_use[1]: module `remise` is listed twice"),
        ("[modules.settings.acme]\nkey = 1\n", "shophost.toml: modules.settings.acme: unknown module `acme` (registered: remise)"),
        ("[modules.settings.remise]\nSHOPCOO = \"x\"\n", "shophost.toml: modules.settings.remise.SHOPCOO: unknown setting (known: SHOPCO, HOSTID, card_activate, card_jb, payquick, howpay, continuation, card_pc_ope, send_url_pc, send_url_pc_test, conv_activate, S_PAYDATE, conv_pc_ope, send_url_cvs_pc, send_url_cvs_pc_test, notify_sources_test, notify_sources_public)"),
        ("[modules.settings.remise]\ncard_activate = 1\n", "shophost.toml: modules.settings.remise.card_activate: expected true/false (or \"on\"/\"off\"), found integer"),
        ("[modules.settings.remise]\nS_PAYDATE = 1.5\n", "shophost.toml: modules.settings.remise.S_PAYDATE: expected a non-negative integer or a string of digits, found float"),
        ("[modules.settings.remise]\nSHOPCO = 12\n", "shophost.toml: modules.settings.remise.SHOPCO: expected a string, found integer"),
        ("[mail]\ntransport = \"sendmail\"\n", "shophost.toml: mail.transport (line 2): unknown variant `sendmail`, expected `capture` or `smtp`"),
        ("[mail]\nfrom = \"shop\"\n", "shophost.toml: mail.from: 送信元メールアドレスを正しく入力してください"),
        ("[mail]\ntransport = \"smtp\"\nfrom = \"a@example.jp\"\n[mail.smtp]\nhost = \"mail.example.jp\"\ntls = \"none\"\n", "shophost.toml: mail.smtp.tls: 暗号化なしはこのマシン上のSMTPサーバー（127.0.0.1 など）にだけ使えます"),
        ("[mail]\nretry_first_seconds = 0\n", "shophost.toml: mail.retry_first_seconds: must be at least 1"),
        ("this is not toml", "shophost.toml: line 1: expected `.`, `=`"),
    ];
    for (text, expected) in cases {
        assert_eq!(config_error(text), *expected, "config:\n{text}");
    }
}

#[test]
fn the_example_config_is_valid_and_the_demo_config_checks() {
    let registry = registry();
    let example = shophost::config::example(&registry);
    let raw = RawConfig::parse(&example, "example").expect("example parses");
    Config::from_raw(raw, "example", &registry, &|_| None).expect("example validates");
    assert!(
        example.contains("# 加盟店コード"),
        "labels come from the schema"
    );
    let source = shophost::config::DEMO_SOURCE;
    let raw = RawConfig::parse(shophost::config::DEMO_CONFIG, source).expect("demo parses");
    let demo = Config::from_raw(raw, source, &registry, &|_| None).expect("demo validates");
    assert_eq!(demo.in_use, vec!["remise".to_owned()]);
}

fn shop_config(db: &str, in_use: &str, shopco: &str) -> String {
    format!(
        r#"
[database]
url = "{db}"
[admin]
token = "test-admin-token-123"
[modules]
in_use = [{in_use}]
[modules.settings.remise]
SHOPCO = "{shopco}"
HOSTID = "12345678"
card_activate = true
card_jb = "CAPTURE"
payquick = true
howpay = "on"
card_pc_ope = "test"
conv_activate = true
S_PAYDATE = 14
conv_pc_ope = "test"
"#
    )
}

async fn state(text: &str) -> Result<AppState, String> {
    let registry = registry();
    let config = shophost::serve::config_from_toml(text, &registry).map_err(|e| e.to_string())?;
    shophost::serve::build_state(config, registry)
        .await
        .map_err(|e| format!("{e:#}"))
}

async fn add_method(state: &AppState, name: &str, settlement_type: &str, active: bool) -> i64 {
    state
        .store
        .create_payment_method(&NewPaymentMethod {
            name: name.into(),
            explanation: String::new(),
            settlement_type: settlement_type.into(),
            active,
        })
        .await
        .unwrap()
        .id
}

async fn active_names(state: &AppState) -> Vec<String> {
    let methods = shophost::checkout::methods_for_checkout(state)
        .await
        .unwrap();
    methods.into_iter().map(|m| m.name).collect()
}

async fn checkout_lists_only_methods_in_use_with_provided_types_in_order(backend: Backend) {
    let scratch = backend.database("core-1");
    let db = scratch.url();
    let state = state(&shop_config(db, "\"remise\"", "TESTSHOP"))
        .await
        .unwrap();
    add_method(&state, "コンビニ決済", "acting_remise_conv", true).await;
    let card = add_method(&state, "カード決済", "acting_remise_card", true).await;
    add_method(&state, "停止中のカード", "acting_remise_card", false).await;
    assert_eq!(
        active_names(&state).await,
        vec!["コンビニ決済", "カード決済"]
    );
    // The operator moves the card up: the checkout follows.
    state
        .store
        .move_payment_method(card, MoveDirection::Up)
        .await
        .unwrap();
    assert_eq!(
        active_names(&state).await,
        vec!["カード決済", "コンビニ決済"]
    );
}

async fn a_settings_error_stops_the_modules_methods_until_the_operator_restarts_them(
    backend: Backend,
) {
    let scratch = backend.database("core-2");
    let db = scratch.url();
    let state = state(&shop_config(db, "\"remise\"", "TESTSHOP"))
        .await
        .unwrap();
    add_method(&state, "カード決済", "acting_remise_card", true).await;
    add_method(&state, "コンビニ決済", "acting_remise_conv", true).await;

    let mut values: SettingsValues = state.engine.states()["remise"].values.clone();
    values.insert("SHOPCO".into(), String::new());
    let report = state
        .engine
        .update_settings("remise", values.clone(), state.store.as_ref())
        .await
        .unwrap();
    assert!(!report.ok);
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.key == "SHOPCO" && e.message == "※加盟店コードを入力してください"),
        "{:?}",
        report.errors
    );
    assert_eq!(report.stopped_methods, vec!["カード決済", "コンビニ決済"]);
    assert!(report
        .messages
        .contains(&"支払方法のカード決済を「停止」しました。".to_owned()));
    assert!(report
        .messages
        .contains(&"設定を完了して、支払方法を「使用」に更新してください。".to_owned()));
    assert!(active_names(&state).await.is_empty());
    assert!(
        state.engine.provided("acting_remise_card").is_none(),
        "types are withdrawn"
    );

    values.insert("SHOPCO".into(), "TESTSHOP".into());
    let report = state
        .engine
        .update_settings("remise", values, state.store.as_ref())
        .await
        .unwrap();
    assert!(report.ok, "{:?}", report.errors);
    assert!(report.stopped_methods.is_empty());
    assert_eq!(
        report.methods_waiting_for_use,
        vec!["カード決済", "コンビニ決済"]
    );
    assert!(report
        .messages
        .iter()
        .any(|m| m.starts_with("利用する支払方法を「使用」に更新してください。")));
    assert!(
        active_names(&state).await.is_empty(),
        "methods stay stopped until set to 使用"
    );

    // The operator's settings survive a restart and win over the file.
    drop(state);
    let state = self::state(&shop_config(db, "\"remise\"", "FILESHOP"))
        .await
        .unwrap();
    assert_eq!(state.engine.states()["remise"].values["SHOPCO"], "TESTSHOP");
}

async fn a_module_cannot_leave_use_while_one_of_its_methods_is_in_use(backend: Backend) {
    let scratch = backend.database("core-3");
    let db = scratch.url();
    let state = state(&shop_config(db, "\"remise\"", "TESTSHOP"))
        .await
        .unwrap();
    let card = add_method(&state, "カード決済", "acting_remise_card", true).await;
    drop(state);

    let error = self::state(&shop_config(db, "", "TESTSHOP"))
        .await
        .err()
        .unwrap();
    assert!(
        error.contains("module `remise` cannot be taken out of use: payment method `カード決済` is in use (使用). Set it to 停止 first"),
        "{error}"
    );

    let state = self::state(&shop_config(db, "\"remise\"", "TESTSHOP"))
        .await
        .unwrap();
    let mut method = state.store.payment_method(card).await.unwrap().unwrap();
    method.active = false;
    state
        .store
        .update_payment_method(
            card,
            &NewPaymentMethod {
                name: method.name.clone(),
                explanation: method.explanation.clone(),
                settlement_type: method.settlement_type.clone(),
                active: false,
            },
        )
        .await
        .unwrap();
    drop(state);
    let state = self::state(&shop_config(db, "", "TESTSHOP"))
        .await
        .expect("stopped methods do not block");
    let methods = state.store.payment_methods().await.unwrap();
    assert_eq!(methods.len(), 1, "the method stays, stopped");
    assert!(!methods[0].active);
    assert!(active_names(&state).await.is_empty());
}

async fn a_method_with_a_checkout_cannot_be_deleted(backend: Backend) {
    use shophost::checkout::{CartInputLine, CheckoutInput};
    use shophost::domain::CustomerDetails;
    let scratch = backend.database("core-4");
    let db = scratch.url();
    let state = state(&shop_config(db, "\"remise\"", "TESTSHOP"))
        .await
        .unwrap();
    state
        .store
        .ensure_product("SKU1", "テスト商品", 1000, "")
        .await
        .unwrap();
    let product = state.store.products().await.unwrap()[0].id;
    let used = add_method(&state, "カード決済", "acting_remise_card", true).await;
    let unused = add_method(&state, "未使用", "acting_remise_card", true).await;
    let input = CheckoutInput {
        lines: vec![CartInputLine {
            product_id: product,
            quantity: 1,
        }],
        customer: CustomerDetails {
            email: "a@example.invalid".into(),
            family_name: "山田".into(),
            given_name: "太郎".into(),
            postcode: "100-0001".into(),
            prefecture: "東京都".into(),
            address1: "千代田区千代田".into(),
            phone: "03-1234-5678".into(),
            ..CustomerDetails::default()
        },
        payment_method_id: used,
        note: String::new(),
        options: Default::default(),
    };
    let attempt = shophost::checkout::create_attempt(&state, &input, None)
        .await
        .unwrap();
    assert_eq!(attempt.link_key.len(), 17);
    assert!(
        attempt.link_key.bytes().all(|b| b.is_ascii_digit()) && !attempt.link_key.starts_with('0')
    );
    assert!(matches!(
        state.store.delete_payment_method(used).await,
        Err(shophost::db::DbError::Conflict("orders"))
    ));
    state.store.delete_payment_method(unused).await.unwrap();
    assert_eq!(state.store.payment_methods().await.unwrap().len(), 1);
}

// Each test above runs on SQLite, and on PostgreSQL when SHOPHOST_TEST_PG_URL names a server.
on_both_backends!(
    checkout_lists_only_methods_in_use_with_provided_types_in_order,
    a_settings_error_stops_the_modules_methods_until_the_operator_restarts_them,
    a_module_cannot_leave_use_while_one_of_its_methods_is_in_use,
    a_method_with_a_checkout_cannot_be_deleted,
);
