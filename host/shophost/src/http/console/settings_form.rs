//! A module's settings form, derived from its schema: each [`SettingField`] becomes one labelled control
//! with its help text and its errors ([`FormField`]), and a posted form becomes the module's settings
//! again ([`values_from_form`]).
//!
//! The controls follow Welcart's クレジット決済設定 as the operator's manual shows it: on/off fields and
//! short choices are radio buttons (`利用する` / `利用しない`, `仮売上処理` / `売上処理`), longer choices a
//! select, digits and text one line, address lists a text area with one entry per line, URLs a URL
//! input. Secrets are write-only: the control is an empty password input and the page says only whether
//! one is stored, so a secret's value never reaches a page; a secret posted empty keeps the stored one.

use shophost_module_api::{FieldError, FieldKind, SettingField, SettingsSchema, SettingsValues};

use crate::http::forms::{field, Fields};

/// Choices with at most this many options are radio buttons, as in Welcart; more become a select.
const MOST_RADIOS: usize = 4;

/// The labels of an on/off field's two radio buttons, Welcart's.
const ON_OFF: [(&str, &str); 2] = [("on", "利用する"), ("off", "利用しない")];

/// One field of the form, ready for the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The form field's name: the setting's key.
    pub key: String,
    /// The control's `id` (and, for radios, the prefix of each button's).
    pub id: String,
    /// The label the module gives, e.g. `加盟店コード`.
    pub label: String,
    /// The module's help text (empty when none).
    pub help: String,
    /// Whether the schema says the field may never be blank.
    pub required: bool,
    /// The control.
    pub control: Control,
    /// The module's messages about this field, in its own wording.
    pub errors: Vec<String>,
}

impl FormField {
    /// The `id` of the help text, which the control names in `aria-describedby`.
    pub fn help_id(&self) -> String {
        format!("{}-help", self.id)
    }

    /// The `id` of the field's error messages.
    pub fn error_id(&self) -> String {
        format!("{}-error", self.id)
    }

    /// The control's `aria-describedby`: its help text and its errors, those it has (empty: none).
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if !self.help.is_empty() {
            ids.push(self.help_id());
        }
        if !self.errors.is_empty() {
            ids.push(self.error_id());
        }
        ids.join(" ")
    }

    /// Whether the control is a group of inputs (radio buttons), labelled by a `fieldset`'s `legend`
    /// rather than by one `label`.
    pub fn is_group(&self) -> bool {
        matches!(self.control, Control::Radios(_))
    }
}

/// What input a field is shown with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// One line of text.
    Text {
        /// The current value.
        value: String,
        /// The longest value the module accepts, for `maxlength`.
        max_chars: Option<usize>,
    },
    /// Half-width digits: a text input with the numeric keyboard. Not `type="number"`: a browser would
    /// refuse to send an out-of-range or full-width value, and the operator would never see the
    /// module's own message about it.
    Digits {
        /// The current value.
        value: String,
        /// The range the module accepts, said next to the field (`2〜30`).
        range: String,
    },
    /// A URL.
    Url {
        /// The current value.
        value: String,
    },
    /// A list of values, one per line (stored separated by spaces).
    List {
        /// The current entries, one per line.
        value: String,
    },
    /// Radio buttons: on/off fields and short choices.
    Radios(Vec<Choice>),
    /// A select: long choices.
    Select(Vec<Choice>),
    /// A write-only credential: an empty password input.
    Secret {
        /// Whether a value is stored (said as 設定済み / 未設定, never shown).
        stored: bool,
    },
}

/// One option of a choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The value posted.
    pub value: String,
    /// What the operator reads.
    pub label: String,
    /// Whether it is the current value.
    pub selected: bool,
}

/// The form's fields in the schema's order, showing `values` (the module's values with its defaults
/// filled in) and each of `errors` next to the field it names.
///
/// Secrets show whether they are set, never their value.
pub fn form_fields(
    schema: &SettingsSchema,
    values: &SettingsValues,
    errors: &[FieldError],
) -> Vec<FormField> {
    let values = schema.with_defaults(values);
    schema
        .fields
        .iter()
        .map(|setting| {
            let value = values.get(&setting.key).cloned().unwrap_or_default();
            FormField {
                key: setting.key.clone(),
                id: format!("setting-{}", setting.key),
                label: setting.label.clone(),
                help: setting.help.clone(),
                required: setting.required,
                control: control(setting, value),
                errors: errors
                    .iter()
                    .filter(|error| error.key == setting.key)
                    .map(|error| error.message.clone())
                    .collect(),
            }
        })
        .collect()
}

/// The errors that name no field of the form (the module's general errors, or unknown keys): shown
/// only in the summary above the form.
pub fn general_errors(schema: &SettingsSchema, errors: &[FieldError]) -> Vec<String> {
    errors
        .iter()
        .filter(|error| schema.field(&error.key).is_none())
        .map(|error| error.message.clone())
        .collect()
}

