//! Consumption tax (消費税): a product's tax class and an order's sums per rate, as the qualified
//! invoice rules (適格請求書, インボイス制度) ask for them.
//!
//! Prices are tax-included (税込). For each rate an order has, the invoice shows the total of the
//! items at that rate and the tax included in it: `total × rate / (100 + rate)`, **rounded down, once
//! per rate per invoice** (never per line: the rules allow one rounding for each rate of an
//! invoice). Shipping (送料) is taxed at the standard rate and counts in the 10 % sum. The amount
//! charged is the tax-included total and does not depend on any of this.
//!
//! The rate of each line is recorded with the line (`CartLine::tax_rate`), so an attempt's or an
//! order's sums stay what they were when its product later changes class. The storefront's pages show
//! these sums with one macro (`parts.html`, `tax_rows`); a mail will use [`Totals`] too.

use serde::{Deserialize, Serialize};

use super::CartLine;

/// A product's tax class (税区分).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum TaxClass {
    /// 標準税率, 10 %.
    #[default]
    Standard,
    /// 軽減税率, 8 % (food and drink other than alcohol and eating out, e.g. tea; newspapers).
    Reduced,
}

impl TaxClass {
    /// Every class, the standard one first.
    pub const ALL: [TaxClass; 2] = [TaxClass::Standard, TaxClass::Reduced];

    /// The rate in percent.
    pub fn rate(self) -> u32 {
        match self {
            TaxClass::Standard => 10,
            TaxClass::Reduced => 8,
        }
    }

    /// Storage and API slug.
    pub fn as_str(self) -> &'static str {
        match self {
            TaxClass::Standard => "standard",
            TaxClass::Reduced => "reduced",
        }
    }

    /// Parses a slug (`standard`, `reduced`), or the rate as typed (`10`, `8`, `10%`, `8%`).
    pub fn parse(text: &str) -> Option<TaxClass> {
        match text.trim().trim_end_matches(['%', '％']) {
            "standard" | "10" => Some(TaxClass::Standard),
            "reduced" | "8" => Some(TaxClass::Reduced),
            _ => None,
        }
    }

    /// The operator's word for it.
    pub fn label(self) -> &'static str {
        match self {
            TaxClass::Standard => "標準税率（10%）",
            TaxClass::Reduced => "軽減税率（8%）",
        }
    }
}

/// The rate of a line recorded before rates were recorded: every line was standard then.
pub fn standard_rate() -> u32 {
    TaxClass::Standard.rate()
}

/// The sum of one rate: what an invoice shows as `10%対象 1,100円（うち消費税 100円）`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateTotal {
    /// The rate in percent.
    pub rate: u32,
    /// Whether it is the reduced rate (its lines are marked ※).
    pub reduced: bool,
    /// The tax-included total of the items (and, for the standard rate, shipping) at this rate.
    pub total: i64,
    /// The consumption tax included in `total`, rounded down once.
    pub tax: i64,
}

/// The tax included in a tax-included `total` at `rate` percent, rounded down.
pub fn included_tax(total: i64, rate: u32) -> i64 {
    let rate = i64::from(rate);
    (total * rate).div_euclid(100 + rate)
}

/// An order's sums: items, shipping, the total charged and the consumption tax per rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// The lines' sum.
    pub items: i64,
    /// Shipping (taxed at the standard rate).
    pub shipping: i64,
    /// What is charged (tax included).
    pub total: i64,
    /// The consumption tax included in the total: the sum of the rates' taxes.
    pub tax: i64,
    /// Per rate, the highest rate first; only rates the order has.
    pub rates: Vec<RateTotal>,
}

impl Totals {
    /// The sums of `lines` with `shipping`. Each rate's tax is worked out once from that rate's
    /// tax-included total and rounded down (one rounding per rate per invoice, as the qualified invoice
    /// rules ask), never line by line. Shipping counts at the standard rate.
    pub fn of(lines: &[CartLine], shipping: i64) -> Totals {
        let items: i64 = lines.iter().map(CartLine::amount).sum();
        let mut by_rate: std::collections::BTreeMap<u32, i64> = std::collections::BTreeMap::new();
        for line in lines {
            *by_rate.entry(line.tax_rate).or_default() += line.amount();
        }
        if shipping != 0 {
            *by_rate.entry(standard_rate()).or_default() += shipping;
        }
        let rates: Vec<RateTotal> = by_rate
            .into_iter()
            .rev()
            .map(|(rate, total)| RateTotal {
                rate,
                reduced: rate < standard_rate(),
                total,
                tax: included_tax(total, rate),
            })
            .collect();
        Totals {
            items,
            shipping,
            total: items + shipping,
            tax: rates.iter().map(|r| r.tax).sum(),
            rates,
        }
    }

