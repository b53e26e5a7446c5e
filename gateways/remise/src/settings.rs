//! The operator's Remise settings: the form (keys and labels as on Welcart's ルミーズ tab, help from the
//! operator manual) and its validation into a typed [`RemiseConfig`].
//!
//! Keys are Welcart's so that an operator moving from Welcart finds the same fields, and so that the
//! error messages can keep Welcart's wording (`※加盟店コードを入力してください`). Validation happens once,
//! here; everything after it reads the typed config and never re-checks strings.

use shophost_module_api::{
    CharClass, FieldError, IpRange, SettingField, SettingsSchema, SettingsValues,
};

/// Remise's test environment for card payments (Welcart's fixed `send_url_pc_test`).
pub const DEFAULT_CARD_TEST_URL: &str = "https://test.remise.jp/rpgw2/pc/card/paycard.aspx";
/// Remise's test environment for multi-payments (Welcart's fixed `send_url_cvs_pc_test`).
pub const DEFAULT_CONV_TEST_URL: &str = "https://test.remise.jp/rpgw2/pc/cvs/paycvs.aspx";
/// The addresses Remise's test environment sends notifications from (as Welcart 2.11.33+ allows them).
pub const DEFAULT_NOTIFY_SOURCES_TEST: &str = "183.177.132.56/29 3.114.65.232";
/// The addresses Remise's production environment sends notifications from.
pub const DEFAULT_NOTIFY_SOURCES_PUBLIC: &str = "210.160.253.128/26 3.115.50.231 3.113.156.98";

/// Which of Remise's environments a payment kind talks to (`*_pc_ope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemiseEnvironment {
    /// テスト環境 (`test`).
    Test,
    /// 本番環境 (`public`).
    Public,
}

/// The card job code (`card_jb`, sent as `JOB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemiseJob {
    /// 仮売上処理: authorise only; the operator captures in Remise's backyard.
    Auth,
    /// 売上処理: authorise and capture.
    Capture,
}

impl RemiseJob {
    /// The value sent as `JOB`.
    pub fn as_wire(self) -> &'static str {
        match self {
            RemiseJob::Auth => "AUTH",
            RemiseJob::Capture => "CAPTURE",
        }
    }
}

/// Card payment settings, present only when クレジットカード決済 is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseCardSettings {
    /// ジョブコード.
    pub job: RemiseJob,
    /// ペイクイック機能: members get `PAYQUICK=1` and their card is kept at Remise.
    pub payquick: bool,
    /// お客様の支払方法: whether the shopper may choose installments (分割払いに対応する).
    pub installments: bool,
    /// 自動継続課金: recurring items may be bought by card; the first payment registers the recurring
    /// charge at Remise, which then charges by itself.
    pub continuation: bool,
    /// 稼働環境.
    pub environment: RemiseEnvironment,
    /// Where the payment form posts to: the production or test URL, per `environment`.
    pub form_url: String,
    /// Where card result notifications may come from, per `environment`.
    pub notify_sources: Vec<IpRange>,
}

/// Multi-payment (コンビニ・電子マネー) settings, present only when that payment kind is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseConvSettings {
    /// 支払期限 in days after the order; `None` leaves the deadline to the contract's default.
    pub pay_days: Option<u32>,
    /// 稼働環境.
    pub environment: RemiseEnvironment,
    /// Where the payment form posts to: the production or test URL, per `environment`.
    pub form_url: String,
    /// Where issuance and receipt notifications may come from, per `environment`.
    pub notify_sources: Vec<IpRange>,
}

/// The validated Remise settings, kept by the host inside a `ModuleConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseConfig {
    /// 加盟店コード (`SHOPCO`); may be blank only when both payment kinds are off.
    pub shop_code: String,
    /// ホスト番号 (`HOSTID`); may be blank only when both payment kinds are off.
    pub host_id: String,
    /// Card payments, when on.
    pub card: Option<RemiseCardSettings>,
    /// Multi-payments, when on.
    pub conv: Option<RemiseConvSettings>,
}

const ENVIRONMENTS: &[(&str, &str)] = &[("test", "テスト環境"), ("public", "本番環境")];
const URL_HELP_CARD: &str = "クレジットカード決済の本番環境(PC)で接続する URL を設定します。「ルミーズ本番環境設定情報連絡票」の「決済情報送信先URL(PC用)」に記載されている URL を入力してください。";
const URL_HELP_CONV: &str = "コンビニ・電子マネー決済の本番環境(PC)で接続する URL を設定します。「ルミーズ本番環境設定情報連絡票」の「決済情報送信先URL(PC用)」に記載されているURLを入力してください。";

