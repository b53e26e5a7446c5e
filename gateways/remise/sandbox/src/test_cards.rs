//! The cards the sandbox knows, and how it judges a card entered on its card page (`card.rs`).
//!
//! Test cards (also listed on the card page and the top page):
//!
//! | Number              | Brand  | Result |
//! |---------------------|--------|--------|
//! | `4111111111111111`  | VISA   | success |
//! | `5555555555554444`  | MASTER | success |
//! | `4000000000000002`  | VISA   | NG: `X-ERRCODE=G12` (取扱不可), `X-ERRINFO=000000012`, `X-ERRLEVEL=1`, `X-R_CODE=1:0012` |
//! | any other number    | by prefix | NG: `X-ERRCODE=G65` (カード番号エラー), `X-ERRINFO=000000065`, `X-R_CODE=1:0065` |
//! | expiry in the past  | any    | NG: `X-ERRCODE=G83` (有効期限エラー), `X-ERRINFO=000000083`, `X-R_CODE=1:0083` |
//!
//! The G codes are the CAFIS-style codes Japanese acquirers use; the `X-ERRINFO` and `X-R_CODE`
//! values for them are this sandbox's choice (only success values are documented publicly:
//! `X-ERRCODE` three spaces, `X-ERRINFO=000000000`, `X-ERRLEVEL=0`, `X-R_CODE=0:0000`).

use crate::fields;
use crate::now_jst;

/// VISA test card that is approved.
pub const TEST_CARD_VISA: &str = "4111111111111111";
/// MasterCard test card that is approved.
pub const TEST_CARD_MASTERCARD: &str = "5555555555554444";
/// VISA test card that is declined with `X-ERRCODE=G12`.
pub const TEST_CARD_DECLINED: &str = "4000000000000002";

/// A test card as shown to operators.
pub(crate) struct TestCard {
    pub(crate) number: &'static str,
    pub(crate) brand: &'static str,
    pub(crate) result: &'static str,
}

pub(crate) const TEST_CARDS: &[TestCard] = &[
    TestCard {
        number: TEST_CARD_VISA,
        brand: "VISA",
        result: "成功",
    },
    TestCard {
        number: TEST_CARD_MASTERCARD,
        brand: "MASTER",
        result: "成功",
    },
    TestCard {
        number: TEST_CARD_DECLINED,
        brand: "VISA",
        result: "NG（X-ERRCODE G12 取扱不可、X-ERRLEVEL 1、X-R_CODE 1:0012）",
    },
];

#[derive(Debug, Clone)]
pub(crate) struct Card {
    pub(crate) number: String,
    /// MMYY.
    pub(crate) expire: String,
    pub(crate) holder: String,
}

impl Card {
    pub(crate) fn last4(&self) -> &str {
        &self.number[self.number.len().saturating_sub(4)..]
    }
}

/// Why a card was declined, as sent in the result fields.
pub(crate) struct Decline {
    pub(crate) code: &'static str,
    pub(crate) info: &'static str,
    pub(crate) r_code: &'static str,
    pub(crate) message: &'static str,
}

const DECLINED: Decline = Decline {
    code: "G12",
    info: "000000012",
    r_code: "1:0012",
    message: "このカードはご利用いただけません（取扱不可）",
};
const INVALID_NUMBER: Decline = Decline {
    code: "G65",
    info: "000000065",
    r_code: "1:0065",
    message: "カード番号に誤りがあります",
};
const EXPIRED: Decline = Decline {
    code: "G83",
    info: "000000083",
    r_code: "1:0083",
    message: "有効期限に誤りがあります",
};

