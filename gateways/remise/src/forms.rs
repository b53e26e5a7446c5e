//! Remise's outbound wire format: the hidden forms the shopper's browser posts to Remise's hosted
//! pages (card payment, card update, multi-payment), each a `Remise…` type built from the host's
//! payment-start request.
//!
//! The forms reproduce Welcart's field for field (names, order, constants), because Remise's hosted
//! pages and the merchant's Remise contract were set up for what Welcart sends. The golden tests
//! compare them with forms observed from Welcart.

use shophost_module_api::{CardUpdateRequest, Customer, FormField, PaymentStartRequest};

use crate::normalise;
use crate::settings::{RemiseCardSettings, RemiseConfig, RemiseConvSettings, RemiseJob};

/// Welcart's fixed partner code at Remise, sent as `REMARKS3` in every form.
pub const REMARKS3: &str = "A0000875";
/// The `ITEM` code of an ordinary card payment.
pub const ITEM_CARD_PAYMENT: &str = "0000120";
/// The `ITEM` code of a card registration without a purchase (card update, continuation).
pub const ITEM_CARD_UPDATE: &str = "0000990";

/// The shopper's installment choice (`div`), as Welcart maps it to Remise's `METHOD`/`PTIMES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemiseInstallment {
    /// 一括払い: `div=0`, `METHOD=10`.
    Lump,
    /// 2回払い: `div=1`, `METHOD=61`, `PTIMES=2`.
    TwoPayments,
    /// リボ払い: `div=2`, `METHOD=80`.
    Revolving,
}

impl RemiseInstallment {
    /// The installment for the shopper's `div` choice; anything but `1` and `2`, and every choice when
    /// the shop does not offer installments, is a lump-sum payment (Welcart's rule).
    pub fn from_choice(choice: Option<&str>, offered: bool) -> Self {
        match choice {
            Some("1") if offered => RemiseInstallment::TwoPayments,
            Some("2") if offered => RemiseInstallment::Revolving,
            _ => RemiseInstallment::Lump,
        }
    }

    /// `div`, `METHOD` and `PTIMES` (when any).
    pub fn wire(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            RemiseInstallment::Lump => ("0", "10", None),
            RemiseInstallment::TwoPayments => ("1", "61", Some("2")),
            RemiseInstallment::Revolving => ("2", "80", None),
        }
    }
}

/// The card payment form (Welcart's `acting_remise_card` confirm-page form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseCardForm {
    /// `SHOPCO`.
    pub shop_code: String,
    /// `HOSTID`.
    pub host_id: String,
    /// `S_TORIHIKI_NO`.
    pub link_key: String,
    /// `JOB`.
    pub job: RemiseJob,
    /// `MAIL`.
    pub mail: String,
    /// `TOTAL` and `AMOUNT`.
    pub total: i64,
    /// `RETURL`.
    pub success_url: String,
    /// `NG_RETURL`.
    pub failure_url: String,
    /// `EXITURL`.
    pub cancel_url: String,
    /// `PAYQUICK=1` (and `PAYQUICKID` when `Some(Some(token))`): only for members when PayQuick is on.
    pub payquick: Option<Option<String>>,
    /// `div`, `METHOD`, `PTIMES`.
    pub installment: RemiseInstallment,
    /// The 自動継続課金 registration, when the cart is a recurring item.
    pub autocharge: Option<RemiseAutoCharge>,
}

/// The fields that register a recurring charge at Remise (`AUTOCHARGE=1`, `AC_*`; reference §8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseAutoCharge {
    /// `AC_S_KAIIN_NO`: the shop's member id.
    pub member_no: String,
    /// `AC_KANA`: the reading, full-width katakana (≤20), or empty.
    pub kana: String,
    /// `AC_TEL`: digits only.
    pub tel: String,
    /// `AC_AMOUNT` and `AC_TOTAL`.
    pub amount: i64,
    /// `AC_NEXT_DATE` (`YYYYMMDD` of the first recurring charge) and `AC_INTERVAL` (`{n}M`), sent when
    /// registering; a card change leaves them as registered.
    pub schedule: Option<(String, String)>,
}

