//! The settings form, its validation messages (Welcart's wording), its defaults, and what a config
//! provides: settlement types, endpoints and the module's identity.

mod common;

use common::{config, shop_with, values};
use remise::settings::{self, RemiseEnvironment, RemiseJob};
use remise::RemiseModule;
use shophost_module_api::{
    CharClass, CheckoutOption, EndpointPath, FieldKind, IpRange, LinkKeySpec, NotificationEndpoint,
    NotificationTrust, PaymentModule, SettlementKind, SettlementType, TypedModule, WireCharset,
};

/// Validates `pairs` (on top of nothing) and compares the errors, `(key, message)`, in order.
fn check(pairs: &[(&str, &str)], expect: &[(&str, &str)]) {
    let got: Vec<(String, String)> = match settings::validate(&values(pairs)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| (e.key, e.message)).collect(),
    };
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(key, message)| ((*key).to_owned(), (*message).to_owned()))
        .collect();
    assert_eq!(got, expect, "settings {pairs:?}");
}

#[test]
fn every_validation_message() {
    // Both off: nothing is required.
    check(&[], &[]);
    check(&[("card_activate", "off"), ("conv_activate", "off")], &[]);
    // Card on with nothing else: every card choice Welcart's screen leaves 未選択.
    check(
        &[("card_activate", "on")],
        &[
            ("SHOPCO", "※加盟店コードを入力してください"),
            ("HOSTID", "※ホスト番号を入力してください"),
            ("card_jb", "※ジョブコードを選択してください"),
            ("payquick", "※ペイクイック機能を選択してください"),
            ("howpay", "※お客様の支払方法を選択してください"),
            (
                "card_pc_ope",
                "※クレジットカード決済の稼働環境を選択してください",
            ),
        ],
    );
    let card = [
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("card_activate", "on"),
        ("card_jb", "AUTH"),
        ("payquick", "off"),
        ("howpay", "off"),
    ];
    check(
        &[&card[..], &[("card_pc_ope", "public")]].concat(),
        &[(
            "send_url_pc",
            "※クレジットカード決済の本番URLを入力してください",
        )],
    );
    check(
        &[
            &card[..],
            &[
                ("card_pc_ope", "public"),
                ("send_url_pc", "https://card.example/pay"),
            ],
        ]
        .concat(),
        &[],
    );
    check(
        &[
            &card[..],
            &[("card_pc_ope", "test"), ("send_url_pc_test", "")],
        ]
        .concat(),
        &[(
            "send_url_pc_test",
            "※クレジットカード決済のテスト環境URLを入力してください",
        )],
    );
    // Conv on with nothing else; a blank 支払期限 is allowed (the contract's default).
    check(
        &[("conv_activate", "on")],
        &[
            ("SHOPCO", "※加盟店コードを入力してください"),
            ("HOSTID", "※ホスト番号を入力してください"),
            (
                "conv_pc_ope",
                "※コンビニ・電子マネー決済の稼働環境を選択してください",
            ),
        ],
    );
    let conv = [
        ("SHOPCO", "TESTSHOP"),
        ("HOSTID", "12345678"),
        ("conv_activate", "on"),
    ];
    check(
        &[&conv[..], &[("conv_pc_ope", "public")]].concat(),
        &[(
            "send_url_cvs_pc",
            "※コンビニ・電子マネー決済の本番URLを入力してください",
        )],
    );
    check(
        &[
            &conv[..],
            &[("conv_pc_ope", "test"), ("send_url_cvs_pc_test", "")],
        ]
        .concat(),
        &[(
            "send_url_cvs_pc_test",
            "※コンビニ・電子マネー決済のテスト環境URLを入力してください",
        )],
    );
    check(
        &[&conv[..], &[("conv_pc_ope", "test"), ("S_PAYDATE", "")]].concat(),
        &[],
    );
    check(
        &[&conv[..], &[("conv_pc_ope", "test"), ("S_PAYDATE", "31")]].concat(),
        &[("S_PAYDATE", "支払期限は2以上30以下で入力してください")],
    );
    check(
        &[&conv[..], &[("conv_pc_ope", "test"), ("S_PAYDATE", "1")]].concat(),
        &[("S_PAYDATE", "支払期限は2以上30以下で入力してください")],
    );
    // Generic checks keep their own message, and a field gets only one error.
    check(
        &[("card_activate", "on"), ("SHOPCO", "ABC-1"), ("HOSTID", "12a"), ("card_jb", "CHECK")],
        &[
            ("SHOPCO", "加盟店コードは半角英数で入力してください"),
            ("HOSTID", "ホスト番号は半角数字で入力してください"),
            (
                "card_jb",
                "ジョブコードは次のいずれかを選んでください: AUTH（仮売上処理）、CAPTURE（売上処理）",
            ),
            ("payquick", "※ペイクイック機能を選択してください"),
            ("howpay", "※お客様の支払方法を選択してください"),
            ("card_pc_ope", "※クレジットカード決済の稼働環境を選択してください"),
        ],
    );
    check(
        &[("SHOPCO", "ABCDEFGHI"), ("HOSTID", "123456789")],
        &[
            ("SHOPCO", "加盟店コードは8文字以内で入力してください"),
            ("HOSTID", "ホスト番号は8文字以内で入力してください"),
        ],
    );
    check(
        &[("send_url_pc", "ftp://card.example/")],
        &[(
            "send_url_pc",
            "本番URL(PC)は http:// または https:// で始まるURLを入力してください",
        )],
    );
    // Address lists must parse, and the list of an environment in use must not be empty.
    check(
        &[("notify_sources_test", "1.2.3.4, nope")],
        &[(
            "notify_sources_test",
            "※結果通知の送信元（テスト環境）のIPアドレスが正しくありません: `nope` is not an IP address or CIDR range",
        )],
    );
    check(
        &[("notify_sources_public", "1.2.3.4/33")],
        &[(
            "notify_sources_public",
            "※結果通知の送信元（本番環境）のIPアドレスが正しくありません: `1.2.3.4/33` has an invalid prefix length",
        )],
    );
    check(
        &[
            &conv[..],
            &[("conv_pc_ope", "test"), ("notify_sources_test", "")],
        ]
        .concat(),
        &[(
            "notify_sources_test",
            "※結果通知の送信元（テスト環境）を入力してください",
        )],
    );
    check(&[("notify_sources_public", "")], &[]);
    // Unknown keys are errors, after the known fields.
    check(
        &[("activate", "on"), ("HOSTID", "x")],
        &[
            ("HOSTID", "ホスト番号は半角数字で入力してください"),
            ("activate", "この設定項目はありません"),
        ],
    );
}

