//! E-mail delivery of licence keys, when `[smtp]` is configured: an outbox table and a sender task.
//!
//! # Never lost, never for nothing
//! [`crate::fulfil`] writes the message ([`compose`]) to the outbox in the same transaction that issues
//! the key it carries (a purchase, a subscription's first key, a renewal, a plan change), so a mail is
//! queued exactly when its key is committed: a delivery that rolls back queues nothing, and one that
//! commits cannot lose its mail to a crash. The webhook handler then wakes the sender.
//!
//! # At least once
//! The sender ([`start`]) claims one due row at a time: the claim counts the attempt and leases the row
//! (moves its `next_attempt_at` past the longest a send can take) before any SMTP is spoken. Accepted
//! by the server, the row is marked `sent`; refused or unreachable, it is due again after an
//! exponential backoff with jitter ([`backoff`]), and after `smtp.max_attempts` it is marked `failed`
//! and logged as an error. SMTP has no exactly-once: if the issuer dies (or is stopped too long)
//! between the server's acceptance and the `sent` mark, the lease runs out and the mail is sent again
//! after a restart. Each message carries a `Message-ID` fixed per outbox row, so a receiving system
//! can tell a repeat. Rows queued when the issuer stops are sent after it starts again.
//!
//! Neither the key, the body nor the buyer's address is ever logged: log lines name the outbox row
//! and the licence.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tessera_keys::UnixTime;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::config::{Config, SmtpConfig, SmtpTls};
use crate::state::AppState;
use crate::store::{IssuedKey, LicenseRecord, NewEmail, OutboxEmail, Store, Timestamp};

/// The longest the sender sleeps without a notification: picks up mail queued by another process
/// on the same database, and retries after a storage error.
const POLL: Duration = Duration::from_secs(60);
/// The longest delay between two attempts.
const MAX_BACKOFF_SECONDS: u64 = 6 * 3600;
/// How long a stop waits for a message being sent.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The e-mail that delivers `key` of `license` to `to`, for the outbox.
///
/// `Err` says why `to` cannot be mailed (it is not a plain e-mail address); the caller logs that and
/// issues the key anyway.
pub fn compose<'a>(
    config: &Config,
    smtp: &SmtpConfig,
    license: &'a LicenseRecord,
    key: &IssuedKey,
    to: &str,
    event_id: Option<&'a str>,
) -> Result<NewEmail<'a>, String> {
    let to = to.trim();
    to.parse::<Address>()
        .map_err(|err| format!("the buyer's address is not usable: {err}"))?;
    let product = config.catalog.by_id(license.product);
    let product_name = product.map_or_else(
        || format!("product {}", license.product),
        |p| p.name.clone(),
    );
    let tier_name = product
        .and_then(|p| p.tier_name(license.tier))
        .map_or_else(|| format!("tier {}", license.tier), str::to_owned);
    let features: Vec<&str> = (0..64u8)
        .filter(|bit| license.features & (1 << bit) != 0)
        .map(|bit| product.and_then(|p| p.feature_name(bit)).unwrap_or("?"))
        .collect();
    let subject = smtp
        .subject
        .replace("{product}", &product_name)
        .replace("{tier}", &tier_name);
    let opening = match key.reason.as_str() {
        "renewal" => {
            "Your subscription has renewed. Here is your new licence key; the previous one \
                      keeps working until it expires."
        }
        "plan_change" => "Your plan has changed. Here is the licence key for your new plan.",
        "subscription" => "Thank you for subscribing. Here is your licence key.",
        _ => "Thank you for your purchase. Here is your licence key.",
    };
    let expires = match key.expires_at {
        None => "never (perpetual licence)".to_owned(),
        Some(at) => {
            let at = UnixTime(u64::try_from(at).unwrap_or(0));
            if license.subscription_id.is_some() {
                format!("{at} (renewed with each paid billing period)")
            } else {
                at.to_string()
            }
        }
    };
    let features = if features.is_empty() {
        "-".to_owned()
    } else {
        features.join(", ")
    };
    let body = format!(
        "Hello,\n\n{opening}\n\n{key}\n\nProduct:  {product_name}\nTier:     {tier_name}\n\
         Features: {features}\nExpires:  {expires}\nLicence:  {id}\n\n\
         Paste the key into {product_name} to activate it. Keep this e-mail: the key is your \
         licence, and it works offline.\n",
        key = key.key,
        id = license.id,
    );
    Ok(NewEmail {
        license_id: &license.id,
        event_id,
        to: to.to_owned(),
        subject,
        body,
        created_at: key.issued_at,
    })
}

