//! Settings schemas: what a module asks the operator to fill in, and the generic checks every field gets.
//!
//! The schema is the single source for validation, the admin forms, the example config and the docs, so
//! a field is declared once here and everything else is derived from it.

use std::collections::BTreeMap;
use std::fmt;

/// The operator's settings for one module, as strings keyed by field key.
///
/// On/off fields hold `on` or `off`; choice fields hold the choice's value; an absent key and an empty
/// string both mean "blank".
pub type SettingsValues = BTreeMap<String, String>;

/// What kind of input a settings field takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text on one line.
    Text,
    /// Half-width digits only (an empty value is allowed unless the field is required).
    Digits,
    /// One of a fixed list of values.
    Choice(Vec<ChoiceOption>),
    /// `on` or `off`.
    OnOff,
    /// An absolute `http://` or `https://` URL.
    Url,
    /// A credential: write-only through the admin API, redacted in logs and `Debug`.
    Secret,
}

/// One allowed value of a [`FieldKind::Choice`] field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    /// The stored value, e.g. `AUTH`.
    pub value: String,
    /// The label the operator sees, e.g. `仮売上処理`.
    pub label: String,
}

/// Which characters a text field accepts, beyond its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharClass {
    /// Anything.
    Any,
    /// Half-width ASCII letters and digits (半角英数).
    AsciiAlphanumeric,
}

/// One field of a module's settings form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingField {
    /// Key in the config file and the admin API, e.g. `SHOPCO`.
    pub key: String,
    /// Japanese label shown to the operator, e.g. `加盟店コード`.
    pub label: String,
    /// The kind of input.
    pub kind: FieldKind,
    /// Value used when the operator leaves the field out.
    pub default: Option<String>,
    /// Help text shown under the field.
    pub help: String,
    /// Whether a blank value is an error regardless of other fields. Conditional requirements
    /// ("required when 本番環境") belong in the module's own validation.
    pub required: bool,
    /// Longest value in characters.
    pub max_chars: Option<usize>,
    /// Smallest number, for digit fields.
    pub min: Option<i64>,
    /// Largest number, for digit fields.
    pub max: Option<i64>,
    /// Characters accepted by text fields.
    pub chars: CharClass,
    /// Whether the field may hold several values separated by commas or spaces (e.g. address lists).
    pub list: bool,
}

impl SettingField {
    fn new(key: &str, label: &str, kind: FieldKind) -> Self {
        SettingField {
            key: key.to_owned(),
            label: label.to_owned(),
            kind,
            default: None,
            help: String::new(),
            required: false,
            max_chars: None,
            min: None,
            max: None,
            chars: CharClass::Any,
            list: false,
        }
    }

    /// A free-text field.
    pub fn text(key: &str, label: &str) -> Self {
        Self::new(key, label, FieldKind::Text)
    }

    /// A digits-only field.
    pub fn digits(key: &str, label: &str) -> Self {
        Self::new(key, label, FieldKind::Digits)
    }

    /// An on/off switch.
    pub fn on_off(key: &str, label: &str) -> Self {
        Self::new(key, label, FieldKind::OnOff)
    }

    /// A URL field.
    pub fn url(key: &str, label: &str) -> Self {
        Self::new(key, label, FieldKind::Url)
    }

    /// A secret (credential) field.
    pub fn secret(key: &str, label: &str) -> Self {
        Self::new(key, label, FieldKind::Secret)
    }

    /// A choice among `(value, label)` pairs.
    pub fn choice(key: &str, label: &str, options: &[(&str, &str)]) -> Self {
        let options = options
            .iter()
            .map(|(value, label)| ChoiceOption {
                value: (*value).to_owned(),
                label: (*label).to_owned(),
            })
            .collect();
        Self::new(key, label, FieldKind::Choice(options))
    }

    /// Sets the default value.
    pub fn default_value(mut self, value: &str) -> Self {
        self.default = Some(value.to_owned());
        self
    }

    /// Sets the help text.
    pub fn help(mut self, help: &str) -> Self {
        self.help = help.to_owned();
        self
    }

    /// Marks the field as always required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Limits the value's length in characters.
    pub fn max_chars(mut self, max: usize) -> Self {
        self.max_chars = Some(max);
        self
    }

