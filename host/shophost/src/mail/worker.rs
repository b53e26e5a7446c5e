//! The delivery worker: claims due mails, renders a mail the first time (stored, so every attempt sends
//! the same bytes), sends it over SMTP (or captures it), and records the attempt. A failure is tried
//! again after a wait that doubles from `retry_first_seconds` up to `retry_max_seconds`, until
//! `give_up_hours` after the mail was queued (or sent again by the operator): then it is 失敗, and the
//! dashboard says so.
//!
//! Claims carry a lease (`lease_until`, a random token): a host that dies while sending leaves the
//! mail to be claimed again once the lease is over, and only the lease's holder may record the
//! outcome. SMTP gives at-least-once at best: a host killed after the server accepted a message but
//! before the commit that records it sends it again after the lease; everything else is sent once.

use std::collections::HashMap;
use std::time::Duration;

#[cfg(feature = "smtp")]
use lettre::address::Envelope;
#[cfg(feature = "smtp")]
use lettre::transport::smtp::authentication::Credentials;
#[cfg(feature = "smtp")]
use lettre::transport::smtp::client::{Tls as LettreTls, TlsParameters};
#[cfg(feature = "smtp")]
use lettre::transport::smtp::PoolConfig;
#[cfg(feature = "smtp")]
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::render::{self, RenderError, Rendered};
#[cfg(feature = "smtp")]
use super::settings::read_ca;
#[cfg(feature = "smtp")]
use super::settings::SmtpSettings;
use super::settings::{current, Delivery};
#[cfg(feature = "smtp")]
use super::Tls;
use super::{Finished, MailSettings, OutboxMail, Outcome, Transport};
use crate::db::DbError;
use crate::domain::now_millis;
use crate::AppState;

/// Mails one pass sends at most before it looks at the settings again.
const PASS: usize = 50;

/// Mails one claim takes when they go over SMTP: each exchange may take up to the timeout, and the
/// claim's lease covers them all, so a host that dies holding them delays at most this many.
const SMTP_CLAIM: usize = 10;

/// How long a claim holds a mail: long enough for an SMTP exchange with every timeout used up.
fn lease_ms(settings: &MailSettings) -> i64 {
    i64::try_from(settings.smtp.timeout_seconds)
        .unwrap_or(30)
        .saturating_mul(3_000)
        .saturating_add(10_000)
}

/// How a worker sends: the SMTP transport of the settings in force, kept from pass to pass while they
/// stay the same. lettre's pool then keeps the connection open between mails (it says `NOOP` before
/// using it again, and closes it after [`SMTP_IDLE`] unused), so the mails of a batch go over one
/// connection and one TLS handshake, not one each.
#[derive(Default)]
pub struct Senders {
    #[cfg(feature = "smtp")]
    smtp: Option<(SmtpSettings, AsyncSmtpTransport<Tokio1Executor>)>,
}

/// How long an SMTP connection stays open unused.
#[cfg(feature = "smtp")]
const SMTP_IDLE: Duration = Duration::from_secs(30);

impl Senders {
    /// The transport for `settings`, made anew when they changed.
    #[cfg(feature = "smtp")]
    async fn smtp(
        &mut self,
        settings: &MailSettings,
    ) -> Result<&AsyncSmtpTransport<Tokio1Executor>, String> {
        if self
            .smtp
            .as_ref()
            .is_some_and(|(kept, _)| *kept != settings.smtp)
        {
            self.close().await;
        }
        let (_, transport) = match self.smtp.take() {
            Some(kept) => self.smtp.insert(kept),
            None => self
                .smtp
                .insert((settings.smtp.clone(), transport(settings)?)),
        };
        Ok(transport)
    }

    /// Closes the connections kept (`QUIT`).
    pub async fn close(&mut self) {
        #[cfg(feature = "smtp")]
        if let Some((_, transport)) = self.smtp.take() {
            transport.shutdown().await;
        }
    }
}

