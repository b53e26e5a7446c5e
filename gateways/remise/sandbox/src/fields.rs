//! Checks of the request fields both Remise entry points share (shop identity, 請求番号, URLs).
//!
//! Each check appends a Japanese message naming the field to `problems` instead of stopping,
//! so the error page lists every mistake at once, as an operator fixing a form wants.

use crate::wire::RemiseForm;

/// Validates `SHOPCO` (half-width alphanumerics, 1–8), `HOSTID` (digits, 1–8) and, when the
/// sandbox is configured with shops, that the pair is registered.
pub(crate) fn shop_identity(
    form: &RemiseForm,
    shops: &[(String, String)],
    problems: &mut Vec<String>,
) -> (String, String) {
    let shopco = form.value("SHOPCO").to_string();
    let host_id = form.value("HOSTID").to_string();
    let shopco_ok = is_alphanumeric(&shopco, 1, 8);
    let host_ok = is_digits(&host_id, 1, 8);
    if !shopco_ok {
        problems.push(invalid_or_missing(form, "SHOPCO", "半角英数字8桁以内"));
    }
    if !host_ok {
        problems.push(invalid_or_missing(form, "HOSTID", "半角数字8桁以内"));
    }
    let registered = shops
        .iter()
        .any(|(known_shopco, known_host)| *known_shopco == shopco && *known_host == host_id);
    if shopco_ok && host_ok && !shops.is_empty() && !registered {
        problems.push(format!(
            "SHOPCO と HOSTID の組み合わせ（{shopco} / {host_id}）が登録されていません"
        ));
    }
    (shopco, host_id)
}

/// Validates `S_TORIHIKI_NO` (請求番号): digits, 1–17.
pub(crate) fn torihiki_no(form: &RemiseForm, problems: &mut Vec<String>) -> String {
    let value = form.value("S_TORIHIKI_NO").to_string();
    if !is_digits(&value, 1, 17) {
        problems.push(invalid_or_missing(
            form,
            "S_TORIHIKI_NO",
            "半角数字17桁以内",
        ));
    }
    value
}

/// Validates an `http://` or `https://` URL field; `required` says whether it may be absent.
pub(crate) fn url(
    form: &RemiseForm,
    name: &str,
    required: bool,
    problems: &mut Vec<String>,
) -> Option<String> {
    let value = form.value(name);
    if value.is_empty() {
        if required {
            problems.push(format!("{name} が指定されていません"));
        }
        return None;
    }
    if !is_http_url(value) {
        problems.push(format!(
            "{name} が不正です（http:// または https:// の URL）"
        ));
        return None;
    }
    Some(value.to_string())
}

/// Validates a yen amount: digits only, at most 9 of them.
pub(crate) fn yen(form: &RemiseForm, name: &str, problems: &mut Vec<String>) -> Option<u64> {
    let value = form.value(name);
    if !is_digits(value, 1, 9) {
        problems.push(invalid_or_missing(form, name, "半角数字"));
        return None;
    }
    value.parse().ok()
}

/// "FIELD が指定されていません" when absent or empty, else "FIELD が不正です（hint）".
pub(crate) fn invalid_or_missing(form: &RemiseForm, name: &str, hint: &str) -> String {
    if form.value(name).is_empty() {
        format!("{name} が指定されていません")
    } else {
        format!("{name} が不正です（{hint}）")
    }
}

pub(crate) fn is_digits(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len()) && value.bytes().all(|byte| byte.is_ascii_digit())
}

fn is_alphanumeric(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len()) && value.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

fn is_http_url(value: &str) -> bool {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && !value.chars().any(|character| character.is_whitespace())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        assert!(is_http_url(
            "http://127.0.0.1:8080/?page_id=4&acting=remise_card"
        ));
        assert!(is_http_url("https://shop.example/"));
        assert!(!is_http_url("javascript:alert(1)"));
        assert!(!is_http_url("http:///path"));
        assert!(!is_http_url("http://a b/"));
    }

    #[test]
    fn digits_respect_their_bounds() {
        assert!(is_digits("12345678901234567", 1, 17));
        assert!(!is_digits("123456789012345678", 1, 17));
        assert!(!is_digits("", 1, 17));
        assert!(!is_digits("１２３", 1, 17));
    }
}
