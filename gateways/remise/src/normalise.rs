//! Normalisation of what the shopper typed into the shapes Remise's multi-payment form accepts: katakana
//! readings (`KANA1`/`KANA2`), phone number (`TEL`), postcode (`YUBIN1`/`YUBIN2`), names and the note
//! (`BIKO`).
//!
//! These mirror what Welcart sends, because Remise's hosted page rejects or mangles anything else (a
//! reading with a half-width space, a phone number with hyphens). Every function only drops or narrows
//! characters, or maps them to katakana and ASCII digits, so a value that could be sent in Shift_JIS
//! before stays sendable after.

/// Longest reading Remise accepts in `KANA1`/`KANA2`, in characters.
pub const KANA_MAX_CHARS: usize = 20;
/// Longest name Remise accepts in `NAME1`/`NAME2`, in characters.
pub const NAME_MAX_CHARS: usize = 20;
/// Notes longer than this many characters are cut and marked with `...`.
pub const NOTE_MAX_CHARS: usize = 22;

/// A name cut to the first [`NAME_MAX_CHARS`] characters, as Welcart sends `NAME1`/`NAME2`.
pub fn name(input: &str) -> String {
    first_chars(input, NAME_MAX_CHARS)
}

/// The reading as full-width katakana, or empty when it is not one.
///
/// Half-width kana become full-width with their voiced marks joined (`ｶﾞ` → `ガ`), hiragana become
/// katakana, full-width spaces and `・` are dropped, and the result is cut to [`KANA_MAX_CHARS`]. If what
/// is left is not entirely `ァ`–`ヶ` and `ー`, the reading is sent empty, as Welcart does: Remise's page
/// then asks the shopper for it rather than refusing the whole form.
pub fn kana(input: &str) -> String {
    let mut converted: Vec<char> = Vec::with_capacity(input.len());
    for c in input.chars() {
        match c {
            // Voiced and semi-voiced marks (half-width, full-width spacing and combining) join the
            // character before them when a voiced form exists.
            '\u{FF9E}' | '\u{309B}' | '\u{3099}' => {
                match converted.last().copied().and_then(voiced) {
                    Some(joined) => *converted.last_mut().expect("just read") = joined,
                    None => converted.push('\u{309B}'),
                }
            }
            '\u{FF9F}' | '\u{309C}' | '\u{309A}' => {
                match converted.last().copied().and_then(semi_voiced) {
                    Some(joined) => *converted.last_mut().expect("just read") = joined,
                    None => converted.push('\u{309C}'),
                }
            }
            _ => converted.push(katakana(c)),
        }
    }
    let kept: String = converted
        .into_iter()
        .filter(|c| *c != '\u{3000}' && *c != '・')
        .take(KANA_MAX_CHARS)
        .collect();
    if kept.chars().all(is_remise_katakana) {
        kept
    } else {
        String::new()
    }
}

/// Whether `c` is one Remise accepts in a reading: `ァ`–`ヶ` or `ー`.
pub fn is_remise_katakana(c: char) -> bool {
    ('ァ'..='ヶ').contains(&c) || c == 'ー'
}

/// The phone number as ASCII digits only: full-width digits become half-width, everything else
/// (hyphens, spaces, parentheses) is dropped.
pub fn phone(input: &str) -> String {
    ascii_digits(input)
}

/// The postcode split as Remise wants it: the first three digits and the next four, after full-width
/// digits became half-width and everything else was dropped.
pub fn postcode(input: &str) -> (String, String) {
    let digits = ascii_digits(input);
    let first: String = digits.chars().take(3).collect();
    let second: String = digits.chars().skip(3).take(4).collect();
    (first, second)
}

/// The note for `BIKO`: as typed when it is at most [`NOTE_MAX_CHARS`] characters, else the first
/// [`NOTE_MAX_CHARS`] followed by `...` (Welcart's rule; Remise's field is short).
pub fn note(input: &str) -> String {
    if input.chars().count() > NOTE_MAX_CHARS {
        let mut cut = first_chars(input, NOTE_MAX_CHARS);
        cut.push_str("...");
        cut
    } else {
        input.to_owned()
    }
}

/// The first `max` characters of `input`.
pub fn first_chars(input: &str, max: usize) -> String {
    input.chars().take(max).collect()
}