/// The settings form, in the order of Welcart's ルミーズ tab.
pub fn settings_schema() -> SettingsSchema {
    SettingsSchema::new(vec![
        SettingField::text("SHOPCO", "加盟店コード")
            .chars(CharClass::AsciiAlphanumeric)
            .max_chars(8)
            .help("契約時に発行された加盟店コードを半角英数で入力してください。"),
        SettingField::digits("HOSTID", "ホスト番号")
            .max_chars(8)
            .help("契約時に割り当てられたホスト番号を半角数字で入力してください。"),
        SettingField::on_off("card_activate", "クレジットカード決済")
            .default_value("off")
            .help("クレジットカード決済を利用する場合は、「利用する」を選択してください。"),
        SettingField::choice("card_jb", "ジョブコード", &[("AUTH", "仮売上処理"), ("CAPTURE", "売上処理")])
            .help("決済の種類を選択してください。"),
        SettingField::on_off("payquick", "ペイクイック機能").help(
            "「利用する」を選択した場合、ログインして一度購入した会員は、次回購入時にカード番号を入力する必要がなくなります。",
        ),
        SettingField::choice("howpay", "お客様の支払方法", &[("on", "分割払いに対応する"), ("off", "一括払いのみ")])
            .help("クレジットカードでの支払いで、「一括払いのみ」か「分割払いに対応するか」を選択できます。分割払いに対応する場合は、ルミーズ側の設定が必要です。"),
        SettingField::on_off("continuation", "自動継続課金")
            .default_value("off")
            .help("継続課金商品（毎月・6か月ごと・毎年）をクレジットカードで販売する場合は「利用する」を選択してください。ルミーズの自動継続課金サービスの契約が必要です。初回は仮売上処理・一括払いで決済され、2回目以降はルミーズが課金します。"),
        SettingField::choice("card_pc_ope", "稼働環境", ENVIRONMENTS)
            .help("クレジットカード決済のテスト環境と本番環境を切り替えます。"),
        SettingField::url("send_url_pc", "本番URL(PC)").help(URL_HELP_CARD),
        SettingField::url("send_url_pc_test", "テスト環境URL")
            .default_value(DEFAULT_CARD_TEST_URL)
            .help("クレジットカード決済のテスト環境で接続する URL です。通常は変更しないでください（検証用のサンドボックスに接続するときだけ変更します）。"),
        SettingField::on_off("conv_activate", "コンビニ・電子マネー決済")
            .default_value("off")
            .help("コンビニ・電子マネー決済を利用する場合は、「利用する」を選択してください。"),
        SettingField::digits("S_PAYDATE", "支払期限")
            .range(2, 30)
            .help("2 日以上 30 日以内の日数を半角数字で設定してください。空白の場合、契約時に指定の支払期日日数より支払い期限日が算出されます。WebMoney 決済の場合、支払期限日の設定に関係なく発行日の翌日になります。支払い期限日を過ぎると受注はキャンセル扱いになります。"),
        SettingField::choice("conv_pc_ope", "稼働環境", ENVIRONMENTS)
            .help("コンビニ・電子マネー決済のテスト環境と本番環境を切り替えます。"),
        SettingField::url("send_url_cvs_pc", "本番URL(PC)").help(URL_HELP_CONV),
        SettingField::url("send_url_cvs_pc_test", "テスト環境URL")
            .default_value(DEFAULT_CONV_TEST_URL)
            .help("コンビニ・電子マネー決済のテスト環境で接続する URL です。通常は変更しないでください（検証用のサンドボックスに接続するときだけ変更します）。"),
        SettingField::text("notify_sources_test", "結果通知の送信元（テスト環境）")
            .list()
            .default_value(DEFAULT_NOTIFY_SOURCES_TEST)
            .help("テスト環境のルミーズが結果通知・収納情報通知を送信するIPアドレス（CIDR可）を、空白またはカンマで区切って入力してください。ほかの送信元からの通知は受け付けません。"),
        SettingField::text("notify_sources_public", "結果通知の送信元（本番環境）")
            .list()
            .default_value(DEFAULT_NOTIFY_SOURCES_PUBLIC)
            .help("本番環境のルミーズが結果通知・収納情報通知を送信するIPアドレス（CIDR可）を、空白またはカンマで区切って入力してください。ほかの送信元からの通知は受け付けません。"),
    ])
}