/// Runs the worker for as long as the process does.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let poll = Duration::from_millis(state.config.mail.delivery.poll_ms);
        let mut senders = Senders::default();
        loop {
            match run_pass(&state, &mut senders).await {
                // A full pass: there may be more due now.
                Ok(handled) if handled >= PASS => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "mail: the outbox could not be read"),
            }
            tokio::time::sleep(poll).await;
        }
    })
}

/// One pass: claims due mails and tries each once; returns how many.
///
/// Mails are claimed, stored rendered and recorded in batches (one write transaction each), not one
/// at a time: every write transaction is a commit the notification writer waits behind on SQLite's
/// one connection, and a mail per transaction made three of them per mail. Captured mails are
/// recorded together at the end of their batch; mails sent over SMTP each as soon as the server
/// answered, so a host that dies in the middle of a batch sends again only the one it was on.
pub async fn run_once(state: &AppState) -> Result<usize, DbError> {
    let mut senders = Senders::default();
    let handled = run_pass(state, &mut senders).await;
    senders.close().await;
    handled
}

/// One pass through `senders` (see [`run_once`]).
pub async fn run_pass(state: &AppState, senders: &mut Senders) -> Result<usize, DbError> {
    let settings = current(state).await?;
    let delivery = &state.config.mail.delivery;
    let token = crate::operators::random_token();
    let (claim, lease) = match settings.transport {
        Transport::Capture => (PASS, lease_ms(&settings)),
        Transport::Smtp => (
            SMTP_CLAIM,
            lease_ms(&settings).saturating_mul(SMTP_CLAIM as i64),
        ),
    };
    let mut count = 0;
    while count < PASS {
        let asked = claim.min(PASS - count);
        let claimed = state
            .store
            .claim_mail(now_millis(), lease, &token, asked as i64)
            .await?;
        let drained = claimed.len() < asked;
        count += claimed.len();
        if !claimed.is_empty() {
            attempt_batch(state, &settings, delivery, senders, &token, claimed).await?;
        }
        // A claim that found fewer than it asked for took every mail due: the pass ends there, and
        // what is queued meanwhile waits for the next poll. Claiming again at once would chase the
        // notifications one by one (a claim and a record, two commits, for every order's mails,
        // each one more commit the notification writer waits behind on SQLite's one connection).
        if drained {
            break;
        }
    }
    Ok(count)
}

/// Claimed mails: those not rendered yet rendered and stored, then each sent, and the outcomes
/// recorded.
async fn attempt_batch(
    state: &AppState,
    settings: &MailSettings,
    delivery: &Delivery,
    senders: &mut Senders,
    token: &str,
    claimed: Vec<OutboxMail>,
) -> Result<(), DbError> {
    let mut ready = Vec::with_capacity(claimed.len());
    let mut unrendered = Vec::new();
    let mut finished = Vec::new();
    let mut read = render::PassRows::default();
    read.load(state, &claimed).await?;
    for mail in claimed {
        if mail.message.is_some() {
            ready.push(mail);
            continue;
        }
        match render::render(state, settings, &mail, &mut read).await {
            Ok(rendered) => unrendered.push((mail, rendered)),
            Err(RenderError::NoRecipient(reason)) => finished.push(Finished {
                id: mail.id,
                transport: "none",
                outcome: Outcome::Skipped(reason),
            }),
            // What it is about cannot make a message (an address no server takes): no retry mends it.
            Err(RenderError::Missing(reason)) => finished.push(Finished {
                id: mail.id,
                transport: "none",
                outcome: Outcome::Failed(reason),
            }),
            Err(RenderError::Db(error)) => return Err(error),
        }
    }
    // A mail sent over SMTP has its message stored before it is sent, so that a retry sends the
    // same bytes. A captured one is kept only in the outbox (and a file): its message is stored
    // with its outcome, in the same statement.
    let mut renderings = HashMap::new();
    match settings.transport {
        Transport::Smtp => {
            let stored = state
                .store
                .store_rendered_mails(unrendered, now_millis())
                .await?;
            ready.extend(stored);
        }
        Transport::Capture => {
            for (mail, rendered) in unrendered {
                renderings.insert(mail.id, rendered.clone());
                ready.push(OutboxMail {
                    recipients: Some(rendered.recipients.join(", ")),
                    subject: Some(rendered.subject),
                    message: Some(rendered.message),
                    ..mail
                });
            }
        }
    }
    // Sent in the order they were due, as they were claimed.
    ready.sort_by_key(|mail| (mail.next_attempt_at, mail.id));
    for mail in ready {
        let (transport, sent) = deliver(settings, delivery, senders, &mail).await;
        let outcome = match sent {
            Ok(answer) => Outcome::Sent(answer),
            Err(error) => {
                tracing::warn!(mail = mail.id, %error, "mail: not delivered");
                failure(delivery, &mail, error, now_millis())
            }
        };
        let done = Finished {
            id: mail.id,
            transport,
            outcome,
        };
        match settings.transport {
            Transport::Capture => finished.push(done),
            Transport::Smtp => {
                finish(state, token, std::slice::from_ref(&done), &HashMap::new()).await?
            }
        }
    }
    finish(state, token, &finished, &renderings).await
}

