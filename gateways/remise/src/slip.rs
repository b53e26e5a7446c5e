//! The payment slip (払込票) for a multi-payment: where the shopper pays (`X-PAY_CSV`) and the numbers
//! and links they need there (`X-PAY_NO1`, `X-PAY_NO2`), as Welcart's completion page shows them.
//!
//! Remise sends the same two generic fields for every place; only the place code says what they mean
//! (a payment number at セブン-イレブン, a company code at ファミリーマート, a URL for e-money). The table
//! here is that meaning, so the host can show the slip without knowing Remise.

use shophost_module_api::{LocalDate, PaymentSlip, SlipRow};

/// What `X-PAY_NO1` and `X-PAY_NO2` mean at one kind of place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RemiseSlipLayout {
    /// セブン-イレブン: 払込番号 and the URL of the printable slip.
    SevenEleven,
    /// ローソン, セイコーマート, ペイジー: 受付番号 and a guide URL.
    Reception,
    /// The other convenience stores: 決済番号 and a guide URL.
    Settlement,
    /// ファミリーマート: company code and order number, no URL.
    FamilyMart,
    /// E-money and net banks: 受付番号 and the URL where the shopper completes the payment.
    EMoney,
    /// Paper slips mailed to the shopper: 受付番号 only.
    PaperSlip,
    /// Code payments and carrier billing: only the URL where the shopper completes the payment.
    Wallet,
    /// Paid on the spot at Remise's page (モバイルSuica, card, PayPal, account transfer): nothing to show.
    Nothing,
    /// A code this table does not know: show whatever Remise sent under neutral labels, so the shopper
    /// still gets the numbers they need.
    Unknown,
}

/// The place name and layout for an `X-PAY_CSV` code (reference §5.3 and Welcart 2.12's label list).
fn lookup(code: &str) -> Option<(&'static str, RemiseSlipLayout)> {
    use RemiseSlipLayout::*;
    let entry = match code {
        "D001" => ("セブン-イレブン", SevenEleven),
        "D002" => ("ローソン", Reception),
        "D015" => ("セイコーマート", Reception),
        "D405" => ("ペイジー", Reception),
        "D003" => ("サンクス", Settlement),
        "D004" => ("サークルK", Settlement),
        "D005" => ("ミニストップ", Settlement),
        "D010" => ("デイリーヤマザキ", Settlement),
        "D011" => ("ヤマザキデイリーストア", Settlement),
        "D030" => ("ファミリーマート", FamilyMart),
        "D401" => ("楽天Ｅｄｙ", EMoney),
        "D404" => ("楽天銀行", EMoney),
        "D406" => ("PayPay銀行", EMoney),
        "D407" => ("Suicaインターネットサービス", EMoney),
        "D451" => ("ウェブマネー", EMoney),
        "D452" => ("ビットキャッシュ", EMoney),
        "D453" => ("JCBプレモカード", EMoney),
        "P901" => ("コンビニ払込票", PaperSlip),
        "P902" => ("コンビニ払込票（郵便振替対応）", PaperSlip),
        // Welcart only names P903–P906; they are paper slips too, so show their 受付番号 the same way.
        "P903" | "P904" | "P905" | "P906" => ("コンビニ払込票", PaperSlip),
        "E201" | "E202" => ("PayPay", Wallet),
        "M601" | "M602" | "M603" => ("d払い", Wallet),
        "M611" | "M612" | "M613" => ("au PAY", Wallet),
        "M621" | "M622" | "M623" => ("ソフトバンクまとめて支払い", Wallet),
        "D403" => ("モバイルSuica", Nothing),
        "C501" | "C502" => ("クレジットカード", Nothing),
        "C511" => ("PayPal", Nothing),
        "K801" => ("口座振替会員登録", Nothing),
        _ => return None,
    };
    Some(entry)
}

/// The shopper-facing name of the place for an `X-PAY_CSV` code, e.g. `D001` → `セブン-イレブン`.
pub fn place_name(code: &str) -> Option<&'static str> {
    lookup(code).map(|(name, _)| name)
}

