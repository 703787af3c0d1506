//! Self-signed certificates, generated in-process (no openssl needed). Browsers only accept
//! them after the user adds an exception, so this is for testing and private servers.

use anyhow::Context as _;

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Never prints the private key (plans and snapshots are debug-printed in test failures).
impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<private key>")
            .finish()
    }
}

/// Generates an ECDSA P-256 certificate for `domain`, valid from `now_unix` for `days`.
pub fn generate(domain: &str, now_unix: i64, days: i64) -> anyhow::Result<SelfSigned> {
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string()])
        .with_context(|| format!("{domain:?} cannot be put on a certificate"))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, domain);
    params.distinguished_name = dn;
    let start = time::OffsetDateTime::from_unix_timestamp(now_unix - 60)
        .context("the clock is out of range")?;
    params.not_before = start;
    params.not_after = start + time::Duration::days(days);
    let key = rcgen::KeyPair::generate().context("generating a key pair")?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_the_domain_and_has_the_asked_validity() {
        let now = 1_795_000_000;
        let s = generate("draw.example.com", now, 365).unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(s.cert_pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        assert_eq!(
            crate::verify::certificate_names(&cert),
            vec!["draw.example.com".to_string()]
        );
        let v = cert.validity();
        assert_eq!(
            v.not_after.timestamp() - v.not_before.timestamp(),
            365 * 86400
        );
        assert!(v.not_before.timestamp() <= now);
        assert!(s.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
}
