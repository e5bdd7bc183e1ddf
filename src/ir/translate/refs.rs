//! What every resolver of references shares: the failure of a reference (for the route's
//! `ResolvedRefs` condition), and reading a key of a Secret.

use super::index::Index;

/// Why a reference did not resolve: the ResolvedRefs reason and a message.
pub type RefFailure = (String, String);

/// A reference to something Sluice cannot use as configured.
pub fn invalid(msg: impl Into<String>) -> RefFailure {
    ("UnsupportedValue".to_string(), msg.into())
}

/// The bytes of the data key `key` of the Secret `ns/name`; `None` when the Secret lacks it.
pub fn secret_value(ix: &Index<'_>, ns: &str, name: &str, key: &str) -> Result<Option<Vec<u8>>, RefFailure> {
    let secret =
        ix.secret(ns, name).ok_or_else(|| ("BackendNotFound".to_string(), format!("Secret {ns}/{name} not found")))?;
    secret.get(key).map_err(|e| invalid(format!("Secret {ns}/{name}: {e:?}")))
}