    /// Limits a digit field's numeric range (inclusive).
    pub fn range(mut self, min: i64, max: i64) -> Self {
        self.min = Some(min);
        self.max = Some(max);
        self
    }

    /// Restricts the characters of a text field.
    pub fn chars(mut self, chars: CharClass) -> Self {
        self.chars = chars;
        self
    }

    /// Lets the field hold a list of values separated by commas or white space.
    pub fn list(mut self) -> Self {
        self.list = true;
        self
    }

    /// Whether `value` is one of this choice field's values (false for other kinds).
    pub fn has_choice(&self, value: &str) -> bool {
        match &self.kind {
            FieldKind::Choice(options) => options.iter().any(|option| option.value == value),
            _ => false,
        }
    }
}

/// A module's whole settings form, in display order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsSchema {
    /// The fields in display order.
    pub fields: Vec<SettingField>,
}

impl SettingsSchema {
    /// A schema made of these fields.
    pub fn new(fields: Vec<SettingField>) -> Self {
        SettingsSchema { fields }
    }

    /// The field with this key.
    pub fn field(&self, key: &str) -> Option<&SettingField> {
        self.fields.iter().find(|field| field.key == key)
    }

    /// The values with defaults filled in for every field the operator left out.
    pub fn with_defaults(&self, values: &SettingsValues) -> SettingsValues {
        let mut merged = values.clone();
        for field in &self.fields {
            if let Some(default) = &field.default {
                merged
                    .entry(field.key.clone())
                    .or_insert_with(|| default.clone());
            }
        }
        merged
    }

    /// A copy of `values` where every secret field is replaced by `********` (or left blank when blank),
    /// for logs, `Debug` output and API responses.
    pub fn redact(&self, values: &SettingsValues) -> SettingsValues {
        values
            .iter()
            .map(|(key, value)| {
                let secret = matches!(self.field(key).map(|f| &f.kind), Some(FieldKind::Secret));
                let shown = if secret && !value.is_empty() {
                    REDACTED.to_owned()
                } else {
                    value.clone()
                };
                (key.clone(), shown)
            })
            .collect()
    }

    /// The generic checks every field gets from its declaration: unknown keys, kind, required, length,
    /// characters and range. Returns every error, in schema order (unknown keys last).
    pub fn check(&self, values: &SettingsValues) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for field in &self.fields {
            let value = values.get(&field.key).map(String::as_str).unwrap_or("");
            if let Some(message) = check_field(field, value) {
                errors.push(FieldError::new(&field.key, message));
            }
        }
        for key in values.keys() {
            if self.field(key).is_none() {
                errors.push(FieldError::new(key, "この設定項目はありません".to_owned()));
            }
        }
        errors
    }
}

/// The text shown instead of a secret value.
pub const REDACTED: &str = "********";

fn check_field(field: &SettingField, value: &str) -> Option<String> {
    let label = &field.label;
    if value.is_empty() {
        return field.required.then(|| format!("{label}を入力してください"));
    }
    if let Some(max) = field.max_chars {
        if value.chars().count() > max {
            return Some(format!("{label}は{max}文字以内で入力してください"));
        }
    }
    match &field.kind {
        FieldKind::Text | FieldKind::Secret => {
            if field.chars == CharClass::AsciiAlphanumeric
                && !value.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Some(format!("{label}は半角英数で入力してください"));
            }
            if value.chars().any(char::is_control) {
                return Some(format!("{label}に制御文字は使えません"));
            }
        }
        FieldKind::Digits => {
            if !value.chars().all(|c| c.is_ascii_digit()) {
                return Some(format!("{label}は半角数字で入力してください"));
            }
            let number: Option<i64> = value.parse().ok();
            let below = matches!((number, field.min), (Some(n), Some(min)) if n < min);
            let above = matches!((number, field.max), (Some(n), Some(max)) if n > max);
            if below || above || number.is_none() && (field.min.is_some() || field.max.is_some()) {
                return Some(match (field.min, field.max) {
                    (Some(min), Some(max)) => {
                        format!("{label}は{min}以上{max}以下で入力してください")
                    }
                    (Some(min), None) => format!("{label}は{min}以上で入力してください"),
                    (None, Some(max)) => format!("{label}は{max}以下で入力してください"),
                    (None, None) => format!("{label}の値が正しくありません"),
                });
            }
        }
        FieldKind::Choice(options) => {
            if !options.iter().any(|option| option.value == value) {
                let allowed: Vec<String> = options
                    .iter()
                    .map(|option| format!("{}（{}）", option.value, option.label))
                    .collect();
                return Some(format!(
                    "{label}は次のいずれかを選んでください: {}",
                    allowed.join("、")
                ));
            }
        }
        FieldKind::OnOff => {
            if value != "on" && value != "off" {
                return Some(format!("{label}は on か off を指定してください"));
            }
        }
        FieldKind::Url => {
            let lower = value.to_ascii_lowercase();
            let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
            let host_ok = value
                .split_once("://")
                .map(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'))
                .unwrap_or(false);
            if !scheme_ok || !host_ok || value.chars().any(|c| c.is_whitespace()) {
                return Some(format!(
                    "{label}は http:// または https:// で始まるURLを入力してください"
                ));
            }
        }
    }
    None
}