#[test]
fn schema_fields_and_defaults() {
    let schema = settings::settings_schema();
    let keys: Vec<&str> = schema
        .fields
        .iter()
        .map(|field| field.key.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "SHOPCO",
            "HOSTID",
            "card_activate",
            "card_jb",
            "payquick",
            "howpay",
            "continuation",
            "card_pc_ope",
            "send_url_pc",
            "send_url_pc_test",
            "conv_activate",
            "S_PAYDATE",
            "conv_pc_ope",
            "send_url_cvs_pc",
            "send_url_cvs_pc_test",
            "notify_sources_test",
            "notify_sources_public",
        ]
    );
    let defaults = schema.with_defaults(&values(&[]));
    let expect = [
        ("card_activate", "off"),
        ("continuation", "off"),
        ("conv_activate", "off"),
        (
            "send_url_pc_test",
            "https://test.remise.jp/rpgw2/pc/card/paycard.aspx",
        ),
        (
            "send_url_cvs_pc_test",
            "https://test.remise.jp/rpgw2/pc/cvs/paycvs.aspx",
        ),
        ("notify_sources_test", "183.177.132.56/29 3.114.65.232"),
        (
            "notify_sources_public",
            "210.160.253.128/26 3.115.50.231 3.113.156.98",
        ),
    ];
    assert_eq!(defaults, values(&expect));

    let shopco = schema.field("SHOPCO").unwrap();
    assert_eq!(
        (shopco.label.as_str(), shopco.chars, shopco.max_chars),
        ("加盟店コード", CharClass::AsciiAlphanumeric, Some(8))
    );
    let hostid = schema.field("HOSTID").unwrap();
    assert_eq!(
        (&hostid.kind, hostid.max_chars),
        (&FieldKind::Digits, Some(8))
    );
    let days = schema.field("S_PAYDATE").unwrap();
    assert_eq!((days.min, days.max), (Some(2), Some(30)));
    assert!(schema.field("card_jb").unwrap().has_choice("AUTH"));
    assert!(schema.field("card_jb").unwrap().has_choice("CAPTURE"));
    assert!(!schema.field("card_jb").unwrap().has_choice("CHECK"));
    assert!(schema.field("notify_sources_test").unwrap().list);
    for field in &schema.fields {
        assert!(!field.help.is_empty(), "{} has help", field.key);
        assert!(
            !field.required,
            "{}: requirements are conditional",
            field.key
        );
    }
}

#[test]
fn config_is_typed() {
    let config = config(&[("card_jb", "AUTH"), ("howpay", "on")]);
    assert_eq!(config.shop_code, "TESTSHOP");
    assert_eq!(config.host_id, "12345678");
    let card = config.card.as_ref().unwrap();
    assert_eq!(card.job, RemiseJob::Auth);
    assert!(card.payquick && card.installments);
    assert_eq!(card.environment, RemiseEnvironment::Test);
    assert_eq!(card.form_url, settings::DEFAULT_CARD_TEST_URL);
    assert_eq!(
        card.notify_sources,
        IpRange::parse_list(settings::DEFAULT_NOTIFY_SOURCES_TEST).unwrap()
    );
    let conv = config.conv.as_ref().unwrap();
    assert_eq!(conv.pay_days, Some(14));
    let public = settings::validate(&shop_with(&[
        ("conv_pc_ope", "public"),
        ("send_url_cvs_pc", "https://cvs.example/pay"),
    ]))
    .unwrap();
    let conv = public.conv.unwrap();
    assert_eq!(conv.environment, RemiseEnvironment::Public);
    assert_eq!(conv.form_url, "https://cvs.example/pay");
    assert_eq!(
        conv.notify_sources,
        IpRange::parse_list(settings::DEFAULT_NOTIFY_SOURCES_PUBLIC).unwrap()
    );
}