/// `MM/YY`, `MMYY` or `MM/YYYY` into MMYY.
pub(crate) fn parse_expiry(text: &str) -> Option<String> {
    let compact: String = text
        .chars()
        .filter(|character| !character.is_whitespace())
        .collect();
    let (month, year) = match compact.split_once('/') {
        Some((month, year)) => (month.to_string(), year.to_string()),
        None if compact.len() == 4 => (compact[..2].to_string(), compact[2..].to_string()),
        None => return None,
    };
    let year = match year.len() {
        2 => year,
        4 if year.starts_with("20") => year[2..].to_string(),
        _ => return None,
    };
    let month_number: u8 = month.parse().ok()?;
    if !(1..=12).contains(&month_number) || !fields::is_digits(&year, 2, 2) {
        return None;
    }
    Some(format!("{month_number:02}{year}"))
}

/// Decides the outcome: expired cards first, then the test-card table.
pub(crate) fn judge(card: &Card) -> Option<Decline> {
    let month: i32 = card.expire[..2].parse().unwrap_or_default();
    let year: i32 = 2000 + card.expire[2..].parse::<i32>().unwrap_or_default();
    let now = now_jst();
    if (year, month) < (now.year(), i32::from(u8::from(now.month()))) {
        return Some(EXPIRED);
    }
    match card.number.as_str() {
        TEST_CARD_VISA | TEST_CARD_MASTERCARD => None,
        TEST_CARD_DECLINED => Some(DECLINED),
        _ => Some(INVALID_NUMBER),
    }
}

/// The brand from the number's prefix (IIN ranges), as `X-CARDBRAND` spells it.
pub(crate) fn brand(number: &str) -> &'static str {
    let prefix = |length: usize| -> u32 {
        number
            .get(..length)
            .and_then(|digits| digits.parse().ok())
            .unwrap_or_default()
    };
    if number.starts_with('4') {
        "VISA"
    } else if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) {
        "MASTER"
    } else if prefix(2) == 35 {
        "JCB"
    } else if prefix(2) == 34 || prefix(2) == 37 {
        "AMEX"
    } else if [30, 36, 38, 39].contains(&prefix(2)) {
        "DINERS"
    } else {
        "OTHER"
    }
}

/// 仕向先 (the acquirer) shown in the backyard and sent as `X-REFFORWARDED`.
pub(crate) fn forwarded_to(brand: &str) -> &'static str {
    match brand {
        "VISA" => "UFJ",
        "MASTER" => "NICOS",
        "JCB" => "JCB",
        "AMEX" => "AMEX",
        "DINERS" => "DINERS",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_formats() {
        assert_eq!(parse_expiry("12/30").as_deref(), Some("1230"));
        assert_eq!(parse_expiry("1230").as_deref(), Some("1230"));
        assert_eq!(parse_expiry("1/2030").as_deref(), Some("0130"));
        assert_eq!(parse_expiry("13/30"), None);
        assert_eq!(parse_expiry("12-30"), None);
        assert_eq!(parse_expiry(""), None);
    }

    #[test]
    fn brands_by_prefix() {
        assert_eq!(brand(TEST_CARD_VISA), "VISA");
        assert_eq!(brand(TEST_CARD_MASTERCARD), "MASTER");
        assert_eq!(brand("2221000000000009"), "MASTER");
        assert_eq!(brand("3530111333300000"), "JCB");
        assert_eq!(brand("378282246310005"), "AMEX");
        assert_eq!(brand("9999"), "OTHER");
    }

    fn card(number: &str, expire: &str) -> Card {
        Card {
            number: number.to_string(),
            expire: expire.to_string(),
            holder: "TARO".to_string(),
        }
    }

    #[test]
    fn judging_cards() {
        assert!(judge(&card(TEST_CARD_VISA, "1299")).is_none());
        assert!(judge(&card(TEST_CARD_MASTERCARD, "1299")).is_none());
        assert_eq!(
            judge(&card(TEST_CARD_DECLINED, "1299")).map(|d| d.code),
            Some("G12")
        );
        assert_eq!(
            judge(&card("4242424242424242", "1299")).map(|d| d.code),
            Some("G65")
        );
        assert_eq!(
            judge(&card(TEST_CARD_VISA, "0120")).map(|d| d.code),
            Some("G83")
        );
    }
}
