//! The one set of rules for a customer's details (お客様情報).
//!
//! The storefront's customer form, member registration and the JSON checkout API all tidy the details
//! with [`tidy`] and check them with [`problems`], so a shopper sees the same messages whichever way
//! they buy. Each problem names the form field it is about, so a page can show it next to that field;
//! the API joins the messages into one answer.

use super::CustomerDetails;

/// The prefectures, in the order Japanese forms list them (north to south).
pub const PREFECTURES: [&str; 47] = [
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

/// Longest text field, in characters.
const MAX_CHARS: usize = 100;

/// One thing wrong with a customer's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerProblem {
    /// The field it is about, by its form and JSON name (`family_name`, `postcode`, …).
    pub field: &'static str,
    /// What to tell the shopper, in Japanese.
    pub message: String,
}

/// The details as typed, tidied: every field trimmed; the postcode and phone with full-width digits
/// and hyphens narrowed to ASCII and spaces removed (Japanese input methods type them wide).
pub fn tidy(details: &CustomerDetails) -> CustomerDetails {
    let text = |value: &str| value.trim().to_owned();
    let narrow = |value: &str| -> String {
        value
            .chars()
            .map(narrow_digit)
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    CustomerDetails {
        email: text(&details.email),
        family_name: text(&details.family_name),
        given_name: text(&details.given_name),
        family_kana: text(&details.family_kana),
        given_kana: text(&details.given_kana),
        postcode: narrow(&details.postcode),
        prefecture: text(&details.prefecture),
        address1: text(&details.address1),
        address2: text(&details.address2),
        address3: text(&details.address3),
        phone: narrow(&details.phone),
    }
}

/// Full-width digits and hyphen-like characters as ASCII; anything else unchanged.
pub fn narrow_digit(c: char) -> char {
    match c {
        '０'..='９' => char::from(b'0' + (u32::from(c) - u32::from('０')) as u8),
        'ー' | '－' | '―' | '‐' | '−' => '-',
        other => other,
    }
}

fn is_kana(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{309F}' | '\u{30A0}'..='\u{30FF}' | '\u{FF65}'..='\u{FF9F}' | ' ' | '\u{3000}')
}

/// What a field must look like, beyond being filled in when it is required.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// At most [`MAX_CHARS`] characters, no control characters.
    Text,
    /// [`Rule::Text`], in kana (カタカナ or ひらがな).
    Kana,
    /// [`Rule::Text`], and an e-mail address.
    Email,
    /// Seven digits, one hyphen at most.
    Postcode,
    /// One of [`PREFECTURES`] (an empty one too is a problem).
    Prefecture,
    /// Ten or eleven digits and hyphens.
    Phone,
}

/// One field of the details: its form name, its label, whether it is required, its rule.
struct Field {
    name: &'static str,
    label: &'static str,
    required: bool,
    rule: Rule,
    value: fn(&CustomerDetails) -> &str,
}

/// The fields, in the order of the form (so problems are listed in that order).
const FIELDS: [Field; 11] = [
    Field {
        name: "family_name",
        label: "お名前（姓）",
        required: true,
        rule: Rule::Text,
        value: |c| &c.family_name,
    },
    Field {
        name: "given_name",
        label: "お名前（名）",
        required: true,
        rule: Rule::Text,
        value: |c| &c.given_name,
    },
    Field {
        name: "family_kana",
        label: "フリガナ（セイ）",
        required: false,
        rule: Rule::Kana,
        value: |c| &c.family_kana,
    },
    Field {
        name: "given_kana",
        label: "フリガナ（メイ）",
        required: false,
        rule: Rule::Kana,
        value: |c| &c.given_kana,
    },
    Field {
        name: "email",
        label: "メールアドレス",
        required: true,
        rule: Rule::Email,
        value: |c| &c.email,
    },
    Field {
        name: "postcode",
        label: "郵便番号",
        required: true,
        rule: Rule::Postcode,
        value: |c| &c.postcode,
    },
    Field {
        name: "prefecture",
        label: "都道府県",
        required: false,
        rule: Rule::Prefecture,
        value: |c| &c.prefecture,
    },
    Field {
        name: "address1",
        label: "市区町村・番地",
        required: true,
        rule: Rule::Text,
        value: |c| &c.address1,
    },
    Field {
        name: "address2",
        label: "番地・部屋番号など",
        required: false,
        rule: Rule::Text,
        value: |c| &c.address2,
    },
    Field {
        name: "address3",
        label: "ビル名",
        required: false,
        rule: Rule::Text,
        value: |c| &c.address3,
    },
    Field {
        name: "phone",
        label: "電話番号",
        required: true,
        rule: Rule::Phone,
        value: |c| &c.phone,
    },
];