fn control(setting: &SettingField, value: String) -> Control {
    match &setting.kind {
        FieldKind::Text if setting.list => Control::List {
            value: list_entries(&value).join("\n"),
        },
        FieldKind::Text => Control::Text {
            value,
            max_chars: setting.max_chars,
        },
        FieldKind::Digits => Control::Digits {
            value,
            range: match (setting.min, setting.max) {
                (Some(min), Some(max)) => format!("{min}〜{max}"),
                (Some(min), None) => format!("{min}以上"),
                (None, Some(max)) => format!("{max}以下"),
                (None, None) => String::new(),
            },
        },
        FieldKind::Url => Control::Url { value },
        FieldKind::OnOff => Control::Radios(choices(ON_OFF.iter().copied(), &value)),
        FieldKind::Choice(options) => {
            let options = choices(
                options
                    .iter()
                    .map(|option| (option.value.as_str(), option.label.as_str())),
                &value,
            );
            if options.len() <= MOST_RADIOS {
                Control::Radios(options)
            } else {
                Control::Select(options)
            }
        }
        FieldKind::Secret => Control::Secret {
            stored: !value.is_empty(),
        },
    }
}

fn choices<'a>(options: impl Iterator<Item = (&'a str, &'a str)>, current: &str) -> Vec<Choice> {
    options
        .map(|(value, label)| Choice {
            selected: value == current,
            value: value.to_owned(),
            label: label.to_owned(),
        })
        .collect()
}