impl RemiseAutoCharge {
    /// `AUTOCHARGE=1` and the `AC_*` fields, naming the registration `AC_MEMBERID` when it exists.
    fn fields(&self, registration: Option<&str>) -> Vec<FormField> {
        let amount = self.amount.to_string();
        let mut fields = vec![FormField::new("AUTOCHARGE", "1")];
        if let Some(id) = registration {
            fields.push(FormField::new("AC_MEMBERID", id));
        }
        fields.extend([
            FormField::new("AC_S_KAIIN_NO", &*self.member_no),
            // Welcart 2.x sends the name empty (reference §8.1).
            FormField::new("AC_NAME", ""),
            FormField::labelled("AC_KANA", &*self.kana, "フリガナ"),
            FormField::new("AC_TEL", &*self.tel),
            FormField::new("AC_AMOUNT", &*amount),
            FormField::new("AC_TOTAL", amount),
        ]);
        if let Some((next_date, interval)) = &self.schedule {
            fields.push(FormField::new("AC_NEXT_DATE", &**next_date));
            fields.push(FormField::new("AC_INTERVAL", &**interval));
        }
        fields
    }

    /// The registration fields for a member's purchase.
    fn for_member(member_id: i64, customer: &Customer, amount: i64) -> Self {
        RemiseAutoCharge {
            member_no: member_id.to_string(),
            kana: normalise::kana(&format!("{}{}", customer.family_kana, customer.given_kana)),
            tel: normalise::phone(&customer.phone),
            amount,
            schedule: None,
        }
    }
}

impl RemiseCardForm {
    /// The form for a card payment request.
    pub fn new(
        config: &RemiseConfig,
        card: &RemiseCardSettings,
        request: &PaymentStartRequest,
    ) -> Self {
        let payquick = match (&request.member, card.payquick) {
            (Some(member), true) => Some(member.card.as_ref().map(|card| card.token.clone())),
            _ => None,
        };
        let autocharge = request
            .items
            .iter()
            .find_map(|item| item.recurring)
            .filter(|_| card.continuation)
            .map(|recurrence| RemiseAutoCharge {
                schedule: Some((
                    recurrence.next_charge.yyyymmdd(),
                    format!("{}M", recurrence.interval_months),
                )),
                ..RemiseAutoCharge::for_member(
                    request.member.as_ref().map_or(0, |member| member.member_id),
                    &request.customer,
                    request.total,
                )
            });
        RemiseCardForm {
            shop_code: config.shop_code.clone(),
            host_id: config.host_id.clone(),
            link_key: request.link_key.clone(),
            // A recurring registration is always an authorisation, paid in one (reference §8.1).
            job: if autocharge.is_some() {
                RemiseJob::Auth
            } else {
                card.job
            },
            mail: request.customer.email.clone(),
            total: request.total,
            success_url: request.urls.success.clone(),
            failure_url: request.urls.failure.clone(),
            cancel_url: request.urls.cancel.clone(),
            payquick,
            installment: RemiseInstallment::from_choice(
                request.options.get("div").map(String::as_str),
                card.installments && autocharge.is_none(),
            ),
            autocharge,
        }
    }

    /// The fields in Welcart's order.
    ///
    /// Welcart ends the form with `dummy=&#65533;` and `_purchase_nonce`; neither is sent. The nonce is
    /// a Welcart internal that only leaks to Remise. `dummy` (U+FFFD) is an old trick to make browsers
    /// honour `accept-charset`; U+FFFD has no Shift_JIS form, and our redirect page is itself served in
    /// Shift_JIS, so the browser submits in Shift_JIS without any trick.
    pub fn fields(&self) -> Vec<FormField> {
        let total = self.total.to_string();
        let mut fields = vec![
            FormField::new("SHOPCO", &*self.shop_code),
            FormField::new("HOSTID", &*self.host_id),
            FormField::new("REMARKS3", REMARKS3),
            FormField::new("S_TORIHIKI_NO", &*self.link_key),
            FormField::new("JOB", self.job.as_wire()),
            FormField::labelled("MAIL", &*self.mail, "メールアドレス"),
            FormField::new(
                "ITEM",
                if self.autocharge.is_some() {
                    ITEM_CARD_UPDATE
                } else {
                    ITEM_CARD_PAYMENT
                },
            ),
            FormField::new("TOTAL", &*total),
            FormField::new("AMOUNT", total),
            FormField::new("RETURL", &*self.success_url),
            FormField::new("NG_RETURL", &*self.failure_url),
            FormField::new("EXITURL", &*self.cancel_url),
        ];
        if let Some(token) = &self.payquick {
            fields.push(FormField::new("PAYQUICK", "1"));
            if let Some(token) = token {
                fields.push(FormField::new("PAYQUICKID", &**token));
            }
        }
        let (div, method, ptimes) = self.installment.wire();
        fields.push(FormField::new("div", div));
        fields.push(FormField::new("METHOD", method));
        if let Some(ptimes) = ptimes {
            fields.push(FormField::new("PTIMES", ptimes));
        }
        if let Some(ac) = &self.autocharge {
            fields.extend(ac.fields(None));
        }
        fields
    }
}

