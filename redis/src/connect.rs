//! Why a Redis could not be used at start ([`ConnectError`]), said without
//! any part of its URL, which may hold a password.

use std::sync::Arc;

use orderflow_batch::error::{PortError, PortErrorKind};

/// A store that could not connect: the URL, the credentials, the TLS
/// certificate, or no answer. Only the last may pass by waiting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not one this store takes.
    #[error(
        "not a Redis URL this store takes: redis://[[user]:password@]host:port[/db], or rediss:// for TLS"
    )]
    NotAUrl,
    /// The Redis refused the URL's user or password, or wants one.
    #[error("the Redis refused the URL's credentials (or needs a password the URL lacks)")]
    CredentialsRefused,
    /// The TLS handshake failed: the Redis's certificate is not signed by an
    /// authority this machine trusts, or is not for the URL's host.
    #[error(
        "the Redis's TLS certificate was refused: not from an authority this machine trusts \
         (SSL_CERT_FILE names the bundle to trust instead) or not for the URL's host"
    )]
    CertificateRefused,
    /// No Redis answered in time.
    #[error("no Redis answered ({})", .0.code())]
    Unreachable(PortErrorKind),
}

impl ConnectError {
    /// Whether trying again later may succeed (a Redis that is starting or
    /// out of reach), as opposed to settings that must change.
    pub fn retryable(&self) -> bool {
        matches!(self, ConnectError::Unreachable(_))
    }

    /// A failed connection's error, classified.
    pub(crate) fn of(error: &redis::RedisError) -> ConnectError {
        if error.kind() == redis::ErrorKind::InvalidClientConfig {
            ConnectError::NotAUrl
        } else if error.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"))
        {
            ConnectError::CredentialsRefused
        } else if is_tls_failure(error) {
            ConnectError::CertificateRefused
        } else {
            ConnectError::Unreachable(crate::error_kind(error))
        }
    }
}

impl From<ConnectError> for PortError {
    fn from(error: ConnectError) -> PortError {
        let kind = match error {
            ConnectError::Unreachable(kind) => kind,
            _ => PortErrorKind::Other,
        };
        PortError::new(kind, "Connect", error.to_string())
    }
}

/// Whether `error` comes from the TLS handshake: rustls's error, which
/// tokio-rustls hands on inside an I/O error, which redis keeps behind an `Arc`.
fn is_tls_failure(error: &redis::RedisError) -> bool {
    use std::error::Error;
    let mut cause: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(current) = cause {
        let current: &(dyn Error + 'static) = match current.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
            Some(shared) => shared.as_ref(),
            None => current,
        };
        let io_cause = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref);
        if current.is::<rustls::Error>() || io_cause.is_some_and(|inner| inner.is::<rustls::Error>()) {
            return true;
        }
        cause = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_redis_out_of_reach_is_worth_waiting_for_and_the_port_error_agrees() {
        let every = [
            ConnectError::NotAUrl,
            ConnectError::CredentialsRefused,
            ConnectError::CertificateRefused,
            ConnectError::Unreachable(PortErrorKind::Timeout),
            ConnectError::Unreachable(PortErrorKind::Unavailable),
        ];
        for error in every {
            let port = PortError::from(error.clone());
            assert_eq!(error.retryable(), matches!(error, ConnectError::Unreachable(_)));
            assert_eq!(port.retryable(), error.retryable(), "{error}");
            assert_eq!(port.operation, "Connect");
            assert_eq!(port.message, error.to_string());
        }
    }

    #[test]
    fn a_refused_certificate_is_told_from_a_redis_out_of_reach() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let handshake = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        assert_eq!(
            ConnectError::of(&redis::RedisError::from(handshake)),
            ConnectError::CertificateRefused
        );
        let closed = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            ConnectError::of(&redis::RedisError::from(closed)),
            ConnectError::Unreachable(_)
        ));
        // Words alone do not make a TLS failure.
        let words = std::io::Error::other("certificate");
        assert!(matches!(
            ConnectError::of(&redis::RedisError::from(words)),
            ConnectError::Unreachable(_)
        ));
    }
}