    /// Whether any line is at the reduced rate (the page says what ※ means).
    pub fn has_reduced(&self) -> bool {
        self.rates.iter().any(|rate| rate.reduced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(price: i64, quantity: i64, class: TaxClass) -> CartLine {
        CartLine {
            product_id: 1,
            name: "商品".into(),
            unit_price: price,
            quantity,
            tax_rate: class.rate(),
            recurring: None,
        }
    }

    fn rate(rate: u32, total: i64, tax: i64) -> RateTotal {
        RateTotal {
            rate,
            reduced: rate == 8,
            total,
            tax,
        }
    }

    #[test]
    fn a_mixed_cart_has_one_sum_per_rate_the_standard_first() {
        let totals = Totals::of(
            &[
                line(1100, 1, TaxClass::Standard),
                line(540, 1, TaxClass::Reduced),
            ],
            0,
        );
        assert_eq!(totals.rates, [rate(10, 1100, 100), rate(8, 540, 40)]);
        assert_eq!((totals.items, totals.total, totals.tax), (1640, 1640, 140));
        assert!(totals.has_reduced());
    }

    #[test]
    fn each_rate_is_rounded_down_once_not_line_by_line() {
        // 5 × 101円 at 8 %: line by line ⌊808/108⌋ = 7, five times 35; once for the rate ⌊4040/108⌋ = 37.
        let totals = Totals::of(&[line(101, 5, TaxClass::Reduced)], 0);
        assert_eq!(totals.rates, [rate(8, 505, 37)]);
        // Three lines of 105円 at 10 %: line by line ⌊1050/110⌋ = 9, three times 27; once ⌊3150/110⌋ = 28.
        let totals = Totals::of(
            &[
                line(105, 1, TaxClass::Standard),
                line(105, 1, TaxClass::Standard),
                line(105, 1, TaxClass::Standard),
            ],
            0,
        );
        assert_eq!(totals.rates, [rate(10, 315, 28)]);
        let totals = Totals::of(&[line(1, 1, TaxClass::Standard)], 0);
        assert_eq!(totals.rates, [rate(10, 1, 0)]);
        // Rounded down, never up: 1,099円 at 10 % holds 99.9…円 of tax.
        assert_eq!(included_tax(1099, 10), 99);
        assert_eq!(included_tax(1079, 8), 79);
    }

    #[test]
    fn only_the_reduced_rate() {
        let totals = Totals::of(&[line(1620, 2, TaxClass::Reduced)], 0);
        assert_eq!(totals.rates, [rate(8, 3240, 240)]);
        assert_eq!(totals.tax, 240);
        assert!(totals.has_reduced());
    }

    #[test]
    fn only_the_standard_rate_is_what_one_rate_gave_before() {
        let totals = Totals::of(&[line(3990, 2, TaxClass::Standard)], 0);
        assert_eq!(totals.rates, [rate(10, 7980, 725)]);
        assert_eq!(totals.tax, 7980 * 10 / 110);
        assert!(!totals.has_reduced());
    }

    #[test]
    fn shipping_counts_at_the_standard_rate() {
        let totals = Totals::of(&[line(540, 1, TaxClass::Reduced)], 550);
        assert_eq!(totals.rates, [rate(10, 550, 50), rate(8, 540, 40)]);
        assert_eq!((totals.total, totals.tax), (1090, 90));
        let empty = Totals::of(&[], 0);
        assert!(empty.rates.is_empty());
        assert_eq!(empty.tax, 0);
    }

    #[test]
    fn lines_stored_before_rates_were_recorded_are_standard() {
        let old = r#"{"product_id":1,"name":"x","unit_price":1100,"quantity":1}"#;
        let line: CartLine = serde_json::from_str(old).unwrap();
        assert_eq!(line.tax_rate, 10);
        assert!(!line.reduced());
    }

    #[test]
    fn classes_read_their_slugs_and_rates() {
        for class in TaxClass::ALL {
            assert_eq!(TaxClass::parse(class.as_str()), Some(class));
            assert_eq!(TaxClass::parse(&format!("{}%", class.rate())), Some(class));
        }
        assert_eq!(TaxClass::parse("5"), None);
    }
}