/// The card registration form for a member's card change (Welcart's My Page クレジットカード更新).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseCardUpdateForm {
    /// `SHOPCO`.
    pub shop_code: String,
    /// `HOSTID`.
    pub host_id: String,
    /// `S_TORIHIKI_NO`: starts with [`CARD_UPDATE_PREFIX`](crate::notifications::CARD_UPDATE_PREFIX),
    /// which the host guarantees.
    pub link_key: String,
    /// `MAIL`.
    pub mail: String,
    /// `RETURL`.
    pub success_url: String,
    /// `NG_RETURL`.
    pub failure_url: String,
    /// `EXITURL`.
    pub cancel_url: String,
    /// For a member with a running 自動継続課金: its id (`AC_MEMBERID`), whether the card on file is
    /// still valid (then `JOB=CHECK`, else `AUTH`, as WCEX DL Seller does) and the registration fields.
    pub autocharge: Option<(String, bool, RemiseAutoCharge)>,
}

impl RemiseCardUpdateForm {
    /// The form for a card update request.
    pub fn new(config: &RemiseConfig, request: &CardUpdateRequest) -> Self {
        let autocharge = request.recurring.as_ref().map(|recurring| {
            // The card on file (`MM/YY`) is still valid this month or later.
            let valid = request.member.card.as_ref().is_some_and(|card| {
                let (month, year) = card.expiry.split_once('/').unwrap_or(("", ""));
                match (month.parse::<u32>(), year.parse::<u32>()) {
                    (Ok(month), Ok(year)) => {
                        (2000 + year, month)
                            >= (request.today.year as u32, u32::from(request.today.month))
                    }
                    _ => false,
                }
            });
            let registration = RemiseAutoCharge::for_member(
                request.member.member_id,
                &request.customer,
                recurring.amount,
            );
            (recurring.gateway_id.clone(), valid, registration)
        });
        RemiseCardUpdateForm {
            shop_code: config.shop_code.clone(),
            host_id: config.host_id.clone(),
            link_key: request.link_key.clone(),
            mail: request.email.clone(),
            success_url: request.urls.success.clone(),
            failure_url: request.urls.failure.clone(),
            cancel_url: request.urls.cancel.clone(),
            autocharge,
        }
    }

    /// The fields in Welcart's order (`JOB=CHECK`, `ITEM=0000990`, no amount; `dummy` left out as for
    /// [`RemiseCardForm::fields`]).
    ///
    /// For a member with a running 自動継続課金 the card behind it changes too: the amount, paid in one,
    /// and `AUTOCHARGE=1` with `AC_MEMBERID` and the member's `AC_*` fields follow (reference §8.3; the
    /// next date and interval stay as registered, so they are not sent).
    pub fn fields(&self) -> Vec<FormField> {
        let job = match &self.autocharge {
            Some((_, false, _)) => "AUTH",
            _ => "CHECK",
        };
        let mut fields = vec![
            FormField::new("SHOPCO", &*self.shop_code),
            FormField::new("HOSTID", &*self.host_id),
            FormField::new("REMARKS3", REMARKS3),
            FormField::new("S_TORIHIKI_NO", &*self.link_key),
            FormField::new("JOB", job),
            FormField::labelled("MAIL", &*self.mail, "メールアドレス"),
            FormField::new("ITEM", ITEM_CARD_UPDATE),
            FormField::new("RETURL", &*self.success_url),
            FormField::new("NG_RETURL", &*self.failure_url),
            FormField::new("EXITURL", &*self.cancel_url),
        ];
        if let Some((_, _, ac)) = &self.autocharge {
            let amount = ac.amount.to_string();
            fields.extend([
                FormField::new("TOTAL", &*amount),
                FormField::new("AMOUNT", &*amount),
                FormField::new("div", "0"),
                FormField::new("METHOD", "10"),
            ]);
        }
        fields.push(FormField::new("OPT", "welcart_card_update"));
        fields.push(FormField::new("PAYQUICK", "1"));
        if let Some((id, _, ac)) = &self.autocharge {
            fields.extend(ac.fields(Some(id)));
        }
        fields
    }
}