/// Validates the operator's values into a [`RemiseConfig`], or returns every error, at most one per
/// field, in the order of the form.
///
/// The generic checks come from the schema; the rules here are Welcart's (the same messages), plus the
/// choices Welcart leaves unchecked but which the module needs to build a form (ジョブコード, 稼働環境…).
/// Unlike Welcart 2.12, a blank 支払期限 is allowed: the manual says it means "the contract's default".
pub fn validate(values: &SettingsValues) -> Result<RemiseConfig, Vec<FieldError>> {
    let schema = settings_schema();
    let values = schema.with_defaults(values);
    let mut errors = Errors {
        list: schema.check(&values),
    };
    let value = |key: &str| values.get(key).map(String::as_str).unwrap_or("");
    let blank = |key: &str| value(key).is_empty();
    let card_on = value("card_activate") == "on";
    let conv_on = value("conv_activate") == "on";

    if card_on || conv_on {
        if blank("SHOPCO") {
            errors.add("SHOPCO", "※加盟店コードを入力してください");
        }
        if blank("HOSTID") {
            errors.add("HOSTID", "※ホスト番号を入力してください");
        }
    }
    if card_on {
        for (key, message) in [
            ("card_jb", "※ジョブコードを選択してください"),
            ("payquick", "※ペイクイック機能を選択してください"),
            ("howpay", "※お客様の支払方法を選択してください"),
            (
                "card_pc_ope",
                "※クレジットカード決済の稼働環境を選択してください",
            ),
        ] {
            if blank(key) {
                errors.add(key, message);
            }
        }
        match value("card_pc_ope") {
            "public" if blank("send_url_pc") => errors.add(
                "send_url_pc",
                "※クレジットカード決済の本番URLを入力してください",
            ),
            "test" if blank("send_url_pc_test") => errors.add(
                "send_url_pc_test",
                "※クレジットカード決済のテスト環境URLを入力してください",
            ),
            _ => {}
        }
    }
    if conv_on {
        if blank("conv_pc_ope") {
            errors.add(
                "conv_pc_ope",
                "※コンビニ・電子マネー決済の稼働環境を選択してください",
            );
        }
        match value("conv_pc_ope") {
            "public" if blank("send_url_cvs_pc") => errors.add(
                "send_url_cvs_pc",
                "※コンビニ・電子マネー決済の本番URLを入力してください",
            ),
            "test" if blank("send_url_cvs_pc_test") => errors.add(
                "send_url_cvs_pc_test",
                "※コンビニ・電子マネー決済のテスト環境URLを入力してください",
            ),
            _ => {}
        }
    }

    let sources_test = sources(
        &mut errors,
        "notify_sources_test",
        "テスト環境",
        value("notify_sources_test"),
    );
    let sources_public = sources(
        &mut errors,
        "notify_sources_public",
        "本番環境",
        value("notify_sources_public"),
    );
    // An empty allow-list would refuse every notification of an environment in use: say so now rather
    // than lose every payment result later.
    let environments_in_use = [
        (card_on, value("card_pc_ope")),
        (conv_on, value("conv_pc_ope")),
    ];
    for (key, environment, ranges, name) in [
        ("notify_sources_test", "test", &sources_test, "テスト環境"),
        (
            "notify_sources_public",
            "public",
            &sources_public,
            "本番環境",
        ),
    ] {
        let in_use = environments_in_use
            .iter()
            .any(|(on, chosen)| *on && *chosen == environment);
        if in_use && ranges.as_ref().is_some_and(Vec::is_empty) {
            errors.add(
                key,
                &format!("※結果通知の送信元（{name}）を入力してください"),
            );
        }
    }

    if !errors.list.is_empty() {
        let order = |key: &str| {
            schema
                .fields
                .iter()
                .position(|field| field.key == key)
                .unwrap_or(usize::MAX)
        };
        errors.list.sort_by_key(|error| order(&error.key));
        return Err(errors.list);
    }

    // Every value below was checked above, so the fallbacks are never taken; they only keep this
    // function free of panics.
    let environment = |key: &str| match value(key) {
        "public" => RemiseEnvironment::Public,
        _ => RemiseEnvironment::Test,
    };
    let sources_for = |environment: RemiseEnvironment| match environment {
        RemiseEnvironment::Test => sources_test.clone().unwrap_or_default(),
        RemiseEnvironment::Public => sources_public.clone().unwrap_or_default(),
    };
    let card = card_on.then(|| {
        let environment = environment("card_pc_ope");
        RemiseCardSettings {
            job: if value("card_jb") == "AUTH" {
                RemiseJob::Auth
            } else {
                RemiseJob::Capture
            },
            payquick: value("payquick") == "on",
            installments: value("howpay") == "on",
            continuation: value("continuation") == "on",
            environment,
            form_url: match environment {
                RemiseEnvironment::Public => value("send_url_pc").to_owned(),
                RemiseEnvironment::Test => value("send_url_pc_test").to_owned(),
            },
            notify_sources: sources_for(environment),
        }
    });
    let conv = conv_on.then(|| {
        let environment = environment("conv_pc_ope");
        RemiseConvSettings {
            pay_days: value("S_PAYDATE").parse().ok(),
            environment,
            form_url: match environment {
                RemiseEnvironment::Public => value("send_url_cvs_pc").to_owned(),
                RemiseEnvironment::Test => value("send_url_cvs_pc_test").to_owned(),
            },
            notify_sources: sources_for(environment),
        }
    });
    Ok(RemiseConfig {
        shop_code: value("SHOPCO").to_owned(),
        host_id: value("HOSTID").to_owned(),
        card,
        conv,
    })
}

/// The error list, keeping only the first error of each field.
struct Errors {
    list: Vec<FieldError>,
}

impl Errors {
    fn add(&mut self, key: &str, message: &str) {
        if !self.list.iter().any(|error| error.key == key) {
            self.list.push(FieldError::new(key, message.to_owned()));
        }
    }
}

/// The parsed address list, or `None` (and an error) when it does not parse.
fn sources(errors: &mut Errors, key: &str, name: &str, text: &str) -> Option<Vec<IpRange>> {
    match IpRange::parse_list(text) {
        Ok(ranges) => Some(ranges),
        Err(reason) => {
            errors.add(
                key,
                &format!("※結果通知の送信元（{name}）のIPアドレスが正しくありません: {reason}"),
            );
            None
        }
    }
}
