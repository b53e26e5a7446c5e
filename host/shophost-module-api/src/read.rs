//! Reading what a gateway sent: required fields and headers of an [`InboundRequest`], each refused with
//! a typed [`ReadError`] that names the field and becomes a [`Rejection`] with `?`.
//!
//! Every gateway module reads "this field must be there, once, not blank" and "this field is an
//! amount"; these helpers do it one way, so that doubt always becomes a rejection, never a payment.
//!
//! ```
//! use shophost_module_api::{testing::form_post, ReadError, Rejection};
//!
//! let request = form_post(&[("order_id", "12345678901234567"), ("amount", "1980"), ("amount", "1")]);
//! assert_eq!(request.required_link_key("order_id"), Ok("12345678901234567"));
//! assert_eq!(request.required_amount("amount"), Err(ReadError::Conflicting { name: "amount".into() }));
//! let rejection: Rejection = request.required_field("status").unwrap_err().into();
//! assert_eq!(rejection.reason, "missing status");
//! ```

use crate::payment::Rejection;
use crate::wire::InboundRequest;

/// The most decimal digits an amount in yen may have (below `i64::MAX`, and more than any order).
pub const AMOUNT_MAX_DIGITS: usize = 15;

/// The most decimal digits a link key may have.
pub const LINK_KEY_MAX_DIGITS: usize = 32;

/// Why a required field or header could not be read. Each names the field, never its value (which may
/// be anything a sender chose).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The field is not there.
    #[error("missing {name}")]
    Missing {
        /// The field.
        name: String,
    },
    /// The field is there but blank.
    #[error("{name} is empty")]
    Empty {
        /// The field.
        name: String,
    },
    /// The field is there more than once with different values; which one the gateway meant cannot be
    /// known, and one of them may not come from the gateway.
    #[error("{name} is sent more than once with different values")]
    Conflicting {
        /// The field.
        name: String,
    },
    /// The field is not an amount: 1 to 15 ASCII digits.
    #[error("{name} is not an amount in yen")]
    NotAnAmount {
        /// The field.
        name: String,
    },
    /// The field is not a link key: 1 to 32 ASCII digits.
    #[error("{name} is not a link key")]
    NotALinkKey {
        /// The field.
        name: String,
    },
}

impl From<ReadError> for Rejection {
    fn from(error: ReadError) -> Self {
        Rejection::new(error.to_string())
    }
}

impl InboundRequest {
    /// The value of a field that must be there, not blank (white space around it is trimmed), and
    /// the same every time it appears.
    pub fn required_field(&self, name: &str) -> Result<&str, ReadError> {
        let mut values = self
            .fields
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.trim());
        let first = values.next().ok_or_else(|| ReadError::Missing {
            name: name.to_owned(),
        })?;
        if values.any(|other| other != first) {
            return Err(ReadError::Conflicting {
                name: name.to_owned(),
            });
        }
        if first.is_empty() {
            return Err(ReadError::Empty {
                name: name.to_owned(),
            });
        }
        Ok(first)
    }

    /// The value of a header (lower-case name) that must be there and not blank, trimmed. Headers the
    /// module did not declare in `inbound_headers` never reach it.
    pub fn required_header(&self, name: &str) -> Result<&str, ReadError> {
        let value = self.header(name).ok_or_else(|| ReadError::Missing {
            name: name.to_owned(),
        })?;
        match value.trim() {
            "" => Err(ReadError::Empty {
                name: name.to_owned(),
            }),
            value => Ok(value),
        }
    }

    /// A required field holding an amount in yen: 1 to 15 ASCII digits (no sign, no separators).
    pub fn required_amount(&self, name: &str) -> Result<i64, ReadError> {
        let value = self.required_field(name)?;
        if value.len() > AMOUNT_MAX_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReadError::NotAnAmount {
                name: name.to_owned(),
            });
        }
        value.parse().map_err(|_| ReadError::NotAnAmount {
            name: name.to_owned(),
        })
    }

    /// A required field holding a link key: 1 to 32 ASCII digits.
    pub fn required_link_key(&self, name: &str) -> Result<&str, ReadError> {
        let value = self.required_field(name)?;
        if value.len() > LINK_KEY_MAX_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReadError::NotALinkKey {
                name: name.to_owned(),
            });
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{form_post, json_post};
    use crate::ReadError;

    fn name(name: &str) -> String {
        name.to_owned()
    }

    #[test]
    fn required_fields_refuse_doubt_by_name() {
        let request = form_post(&[
            ("a", " x "),
            ("blank", "  "),
            ("twice", "1"),
            ("twice", "2"),
            ("same", "1"),
            ("same", "1"),
            ("amount", "1980"),
            ("signed", "-1"),
            ("huge", "1234567890123456"),
            ("key", "12345678901234567"),
        ]);
        assert_eq!(request.required_field("a"), Ok("x"));
        assert_eq!(request.required_field("same"), Ok("1"));
        assert_eq!(
            request.required_field("nope"),
            Err(ReadError::Missing { name: name("nope") })
        );
        assert_eq!(
            request.required_field("blank"),
            Err(ReadError::Empty {
                name: name("blank")
            })
        );
        assert_eq!(
            request.required_field("twice"),
            Err(ReadError::Conflicting {
                name: name("twice")
            })
        );
        assert_eq!(request.required_amount("amount"), Ok(1980));
        assert_eq!(
            request.required_amount("signed"),
            Err(ReadError::NotAnAmount {
                name: name("signed")
            })
        );
        assert_eq!(
            request.required_amount("huge"),
            Err(ReadError::NotAnAmount { name: name("huge") })
        );
        assert_eq!(request.required_link_key("key"), Ok("12345678901234567"));
        assert_eq!(
            request.required_link_key("a"),
            Err(ReadError::NotALinkKey { name: name("a") })
        );
        assert_eq!(
            crate::Rejection::from(ReadError::Empty {
                name: name("X-TRANID")
            })
            .reason,
            "X-TRANID is empty"
        );
    }

    #[test]
    fn required_headers_are_trimmed_and_not_blank() {
        let request = json_post("{}", &[("X-Sig", " abc "), ("X-Blank", "")]);
        assert_eq!(request.required_header("x-sig"), Ok("abc"));
        assert_eq!(
            request.required_header("x-blank"),
            Err(ReadError::Empty {
                name: name("x-blank")
            })
        );
        assert_eq!(
            request.required_header("x-none"),
            Err(ReadError::Missing {
                name: name("x-none")
            })
        );
    }
}