async fn finish(
    state: &AppState,
    token: &str,
    finished: &[Finished],
    rendered: &HashMap<i64, Rendered>,
) -> Result<(), DbError> {
    let kept = state
        .store
        .finish_rendered_mails(token, finished, rendered, now_millis())
        .await?;
    for (done, kept) in finished.iter().zip(kept) {
        if !kept {
            tracing::warn!(
                mail = done.id,
                "mail: the lease ran out before the outcome was recorded"
            );
        }
    }
    Ok(())
}

/// A failed attempt: retried after the backoff, or given up once `give_up` has passed since the mail
/// was queued (or released by the operator).
pub fn failure(delivery: &Delivery, mail: &OutboxMail, error: String, now: i64) -> Outcome {
    let since = mail.released_at.unwrap_or(mail.created_at);
    let wait = backoff(delivery, mail.attempts);
    if now.saturating_add(wait) - since > delivery.give_up_ms {
        return Outcome::Failed(error);
    }
    Outcome::Retry {
        error,
        next_at: now.saturating_add(wait),
    }
}

/// The wait before the retry after `attempts` earlier attempts: doubling, capped.
pub fn backoff(delivery: &Delivery, attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    delivery
        .retry_first_ms
        .saturating_mul(1_i64 << doublings)
        .min(delivery.retry_max_ms)
}

/// Sends (or captures) a rendered mail; the transport's name, and its answer or the error.
async fn deliver(
    settings: &MailSettings,
    delivery: &Delivery,
    senders: &mut Senders,
    mail: &OutboxMail,
) -> (&'static str, Result<String, String>) {
    let message = mail.message.as_deref().unwrap_or_default();
    match settings.transport {
        Transport::Capture => ("capture", capture(delivery, mail.id, message).await),
        Transport::Smtp => ("smtp", smtp(settings, senders, mail, message).await),
    }
}

/// Keeps a mail on the machine: it is in the outbox already; written as a file too when configured.
async fn capture(delivery: &Delivery, id: i64, message: &[u8]) -> Result<String, String> {
    let Some(dir) = &delivery.capture_dir else {
        return Ok("保存のみ（送信しません）".to_owned());
    };
    let path = dir.join(format!("{id:08}.eml"));
    let write = async {
        tokio::fs::create_dir_all(dir).await?;
        let partial = dir.join(format!("{id:08}.eml.partial"));
        tokio::fs::write(&partial, message).await?;
        tokio::fs::rename(&partial, &path).await
    };
    write
        .await
        .map(|()| format!("保存のみ（送信しません）: {}", path.display()))
        .map_err(|error| format!("{}: {error}", path.display()))
}