/// The slip for an issued multi-payment.
///
/// `place` is the name for `pay_csv`, or the code itself when it is unknown. Rows whose value is empty
/// are left out. The deadline is `X-PAYDATE` (`YYYYMMDD`), or none when missing or not a date.
///
/// WebMoney (`D451`) is the exception in Remise's rules: its deadline is the day after issue whatever
/// 支払期限 says. The module has no clock and cannot know the issue date, but Remise computes
/// `X-PAYDATE` with that rule already, so taking `X-PAYDATE` as it is gives the right date for `D451`
/// too.
pub fn slip(pay_csv: &str, pay_no1: &str, pay_no2: &str, pay_date: &str) -> PaymentSlip {
    use RemiseSlipLayout::*;
    let (place, layout) = match lookup(pay_csv) {
        Some((name, layout)) => (name.to_owned(), layout),
        None => (pay_csv.to_owned(), Unknown),
    };
    let (first, second): (Option<&str>, Option<(&str, bool)>) = match layout {
        SevenEleven => (Some("払込番号"), Some(("払込票のURL", true))),
        Reception => (Some("受付番号"), Some(("支払方法案内URL", true))),
        Settlement => (Some("決済番号"), Some(("支払方法案内URL", true))),
        FamilyMart => (Some("コード"), Some(("注文番号", false))),
        EMoney => (Some("受付番号"), Some(("支払手続URL", true))),
        PaperSlip => (Some("受付番号"), None),
        Wallet => (None, Some(("支払手続きURL", true))),
        Nothing => (None, None),
        Unknown => (
            Some("お支払い番号"),
            Some(("お支払い案内", looks_like_url(pay_no2))),
        ),
    };
    let mut rows = Vec::new();
    if let Some(label) = first {
        push_row(&mut rows, label, pay_no1, false);
    }
    if let Some((label, link)) = second {
        push_row(&mut rows, label, pay_no2, link);
    }
    PaymentSlip::new(place, rows).deadline(LocalDate::parse_yyyymmdd(pay_date.trim()))
}

fn push_row(rows: &mut Vec<SlipRow>, label: &str, value: &str, link: bool) {
    let value = value.trim();
    if !value.is_empty() {
        rows.push(if link {
            SlipRow::link(label, value)
        } else {
            SlipRow::text(label, value)
        });
    }
}

fn looks_like_url(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: &str, no1: &str, no2: &str, place: &str, rows: &[(&str, &str, bool)]) {
        let slip = slip(code, no1, no2, "20261211");
        assert_eq!(slip.place, place, "{code}");
        let got: Vec<(&str, &str, bool)> = slip
            .rows
            .iter()
            .map(|row| (row.label.as_str(), row.value.as_str(), row.link))
            .collect();
        assert_eq!(got, rows, "{code}");
        assert_eq!(slip.deadline, LocalDate::parse_yyyymmdd("20261211"));
    }

    #[test]
    fn every_layout() {
        let url = "https://example.invalid/slip";
        check(
            "D001",
            "1234",
            url,
            "セブン-イレブン",
            &[("払込番号", "1234", false), ("払込票のURL", url, true)],
        );
        check(
            "D002",
            "1234",
            url,
            "ローソン",
            &[("受付番号", "1234", false), ("支払方法案内URL", url, true)],
        );
        check(
            "D005",
            "1234",
            "",
            "ミニストップ",
            &[("決済番号", "1234", false)],
        );
        check(
            "D030",
            "12345",
            "9876",
            "ファミリーマート",
            &[("コード", "12345", false), ("注文番号", "9876", false)],
        );
        check(
            "D451",
            "1234",
            url,
            "ウェブマネー",
            &[("受付番号", "1234", false), ("支払手続URL", url, true)],
        );
        check(
            "P902",
            "1234",
            url,
            "コンビニ払込票（郵便振替対応）",
            &[("受付番号", "1234", false)],
        );
        check(
            "E201",
            "1234",
            url,
            "PayPay",
            &[("支払手続きURL", url, true)],
        );
        check("D403", "1234", url, "モバイルSuica", &[]);
        check(
            "Z999",
            "1234",
            url,
            "Z999",
            &[("お支払い番号", "1234", false), ("お支払い案内", url, true)],
        );
        check("Z999", "", "abc", "Z999", &[("お支払い案内", "abc", false)]);
    }

    #[test]
    fn bad_dates_give_no_deadline() {
        assert_eq!(slip("D001", "1", "", "20261301").deadline, None);
        assert_eq!(slip("D001", "1", "", "").deadline, None);
    }
}