/// The multi-payment form (Welcart's `acting_remise_conv` confirm-page form), with the shopper's input
/// already normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemiseConvForm {
    /// `SHOPCO`.
    pub shop_code: String,
    /// `HOSTID`.
    pub host_id: String,
    /// `S_TORIHIKI_NO`.
    pub link_key: String,
    /// `NAME1`, `NAME2`: cut to 20 characters.
    pub names: (String, String),
    /// `KANA1`, `KANA2`: katakana or empty.
    pub kana: (String, String),
    /// `YUBIN1`, `YUBIN2`.
    pub postcode: (String, String),
    /// `ADD1` (prefecture + address1), `ADD2`, `ADD3`.
    pub address: (String, String, String),
    /// `TEL`: digits only.
    pub phone: String,
    /// `MAIL`.
    pub mail: String,
    /// `TOTAL` and `MSUM_01`.
    pub total: i64,
    /// `S_PAYDATE` as `YYYYMMDD`, or empty for the contract's default.
    pub pay_date: String,
    /// `SEIYAKUDATE` as `YYYYMMDD`.
    pub order_date: String,
    /// `BIKO`.
    pub note: String,
    /// `RETURL`.
    pub success_url: String,
    /// `NG_RETURL`.
    pub failure_url: String,
    /// `EXITURL`.
    pub cancel_url: String,
}

impl RemiseConvForm {
    /// The form for a multi-payment request.
    pub fn new(
        config: &RemiseConfig,
        conv: &RemiseConvSettings,
        request: &PaymentStartRequest,
    ) -> Self {
        let customer = &request.customer;
        RemiseConvForm {
            shop_code: config.shop_code.clone(),
            host_id: config.host_id.clone(),
            link_key: request.link_key.clone(),
            names: (
                normalise::name(&customer.family_name),
                normalise::name(&customer.given_name),
            ),
            kana: (
                normalise::kana(&customer.family_kana),
                normalise::kana(&customer.given_kana),
            ),
            postcode: normalise::postcode(&customer.postcode),
            address: (
                format!("{}{}", customer.prefecture, customer.address1),
                customer.address2.clone(),
                customer.address3.clone(),
            ),
            phone: normalise::phone(&customer.phone),
            mail: customer.email.clone(),
            total: request.total,
            pay_date: conv
                .pay_days
                .map(|days| request.today.add_days(i64::from(days)).yyyymmdd())
                .unwrap_or_default(),
            order_date: request.today.yyyymmdd(),
            note: normalise::note(&request.note),
            success_url: request.urls.success.clone(),
            failure_url: request.urls.failure.clone(),
            cancel_url: request.urls.cancel.clone(),
        }
    }

    /// The fields in Welcart's order; what the shopper typed is labelled so the host can say which
    /// field holds a character Shift_JIS cannot carry. (`dummy` is left out as for
    /// [`RemiseCardForm::fields`].)
    pub fn fields(&self) -> Vec<FormField> {
        let total = self.total.to_string();
        let mut fields = vec![
            FormField::new("SHOPCO", &*self.shop_code),
            FormField::new("HOSTID", &*self.host_id),
            FormField::new("REMARKS3", REMARKS3),
            FormField::new("S_TORIHIKI_NO", &*self.link_key),
            FormField::labelled("NAME1", &*self.names.0, "お名前（姓）"),
            FormField::labelled("NAME2", &*self.names.1, "お名前（名）"),
            FormField::labelled("KANA1", &*self.kana.0, "フリガナ（セイ）"),
            FormField::labelled("KANA2", &*self.kana.1, "フリガナ（メイ）"),
            FormField::labelled("YUBIN1", &*self.postcode.0, "郵便番号"),
            FormField::labelled("YUBIN2", &*self.postcode.1, "郵便番号"),
            FormField::labelled("ADD1", &*self.address.0, "住所（都道府県・市区郡町村）"),
            FormField::labelled("ADD2", &*self.address.1, "住所（番地）"),
            FormField::labelled("ADD3", &*self.address.2, "住所（マンション・ビル名）"),
            FormField::labelled("TEL", &*self.phone, "電話番号"),
            FormField::labelled("MAIL", &*self.mail, "メールアドレス"),
            FormField::new("TOTAL", &*total),
            FormField::new("TAX", ""),
            FormField::new("S_PAYDATE", &*self.pay_date),
            FormField::new("SEIYAKUDATE", &*self.order_date),
            FormField::labelled("BIKO", &*self.note, "備考"),
            FormField::new("MNAME_01", "商品総額"),
            FormField::new("MSUM_01", total),
        ];
        for line in 2..=7 {
            fields.push(FormField::new(&format!("MNAME_{line:02}"), ""));
            fields.push(FormField::new(&format!("MSUM_{line:02}"), "0"));
        }
        fields.extend([
            FormField::new("RETURL", &*self.success_url),
            FormField::new("NG_RETURL", &*self.failure_url),
            FormField::new("OPT", "1"),
            FormField::new("EXITURL", &*self.cancel_url),
        ]);
        fields
    }
}