/// The entries of a list value (separated by white space or commas, as modules accept them).
fn list_entries(value: &str) -> Vec<&str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// The module's settings from a posted form: every key of the schema (blank when the form left it
/// out or empty, as a whole form means), values trimmed, list entries joined by spaces.
///
/// A secret posted empty keeps `stored`'s value: secrets are never shown, so an operator who changes
/// something else sends the secret's input empty and means "keep it". Fields not in the schema (the
/// form token) are not settings and are left out.
pub fn values_from_form(
    schema: &SettingsSchema,
    form: &Fields,
    stored: &SettingsValues,
) -> SettingsValues {
    schema
        .fields
        .iter()
        .map(|setting| {
            let posted = field(form, &setting.key);
            let value = match &setting.kind {
                FieldKind::Text if setting.list => list_entries(&posted).join(" "),
                FieldKind::Secret if posted.is_empty() => {
                    stored.get(&setting.key).cloned().unwrap_or_default()
                }
                // A secret is kept exactly as typed: spaces may be part of it.
                FieldKind::Secret => posted,
                _ => posted.trim().to_owned(),
            };
            (setting.key.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shophost_module_api::CharClass;

    fn schema() -> SettingsSchema {
        SettingsSchema::new(vec![
            SettingField::text("SHOPCO", "加盟店コード")
                .chars(CharClass::AsciiAlphanumeric)
                .max_chars(8)
                .help("加盟店コードです。"),
            SettingField::digits("S_PAYDATE", "支払期限").range(2, 30),
            SettingField::on_off("card_activate", "クレジットカード決済").default_value("off"),
            SettingField::choice(
                "card_jb",
                "ジョブコード",
                &[("AUTH", "仮売上処理"), ("CAPTURE", "売上処理")],
            ),
            SettingField::choice(
                "brand",
                "ブランド",
                &[
                    ("v", "VISA"),
                    ("m", "Mastercard"),
                    ("j", "JCB"),
                    ("a", "AMEX"),
                    ("d", "Diners"),
                ],
            ),
            SettingField::url("send_url_pc", "本番URL(PC)"),
            SettingField::text("sources", "送信元")
                .list()
                .default_value("127.0.0.1/32 ::1/128"),
            SettingField::secret("secret_key", "シークレットキー").required(),
        ])
    }

    fn values(pairs: &[(&str, &str)]) -> SettingsValues {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn field_of(fields: &[FormField], key: &str) -> FormField {
        fields
            .iter()
            .find(|f| f.key == key)
            .cloned()
            .expect("field")
    }

    #[test]
    fn each_kind_gets_its_control() {
        let stored = values(&[
            ("SHOPCO", "SHOP1"),
            ("S_PAYDATE", "14"),
            ("card_jb", "CAPTURE"),
            ("brand", "j"),
            ("send_url_pc", "https://pay.example/"),
            ("secret_key", "hunter2-hunter2-hunter2"),
        ]);
        let fields = form_fields(&schema(), &stored, &[]);
        let keys: Vec<&str> = fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "SHOPCO",
                "S_PAYDATE",
                "card_activate",
                "card_jb",
                "brand",
                "send_url_pc",
                "sources",
                "secret_key"
            ]
        );
        let shop = field_of(&fields, "SHOPCO");
        assert_eq!(
            shop.control,
            Control::Text {
                value: "SHOP1".into(),
                max_chars: Some(8)
            }
        );
        assert_eq!(
            (shop.id.as_str(), shop.label.as_str()),
            ("setting-SHOPCO", "加盟店コード")
        );
        assert_eq!(shop.described_by(), "setting-SHOPCO-help");
        assert_eq!(
            field_of(&fields, "S_PAYDATE").control,
            Control::Digits {
                value: "14".into(),
                range: "2〜30".into()
            }
        );
        assert_eq!(field_of(&fields, "S_PAYDATE").described_by(), "");
        // On/off: Welcart's 利用する / 利用しない, the default chosen when nothing is stored.
        assert_eq!(
            field_of(&fields, "card_activate").control,
            Control::Radios(vec![
                Choice {
                    value: "on".into(),
                    label: "利用する".into(),
                    selected: false
                },
                Choice {
                    value: "off".into(),
                    label: "利用しない".into(),
                    selected: true
                },
            ])
        );
        assert!(field_of(&fields, "card_activate").is_group());
        assert_eq!(
            field_of(&fields, "card_jb").control,
            Control::Radios(vec![
                Choice {
                    value: "AUTH".into(),
                    label: "仮売上処理".into(),
                    selected: false
                },
                Choice {
                    value: "CAPTURE".into(),
                    label: "売上処理".into(),
                    selected: true
                },
            ])
        );
        match field_of(&fields, "brand").control {
            Control::Select(options) => {
                assert_eq!(options.len(), 5);
                assert_eq!(
                    options
                        .iter()
                        .filter(|o| o.selected)
                        .map(|o| o.label.as_str())
                        .collect::<Vec<_>>(),
                    ["JCB"]
                );
            }
            other => panic!("a long choice is a select, got {other:?}"),
        }
        assert_eq!(
            field_of(&fields, "send_url_pc").control,
            Control::Url {
                value: "https://pay.example/".into()
            }
        );
        assert_eq!(
            field_of(&fields, "sources").control,
            Control::List {
                value: "127.0.0.1/32\n::1/128".into()
            }
        );
        let secret = field_of(&fields, "secret_key");
        assert_eq!(secret.control, Control::Secret { stored: true });
        assert!(secret.required);
        assert!(
            !format!("{fields:?}").contains("hunter2"),
            "a secret's value reached the form"
        );
        let unset = form_fields(&schema(), &SettingsValues::new(), &[]);
        assert_eq!(
            field_of(&unset, "secret_key").control,
            Control::Secret { stored: false }
        );
    }

    #[test]
    fn errors_stand_at_their_field_and_the_rest_in_the_summary() {
        let errors = vec![
            FieldError::new(
                "S_PAYDATE",
                "支払期限は2以上30以下で入力してください".into(),
            ),
            FieldError::new("SHOPCO", "※加盟店コードを入力してください".into()),
            FieldError::new("", "モジュールの内部エラー".into()),
        ];
        let fields = form_fields(&schema(), &values(&[("S_PAYDATE", "31")]), &errors);
        let paydate = field_of(&fields, "S_PAYDATE");
        assert_eq!(paydate.errors, ["支払期限は2以上30以下で入力してください"]);
        assert_eq!(paydate.described_by(), "setting-S_PAYDATE-error");
        assert_eq!(
            field_of(&fields, "SHOPCO").described_by(),
            "setting-SHOPCO-help setting-SHOPCO-error"
        );
        assert!(field_of(&fields, "card_jb").errors.is_empty());
        assert_eq!(
            general_errors(&schema(), &errors),
            ["モジュールの内部エラー"]
        );
    }

    #[test]
    fn a_posted_form_gives_every_key_and_keeps_a_secret_sent_empty() {
        let form: Fields = [
            ("csrf", "token"),
            ("SHOPCO", " SHOP2 "),
            ("S_PAYDATE", "7"),
            ("card_activate", "on"),
            ("sources", "10.0.0.1\r\n10.0.0.0/24,  192.0.2.1\n"),
            ("secret_key", ""),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let stored = values(&[("secret_key", "kept-secret-value-123")]);
        let got = values_from_form(&schema(), &form, &stored);
        assert_eq!(
            got,
            values(&[
                ("SHOPCO", "SHOP2"),
                ("S_PAYDATE", "7"),
                ("card_activate", "on"),
                ("card_jb", ""),
                ("brand", ""),
                ("send_url_pc", ""),
                ("sources", "10.0.0.1 10.0.0.0/24 192.0.2.1"),
                ("secret_key", "kept-secret-value-123"),
            ])
        );
        // A secret typed in replaces the stored one, as typed.
        let mut typed = form.clone();
        typed.retain(|(k, _)| k != "secret_key");
        typed.push(("secret_key".into(), " new secret ".into()));
        assert_eq!(
            values_from_form(&schema(), &typed, &stored)["secret_key"],
            " new secret "
        );
        // With nothing stored, an empty secret stays blank (and the module says it is required).
        assert_eq!(
            values_from_form(&schema(), &form, &SettingsValues::new())["secret_key"],
            ""
        );
    }
}
