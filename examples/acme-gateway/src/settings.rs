//! Acme's settings: the operator's form and its validation into [`AcmeConfig`].
//!
//! The schema gives the generic checks (required, kinds, lengths, ranges); the rules here are the ones
//! that tie fields together: a live shop must use an `https://` payment page, and the secret key must be
//! long enough to be a real key and not a placeholder.

use shophost_module_api::{
    CharClass, FieldError, Secret, SettingField, SettingsSchema, SettingsValues,
};

/// Acme's test payment page.
pub const DEFAULT_TEST_PAGE: &str = "https://sandbox.acme.example/pay";
/// Acme's live payment page.
pub const DEFAULT_LIVE_PAGE: &str = "https://pay.acme.example/pay";
/// Shortest secret key accepted; Acme issues 32-character keys.
pub const SECRET_MIN_CHARS: usize = 16;

/// Where payments go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeEnvironment {
    /// Acme's sandbox: no money moves.
    Test,
    /// Real payments.
    Live,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeConfig {
    /// `merchant_id`: echoed in every notification and checked.
    pub merchant_id: String,
    /// `secret_key`: signs forms and notifications.
    pub secret_key: Secret,
    /// `environment`.
    pub environment: AcmeEnvironment,
    /// The payment page of the chosen environment.
    pub payment_page_url: String,
    /// `card`: card payments on.
    pub card: bool,
    /// `bank`: bank transfers on.
    pub bank: bool,
    /// `bank_days`: days the shopper has to transfer.
    pub bank_days: i64,
}

/// The operator's form.
pub fn settings_schema() -> SettingsSchema {
    SettingsSchema::new(vec![
        SettingField::text("merchant_id", "加盟店ID")
            .required()
            .max_chars(32)
            .chars(CharClass::AsciiAlphanumeric)
            .help("Acme の管理画面に表示される加盟店IDです。"),
        SettingField::secret("secret_key", "シークレットキー")
            .required()
            .max_chars(128)
            .help("決済フォームと通知の署名（HMAC-SHA256）に使います。"),
        SettingField::choice(
            "environment",
            "稼働環境",
            &[("test", "テスト環境"), ("live", "本番環境")],
        )
        .default_value("test"),
        SettingField::url("payment_page_url_test", "テスト環境の決済ページURL")
            .default_value(DEFAULT_TEST_PAGE),
        SettingField::url("payment_page_url_live", "本番環境の決済ページURL")
            .default_value(DEFAULT_LIVE_PAGE),
        SettingField::on_off("card", "カード決済").default_value("on"),
        SettingField::on_off("bank", "銀行振込").default_value("on"),
        SettingField::digits("bank_days", "振込期限（日数）")
            .range(1, 30)
            .default_value("7")
            .help("ご注文日から何日以内に振り込んでいただくかを指定します。"),
    ])
}

/// Validates the operator's values (defaults filled in) into an [`AcmeConfig`], or every error.
pub fn validate(values: &SettingsValues) -> Result<AcmeConfig, Vec<FieldError>> {
    let schema = settings_schema();
    let values = schema.with_defaults(values);
    let mut errors = schema.check(&values);
    let value = |key: &str| values.get(key).map(String::as_str).unwrap_or("");
    let has_error = |errors: &[FieldError], key: &str| errors.iter().any(|e| e.key == key);
    let secret = value("secret_key");
    if !secret.is_empty()
        && secret.chars().count() < SECRET_MIN_CHARS
        && !has_error(&errors, "secret_key")
    {
        errors.push(FieldError::new(
            "secret_key",
            format!("シークレットキーは{SECRET_MIN_CHARS}文字以上で入力してください"),
        ));
    }
    let environment = match value("environment") {
        "live" => AcmeEnvironment::Live,
        _ => AcmeEnvironment::Test,
    };
    let page_key = match environment {
        AcmeEnvironment::Live => "payment_page_url_live",
        AcmeEnvironment::Test => "payment_page_url_test",
    };
    // Card details and bank references must not travel in clear text to a live page.
    if environment == AcmeEnvironment::Live
        && !value(page_key).to_ascii_lowercase().starts_with("https://")
        && !has_error(&errors, page_key)
    {
        errors.push(FieldError::new(
            page_key,
            "本番環境の決済ページURLは https:// で始まるURLを入力してください".to_owned(),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(AcmeConfig {
        merchant_id: value("merchant_id").to_owned(),
        secret_key: Secret::new(secret),
        environment,
        payment_page_url: value(page_key).to_owned(),
        card: value("card") == "on",
        bank: value("bank") == "on",
        // Checked by the schema: 1 to 30 digits-only.
        bank_days: value("bank_days").parse().unwrap_or(7),
    })
}