fn types(changes: &[(&str, &str)]) -> Vec<SettlementType> {
    TypedModule::settlement_types(&RemiseModule, &config(changes))
}

#[test]
fn settlement_types_per_config() {
    let card = SettlementType::new(
        "acting_remise_card",
        "カード決済（ルミーズ）",
        SettlementKind::Immediate,
    );
    let conv = || {
        SettlementType::new(
            "acting_remise_conv",
            "マルチ決済（ルミーズ）",
            SettlementKind::Deferred,
        )
    };
    let conv_14 = conv().notice("（お支払いの有効期限はご注文日から14日間となっております。）");
    assert_eq!(types(&[]), [card.clone(), conv_14.clone()]);
    assert_eq!(types(&[])[0].checkout_options, []);
    assert!(!types(&[])[0].recurring);
    // 自動継続課金 makes the card type take recurring items; multi-payments never do.
    assert_eq!(
        types(&[("continuation", "on")]),
        [card.clone().recurring(true), conv_14.clone()]
    );

    let installments = card.clone().checkout_option(CheckoutOption::new(
        "div",
        "お支払回数",
        &[("0", "一括払い"), ("1", "2回払い"), ("2", "リボ払い")],
    ));
    assert_eq!(
        types(&[("howpay", "on"), ("conv_activate", "off")]),
        [installments]
    );

    let conv_7 = conv().notice("（お支払いの有効期限はご注文日から7日間となっております。）");
    assert_eq!(
        types(&[("card_activate", "off"), ("S_PAYDATE", "7")]),
        [conv_7]
    );
    assert_eq!(
        types(&[("card_activate", "off"), ("S_PAYDATE", "")]),
        [conv()]
    );
    assert_eq!(
        types(&[("card_activate", "off"), ("conv_activate", "off")]),
        []
    );
}

#[test]
fn endpoints_trust_the_chosen_environment() {
    let endpoints = |changes: &[(&str, &str)]| {
        TypedModule::notification_endpoints(&RemiseModule, &config(changes))
    };
    let both = endpoints(&[
        ("conv_pc_ope", "public"),
        ("send_url_cvs_pc", "https://cvs.example/pay"),
    ]);
    assert_eq!(
        both,
        [
            NotificationEndpoint::source_address(
                "remise_card",
                IpRange::parse_list("183.177.132.56/29 3.114.65.232").unwrap()
            )
            .welcart_path()
            .setting_name("結果通知URL")
            .registered_at("加盟店バックヤード"),
            NotificationEndpoint::source_address(
                "remise_conv",
                IpRange::parse_list("210.160.253.128/26 3.115.50.231 3.113.156.98").unwrap()
            )
            .welcart_path()
            .setting_name("収納情報通知URL")
            .registered_at("加盟店バックヤード"),
        ]
    );
    // Operators moving from Welcart registered these URLs already.
    assert_eq!(both[0].path, EndpointPath::Welcart);
    assert_eq!(
        both[1].url("https://shop.example.jp/"),
        "https://shop.example.jp/index.php?acting=remise_conv"
    );
    assert!(matches!(both[0].trust, NotificationTrust::SourceAddress(_)));
    let only_card = endpoints(&[("conv_activate", "off")]);
    assert_eq!(only_card.len(), 1);
    assert_eq!(only_card[0].name, "remise_card");
    let none = endpoints(&[("conv_activate", "off"), ("card_activate", "off")]);
    assert_eq!(none, []);
}

#[test]
fn module_identity_and_registration() {
    // What the host sees: the module behind the object-safe trait.
    let module: &dyn PaymentModule = &RemiseModule;
    assert_eq!(module.id(), "remise");
    assert_eq!(module.display_name(), "ルミーズ");
    assert_eq!(module.wire_charset(), WireCharset::ShiftJis);
    assert_eq!(module.inbound_headers(), [] as [&str; 0]);
    assert_eq!(
        module.link_key_spec(),
        LinkKeySpec {
            digits: 17,
            card_update_prefix: Some("0000000"),
        }
    );
    remise::force_link();
    let registered: Vec<_> = shophost_module_api::compiled_in_modules()
        .filter(|descriptor| descriptor.id == "remise")
        .collect();
    assert_eq!(registered.len(), 1, "remise registers exactly once");
    let descriptor = registered[0];
    assert_eq!(descriptor.display_name, "ルミーズ");
    assert_eq!(descriptor.api_version, shophost_module_api::API_VERSION);
    assert_eq!((descriptor.build)().id(), "remise");
    // validate through the host's trait gives a config the module reads back.
    let config = module.validate(&shop_with(&[])).unwrap();
    assert_eq!(module.settlement_types(&config).len(), 2);
    assert!(module
        .validate(&values(&[("card_activate", "on")]))
        .is_err());
}