/// One settings field's error, in Japanese, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's key.
    pub key: String,
    /// What is wrong, e.g. `※加盟店コードを入力してください`.
    pub message: String,
}

impl FieldError {
    /// An error for field `key`.
    pub fn new(key: &str, message: String) -> Self {
        FieldError {
            key: key.to_owned(),
            message,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A credential held in memory: its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for computing a signature; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(")?;
        f.write_str(REDACTED)?;
        f.write_str(")")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SettingsSchema {
        SettingsSchema::new(vec![
            SettingField::text("SHOPCO", "加盟店コード")
                .max_chars(8)
                .chars(CharClass::AsciiAlphanumeric),
            SettingField::digits("S_PAYDATE", "支払期限").range(2, 30),
            SettingField::choice(
                "JOB",
                "ジョブコード",
                &[("AUTH", "仮売上処理"), ("CAPTURE", "売上処理")],
            ),
            SettingField::on_off("card", "クレジットカード決済").default_value("off"),
            SettingField::url("url", "本番URL(PC)"),
            SettingField::secret("key", "秘密鍵").required(),
        ])
    }

    fn check(pairs: &[(&str, &str)], expect: &[(&str, &str)]) {
        let values: SettingsValues = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let got: Vec<(String, String)> = schema()
            .check(&values)
            .into_iter()
            .map(|e| (e.key, e.message))
            .collect();
        let expect: Vec<(String, String)> = expect
            .iter()
            .map(|(k, m)| ((*k).to_owned(), (*m).to_owned()))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn every_generic_rule_reports_its_field() {
        check(&[("key", "s")], &[]);
        check(&[], &[("key", "秘密鍵を入力してください")]);
        check(
            &[("key", "s"), ("SHOPCO", "ABC-1")],
            &[("SHOPCO", "加盟店コードは半角英数で入力してください")],
        );
        check(
            &[("key", "s"), ("SHOPCO", "ABCDEFGHI")],
            &[("SHOPCO", "加盟店コードは8文字以内で入力してください")],
        );
        check(
            &[("key", "s"), ("S_PAYDATE", "31"), ("JOB", "CHECK"), ("card", "yes"), ("url", "ftp://x")],
            &[
                ("S_PAYDATE", "支払期限は2以上30以下で入力してください"),
                ("JOB", "ジョブコードは次のいずれかを選んでください: AUTH（仮売上処理）、CAPTURE（売上処理）"),
                ("card", "クレジットカード決済は on か off を指定してください"),
                ("url", "本番URL(PC)は http:// または https:// で始まるURLを入力してください"),
            ],
        );
        check(
            &[("key", "s"), ("S_PAYDATE", "1４")],
            &[("S_PAYDATE", "支払期限は半角数字で入力してください")],
        );
        check(
            &[("key", "s"), ("nope", "1")],
            &[("nope", "この設定項目はありません")],
        );
    }

    #[test]
    fn secrets_never_show() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "Secret(********) ********");
        let values: SettingsValues = [("key".to_owned(), "hunter2".to_owned())].into();
        assert_eq!(schema().redact(&values)["key"], REDACTED);
    }

    #[test]
    fn defaults_fill_only_missing_fields() {
        let values: SettingsValues = [("card".to_owned(), "on".to_owned())].into();
        assert_eq!(schema().with_defaults(&values)["card"], "on");
        assert_eq!(
            schema().with_defaults(&SettingsValues::new())["card"],
            "off"
        );
    }
}