/// The running sender; [`Mailer::stop`] ends it.
#[derive(Debug)]
pub struct Mailer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts the sender if `[smtp]` is configured. Call inside the tokio runtime.
pub fn start(state: &AppState) -> Result<Option<Mailer>, lettre::transport::smtp::Error> {
    let Some(smtp) = state.config.smtp.clone() else {
        return Ok(None);
    };
    let transport = transport(&smtp)?;
    tracing::info!(host = %smtp.host, port = smtp.port, tls = ?smtp.tls,
        "e-mail delivery of licence keys is on");
    let (stop, stopped) = watch::channel(false);
    let sender = Sender {
        store: Arc::clone(&state.store),
        wake: Arc::clone(&state.outbox),
        smtp,
        transport,
    };
    Ok(Some(Mailer {
        stop,
        task: tokio::spawn(sender.run(stopped)),
    }))
}

impl Mailer {
    /// Stops the sender, letting a message being sent finish for a few seconds. Unsent mail stays
    /// queued for the next start.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let abort = self.task.abort_handle();
        if tokio::time::timeout(STOP_GRACE, self.task).await.is_err() {
            abort.abort();
            tracing::warn!(
                "e-mail sender stopped while sending; that message is sent again after a restart"
            );
        }
    }
}

fn transport(
    smtp: &SmtpConfig,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    let tls = match smtp.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls => Tls::Required(TlsParameters::new(smtp.host.clone())?),
        SmtpTls::Tls => Tls::Wrapper(TlsParameters::new(smtp.host.clone())?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(smtp.timeout_seconds)));
    if let (Some(username), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            password.expose().to_owned(),
        ));
    }
    Ok(builder.build())
}

/// Delay in seconds before the attempt after `attempts` failed ones: `base`·2^(attempts−1), at most
/// six hours, of which a random half or more ("equal jitter"), so that mail queued together does not
/// retry in lockstep.
pub fn backoff(base_seconds: u64, attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(32);
    let full = base_seconds
        .saturating_mul(1 << doublings)
        .clamp(1, MAX_BACKOFF_SECONDS);
    let half = full / 2;
    (half + rand::random_range(0..=full - half)).max(1)
}