/// Everything wrong with (tidied) details, field by field in the form's order; empty when they can
/// be used.
pub fn problems(customer: &CustomerDetails) -> Vec<CustomerProblem> {
    let mut problems = Vec::new();
    for field in &FIELDS {
        let value = (field.value)(customer);
        let label = field.label;
        let mut problem = |message: String| {
            problems.push(CustomerProblem {
                field: field.name,
                message,
            });
        };
        if field.required && value.is_empty() {
            problem(format!("{label}を入力してください"));
        }
        if matches!(field.rule, Rule::Text | Rule::Kana | Rule::Email) {
            if value.chars().count() > MAX_CHARS {
                problem(format!("{label}は{MAX_CHARS}文字以内で入力してください"));
            }
            if value.chars().any(char::is_control) {
                problem(format!("{label}に使えない文字が含まれています"));
            }
        }
        let wrong = match field.rule {
            Rule::Text => None,
            Rule::Kana => (!value.chars().all(is_kana))
                .then(|| format!("{label}はカタカナで入力してください")),
            Rule::Email => (!value.is_empty() && !is_email(value))
                .then(|| "メールアドレスが正しくありません".to_owned()),
            Rule::Postcode => (!value.is_empty() && !is_postcode(value))
                .then(|| "郵便番号は7桁の数字で入力してください（例: 100-0001）".to_owned()),
            Rule::Prefecture => {
                (!PREFECTURES.contains(&value)).then(|| "都道府県を選んでください".to_owned())
            }
            Rule::Phone => (!value.is_empty() && !is_phone(value)).then(|| {
                "電話番号は10桁または11桁の数字で入力してください（例: 03-1234-5678）".to_owned()
            }),
        };
        if let Some(message) = wrong {
            problem(message);
        }
    }
    problems
}

fn is_email(email: &str) -> bool {
    email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && email.is_ascii()
            && !email.chars().any(|c| c.is_whitespace() || c == ',')
    })
}

fn is_postcode(postcode: &str) -> bool {
    let digits = postcode.replace('-', "");
    digits.len() == 7
        && digits.chars().all(|c| c.is_ascii_digit())
        && postcode.matches('-').count() <= 1
}

fn is_phone(phone: &str) -> bool {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    phone.chars().all(|c| c.is_ascii_digit() || c == '-') && (10..=11).contains(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> CustomerDetails {
        CustomerDetails {
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
        }
    }

    #[test]
    fn good_details_have_no_problems() {
        assert_eq!(problems(&good()), Vec::new());
    }

    #[test]
    fn each_problem_names_its_field() {
        let bad = CustomerDetails {
            family_name: String::new(),
            family_kana: "yamada".into(),
            email: "taro@".into(),
            postcode: "1000".into(),
            prefecture: "東京".into(),
            phone: "03".into(),
            address3: "ビル\u{7}".into(),
            ..good()
        };
        let found = problems(&bad);
        for (field, message) in [
            ("family_name", "お名前（姓）を入力してください"),
            (
                "family_kana",
                "フリガナ（セイ）はカタカナで入力してください",
            ),
            ("email", "メールアドレスが正しくありません"),
            (
                "postcode",
                "郵便番号は7桁の数字で入力してください（例: 100-0001）",
            ),
            ("prefecture", "都道府県を選んでください"),
            (
                "phone",
                "電話番号は10桁または11桁の数字で入力してください（例: 03-1234-5678）",
            ),
            ("address3", "ビル名に使えない文字が含まれています"),
        ] {
            assert!(
                found
                    .iter()
                    .any(|p| p.field == field && p.message == message),
                "{field}: {message} missing from {found:?}"
            );
        }
        assert_eq!(found.len(), 7, "{found:?}");
    }

    #[test]
    fn a_customer_with_only_a_name_and_an_email_is_not_enough() {
        let thin = CustomerDetails {
            email: "a@example.invalid".into(),
            family_name: "山田".into(),
            given_name: "太郎".into(),
            ..CustomerDetails::default()
        };
        let fields: Vec<&str> = problems(&thin).iter().map(|p| p.field).collect();
        assert_eq!(fields, ["postcode", "prefecture", "address1", "phone"]);
    }

    #[test]
    fn tidying_trims_and_narrows_what_input_methods_type() {
        let typed = CustomerDetails {
            family_name: "  山田 ".into(),
            postcode: "１００－０００１".into(),
            phone: "０３ １２３４ ５６７８".into(),
            ..good()
        };
        let tidied = tidy(&typed);
        assert_eq!(tidied.family_name, "山田");
        assert_eq!(tidied.postcode, "100-0001");
        assert_eq!(tidied.phone, "0312345678");
        assert_eq!(problems(&tidied), Vec::new());
        assert_eq!(tidy(&tidied), tidied, "tidying twice changes nothing");
    }

    #[test]
    fn long_text_is_refused() {
        let long = CustomerDetails {
            address1: "あ".repeat(101),
            ..good()
        };
        assert_eq!(
            problems(&long),
            vec![CustomerProblem {
                field: "address1",
                message: "市区町村・番地は100文字以内で入力してください".to_owned(),
            }]
        );
    }
}