fn ascii_digits(input: &str) -> String {
    input
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
            _ => None,
        })
        .collect()
}

/// Half-width katakana and hiragana as full-width katakana; anything else unchanged.
fn katakana(c: char) -> char {
    match c {
        // Hiragana ぁ..ゖ sit exactly 0x60 below katakana ァ..ヶ; ゝゞ likewise below ヽヾ.
        'ぁ'..='ゖ' | 'ゝ' | 'ゞ' => char::from_u32(u32::from(c) + 0x60).unwrap_or(c),
        '\u{FF61}'..='\u{FF9D}' => HALF_WIDTH_KANA[(u32::from(c) - 0xFF61) as usize],
        _ => c,
    }
}

/// Full-width forms of U+FF61 (｡) to U+FF9D (ﾝ), in code-point order. The voiced marks U+FF9E/U+FF9F
/// are handled by [`kana`] because they join the character before them.
const HALF_WIDTH_KANA: [char; 61] = [
    '。', '「', '」', '、', '・', 'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ', 'ッ', 'ー',
    'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ', 'ソ', 'タ',
    'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ', 'マ', 'ミ',
    'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', 'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ', 'ン',
];

/// The voiced (濁音) form of a full-width katakana, if it has one.
fn voiced(c: char) -> Option<char> {
    let code = u32::from(c);
    let next = |c: u32| char::from_u32(c + 1);
    match c {
        // カ..ト: the voiced form follows each unvoiced one (ッ in the middle has none, but ツ does).
        'カ' | 'キ' | 'ク' | 'ケ' | 'コ' | 'サ' | 'シ' | 'ス' | 'セ' | 'ソ' | 'タ' | 'チ'
        | 'ツ' | 'テ' | 'ト' | 'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => next(code),
        'ウ' => Some('ヴ'),
        _ => None,
    }
}

/// The semi-voiced (半濁音) form of a full-width katakana, if it has one.
fn semi_voiced(c: char) -> Option<char> {
    match c {
        'ハ' | 'ヒ' | 'フ' | 'ヘ' | 'ホ' => char::from_u32(u32::from(c) + 2),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kana_examples() {
        let cases = [
            ("ヤマダ", "ヤマダ"),
            ("やまだ", "ヤマダ"),
            ("ﾔﾏﾀﾞ", "ヤマダ"),
            ("ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ", "パピプペポ"),
            ("ｳﾞｨｯﾄｰﾘｵ", "ヴィットーリオ"),
            ("ヤマダ　タロウ", "ヤマダタロウ"),
            ("ジョン・スミス", "ジョンスミス"),
            ("ヤマダ タロウ", ""),
            ("山田", ""),
            ("Yamada", ""),
            ("ﾞア", ""),
            ("カ\u{3099}", "ガ"),
            (
                "アイウエオカキクケコサシスセソタチツテトナニヌネノ",
                "アイウエオカキクケコサシスセソタチツテト",
            ),
            ("", ""),
        ];
        for (input, expect) in cases {
            assert_eq!(kana(input), expect, "kana({input:?})");
        }
    }

    #[test]
    fn digits_and_postcodes() {
        assert_eq!(phone("03-1111-2222"), "0311112222");
        assert_eq!(phone("０３（１１１１）２２２２"), "0311112222");
        assert_eq!(postcode("150-0001"), ("150".to_owned(), "0001".to_owned()));
        assert_eq!(
            postcode("１５０－０００１"),
            ("150".to_owned(), "0001".to_owned())
        );
        assert_eq!(postcode("12"), ("12".to_owned(), String::new()));
        assert_eq!(postcode("123456789"), ("123".to_owned(), "4567".to_owned()));
    }

    #[test]
    fn notes_and_names_are_cut() {
        assert_eq!(note("備考テスト"), "備考テスト");
        let long = "あいうえおかきくけこさしすせそたちつてとなにぬ";
        assert_eq!(
            note(long),
            "あいうえおかきくけこさしすせそたちつてとなに..."
        );
        assert_eq!(note(&long[..22 * 3]), &long[..22 * 3]);
        assert_eq!(
            name("寿限無寿限無五劫の擦り切れ海砂利水魚の水行末"),
            "寿限無寿限無五劫の擦り切れ海砂利水魚の水"
        );
    }
}