/// The SMTP transport the settings describe.
#[cfg(feature = "smtp")]
fn transport(settings: &MailSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let smtp = &settings.smtp;
    let tls = |host: &str| {
        let mut parameters = TlsParameters::builder(host.to_owned());
        if let Some(path) = &smtp.ca_file {
            parameters = parameters.add_root_certificate(read_ca(path)?);
        }
        parameters
            .build_rustls()
            .map_err(|error| format!("TLS: {error}"))
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(smtp.timeout_seconds)));
    builder = match smtp.tls {
        Tls::Starttls => builder.tls(LettreTls::Required(tls(&smtp.host)?)),
        Tls::Implicit => builder.tls(LettreTls::Wrapper(tls(&smtp.host)?)),
        Tls::None => builder.tls(LettreTls::None),
    };
    if !smtp.user.is_empty() {
        builder = builder.credentials(Credentials::new(smtp.user.clone(), smtp.password.clone()));
    }
    // A worker sends one mail at a time, so one connection would do; but lettre hands a connection
    // back in a task of its own, which the next mail may overtake (and open a second).
    let pool = PoolConfig::new()
        .min_idle(0)
        .max_size(2)
        .idle_timeout(SMTP_IDLE);
    Ok(builder.pool_config(pool).build())
}

/// A build without the cargo feature `smtp` cannot send: the mail waits (and is retried) until a
/// host that can takes it, or the operator switches to capture.
#[cfg(not(feature = "smtp"))]
async fn smtp(
    _settings: &MailSettings,
    _senders: &mut Senders,
    _mail: &OutboxMail,
    _message: &[u8],
) -> Result<String, String> {
    Err(super::settings::NO_SMTP.to_owned())
}

#[cfg(feature = "smtp")]
async fn smtp(
    settings: &MailSettings,
    senders: &mut Senders,
    mail: &OutboxMail,
    message: &[u8],
) -> Result<String, String> {
    let from: lettre::Address = settings
        .from
        .parse()
        .map_err(|error| format!("送信元 {}: {error}", settings.from))?;
    let to = mail
        .recipient_list()
        .iter()
        .map(|to| to.parse::<lettre::Address>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("宛先: {error}"))?;
    let envelope = Envelope::new(Some(from), to).map_err(|error| error.to_string())?;
    let transport = senders.smtp(settings).await?;
    let response = transport
        .send_raw(&envelope, message)
        .await
        .map_err(|error| format!("{}:{}: {error}", settings.smtp.host, settings.smtp.port))?;
    Ok(format!(
        "{} {}",
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::{MailKind, MailStatus};

    fn delivery() -> Delivery {
        Delivery {
            give_up_ms: 3_600_000,
            retry_first_ms: 60_000,
            retry_max_ms: 900_000,
            poll_ms: 1000,
            capture_dir: None,
        }
    }

    fn mail(attempts: i64) -> OutboxMail {
        OutboxMail {
            id: 1,
            kind: MailKind::Test,
            subject_id: None,
            order_id: None,
            detail_json: None,
            status: MailStatus::Retry,
            created_at: 0,
            next_attempt_at: 0,
            attempts,
            last_error: None,
            recipients: None,
            subject: None,
            message: None,
            sent_at: None,
            released_at: None,
            lease_token: None,
        }
    }

    #[test]
    fn waits_double_up_to_the_cap() {
        let waits: Vec<i64> = (0..7).map(|n| backoff(&delivery(), n) / 1000).collect();
        assert_eq!(waits, [60, 120, 240, 480, 900, 900, 900]);
    }

    #[test]
    fn gives_up_once_the_time_is_over() {
        let retry = failure(&delivery(), &mail(0), "down".to_owned(), 1_000);
        assert_eq!(
            retry,
            Outcome::Retry {
                error: "down".to_owned(),
                next_at: 61_000
            }
        );
        let late = failure(&delivery(), &mail(5), "down".to_owned(), 3_000_000);
        assert_eq!(late, Outcome::Failed("down".to_owned()));
        // A resend counts from when the operator asked for it.
        let resent = OutboxMail {
            released_at: Some(3_000_000),
            ..mail(5)
        };
        assert!(matches!(
            failure(&delivery(), &resent, "down".to_owned(), 3_000_000),
            Outcome::Retry { .. }
        ));
    }
}