struct Sender {
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    smtp: SmtpConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// What became of one claimed message.
enum Outcome {
    Sent,
    Retry(String),
    GiveUp(String),
}

impl Sender {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let wait = match self.send_due(&stop).await {
                Ok(()) => self.until_next_due().await,
                Err(err) => Err(err),
            };
            let wait = wait.unwrap_or_else(|err| {
                tracing::error!(error = %err, "e-mail outbox: storage failed; trying again later");
                POLL
            });
            tokio::select! {
                _ = stop.changed() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends every message that is due, one at a time, until none is or a stop is asked for.
    async fn send_due(&self, stop: &watch::Receiver<bool>) -> Result<(), String> {
        // Past the longest a send can take, so that no other sender claims a message being sent.
        let lease = 4 * self.smtp.timeout_seconds + 60;
        while !*stop.borrow() {
            let now = now();
            let lease_until = now + lease as Timestamp;
            let Some(email) = self
                .db(move |store| store.claim_email(now, lease_until))
                .await?
            else {
                return Ok(());
            };
            let (id, attempts) = (email.id, email.attempts);
            let outcome = self.send(email).await;
            let at = crate::clock::now().0 as Timestamp;
            match outcome {
                Outcome::Sent => {
                    tracing::info!(outbox = id, attempts, "licence e-mail sent");
                    self.db(move |store| store.email_sent(id, at)).await?;
                }
                Outcome::Retry(error) => {
                    let delay = backoff(self.smtp.base_backoff_seconds, attempts);
                    tracing::warn!(outbox = id, attempts, retry_in_seconds = delay, error = %error,
                        "licence e-mail not sent; will retry");
                    let retry_at = Some(at + delay as Timestamp);
                    self.db(move |store| store.email_failed(id, &error, retry_at))
                        .await?;
                }
                Outcome::GiveUp(error) => {
                    tracing::error!(outbox = id, attempts, error = %error,
                        "licence e-mail failed for good; the buyer must get the key another way");
                    self.db(move |store| store.email_failed(id, &error, None))
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn send(&self, email: OutboxEmail) -> Outcome {
        let message = match self.message(&email) {
            Ok(message) => message,
            Err(error) => return Outcome::GiveUp(error),
        };
        // lettre's timeout bounds each command; this bounds the whole conversation.
        let limit = Duration::from_secs(4 * self.smtp.timeout_seconds);
        let error = match tokio::time::timeout(limit, self.transport.send(message)).await {
            Ok(Ok(_)) => return Outcome::Sent,
            Ok(Err(err)) => err.to_string(),
            Err(_) => format!("no answer within {} s", limit.as_secs()),
        };
        if email.attempts >= self.smtp.max_attempts {
            Outcome::GiveUp(format!("{error} (after {} attempts)", email.attempts))
        } else {
            Outcome::Retry(error)
        }
    }

    fn message(&self, email: &OutboxEmail) -> Result<Message, String> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|err| format!("the stored address is not usable: {err}"))?;
        let mut builder = Message::builder()
            .from(self.smtp.from.clone())
            .to(to)
            .subject(email.subject.clone())
            // Fixed per outbox row: a message sent twice (at least once) is recognisably the same.
            .message_id(Some(format!(
                "<tessera.{}.{}@{}>",
                email.license_id,
                email.id,
                self.smtp.from.email.domain()
            )))
            .header(ContentType::TEXT_PLAIN);
        if let Some(reply_to) = &self.smtp.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        builder
            .body(body(&email.body))
            .map_err(|err| format!("cannot build the message: {err}"))
    }

    /// How long until the next queued message is due (at most [`POLL`]).
    async fn until_next_due(&self) -> Result<Duration, String> {
        let Some(due) = self.db(|store| store.next_email_due()).await? else {
            return Ok(POLL);
        };
        let due = UNIX_EPOCH + Duration::from_secs(u64::try_from(due).unwrap_or(0));
        let wait = due.duration_since(SystemTime::now()).unwrap_or_default();
        Ok(wait.clamp(Duration::from_millis(50), POLL))
    }

    async fn db<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, String> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(&*store).map_err(|err| err.to_string()))
            .await
            .map_err(|err| format!("storage task failed: {err}"))?
    }
}

/// The body as 7bit text when it is plain ASCII, so that the key's long line reaches the buyer as
/// one piece (lettre would otherwise wrap lines over 76 characters with quoted-printable).
fn body(text: &str) -> Body {
    let fits = text.is_ascii() && !text.contains('\0') && text.lines().all(|line| line.len() < 900);
    if fits {
        let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(text.to_owned())
    }
}

fn now() -> Timestamp {
    crate::clock::now().0 as Timestamp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for _ in 0..100 {
            assert_eq!(backoff(1, 1), 1);
            assert!((30..=60).contains(&backoff(60, 1)));
            assert!((60..=120).contains(&backoff(60, 2)));
            assert!((240..=480).contains(&backoff(60, 4)));
            assert!((MAX_BACKOFF_SECONDS / 2..=MAX_BACKOFF_SECONDS).contains(&backoff(60, 40)));
        }
    }

    #[test]
    fn an_ascii_body_keeps_long_lines_whole() {
        let key = format!("ts1_{}", "A".repeat(150));
        let body = body(&format!("Hello,\n\n{key}\n"));
        assert_eq!(body.encoding(), ContentTransferEncoding::SevenBit);
        let text = String::from_utf8(body.into_vec()).unwrap();
        assert!(text.contains(&format!("\r\n{key}\r\n")));
    }
}
