//! Credentials that translation reads from Secrets and the pipelines use: parsed and checked
//! once, with the configuration, and held by the snapshot. Using them (signing, minting tokens,
//! sealing session ids) is the pipelines' business; this module only holds the material.

use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::signature::RsaKeyPair;
use serde::Deserialize;
use serde_json::Value;

use super::ai::AiEndpoint;

/// Google's OAuth scope for Vertex AI.
pub const GCP_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_LIFETIME: u64 = 3600;
/// Shortest MCP session key material accepted from a Secret.
pub const MIN_KEY_BYTES: usize = 16;

/// AWS keys from a Secret, ready to sign with (built once, with the configuration), and the
/// region requests are signed for.
pub struct AwsKeys {
    pub access_key_id: String,
    pub identity: Identity,
    pub region: String,
}

impl AwsKeys {
    pub fn new(access_key_id: &str, secret_access_key: &str, session_token: Option<String>, region: &str) -> AwsKeys {
        let credentials = Credentials::new(access_key_id, secret_access_key, session_token, None, "sluice-config");
        AwsKeys { access_key_id: access_key_id.to_string(), identity: credentials.into(), region: region.to_string() }
    }
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeys").field("access_key_id", &self.access_key_id).field("region", &self.region).finish()
    }
}

/// The fields of a service-account key file that Sluice uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    ty: Option<String>,
    client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    token_uri: String,
}

/// A service account, ready to mint tokens.
pub struct ServiceAccount {
    pub client_email: String,
    key_id: Option<String>,
    key: RsaKeyPair,
    pub token_uri: String,
    /// Where `token_uri` is reached; built with the configuration.
    pub token_endpoint: AiEndpoint,
    /// Tells keys apart for token caches: the account, the key's id and `token_uri`.
    pub cache_key: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount").field("client_email", &self.client_email).finish()
    }
}

/// Reads a service-account key (the JSON file Google issues). `endpoint` resolves its
/// `token_uri` to an upstream.
pub fn service_account(
    json: &[u8],
    endpoint: impl FnOnce(&str) -> Result<AiEndpoint, String>,
) -> Result<ServiceAccount, String> {
    let f: KeyFile = serde_json::from_slice(json).map_err(|e| format!("not a service-account key file: {e}"))?;
    if let Some(ty) = f.ty.as_deref().filter(|t| *t != "service_account") {
        return Err(format!("the key file is of type {ty:?}, not \"service_account\""));
    }
    let der = pem_body(&f.private_key).ok_or("private_key is not a PEM \"PRIVATE KEY\"")?;
    let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("private_key is not a PKCS#8 RSA key: {e}"))?;
    let token_endpoint = endpoint(&f.token_uri)?;
    let cache_key = format!("{}|{}|{}", f.client_email, f.private_key_id.as_deref().unwrap_or(""), f.token_uri);
    Ok(ServiceAccount {
        cache_key,
        client_email: f.client_email,
        key_id: f.private_key_id,
        key,
        token_uri: f.token_uri,
        token_endpoint,
    })
}

fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN PRIVATE KEY-----")? + "-----BEGIN PRIVATE KEY-----".len();
    let end = pem.find("-----END PRIVATE KEY-----")?;
    let b64: String = pem.get(start..end)?.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

impl ServiceAccount {
    /// The signed JWT assertion for a token request issued at `now` (seconds since the epoch).
    pub fn assertion(&self, now: u64) -> Result<String, String> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = Value::String(kid.clone());
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": GCP_SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + JWT_LIFETIME,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "RS256 signing failed".to_string())?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// The sealing key: SHA-256 of the Secret's bytes (any length from [`MIN_KEY_BYTES`]).
pub struct SessionKey {
    pub key: LessSafeKey,
    /// A short digest of the key, to tell keys apart in the configuration dump.
    pub id: String,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey").field("id", &self.id).finish()
    }
}

impl SessionKey {
    pub fn new(material: &[u8]) -> Result<SessionKey, String> {
        if material.len() < MIN_KEY_BYTES {
            return Err(format!("a session key needs at least {MIN_KEY_BYTES} bytes, got {}", material.len()));
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, material);
        let unbound = UnboundKey::new(&AES_256_GCM, digest.as_ref()).map_err(|_| "AES-256-GCM key".to_string())?;
        let check = ring::digest::digest(&ring::digest::SHA256, digest.as_ref());
        let id = check.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        Ok(SessionKey { key: LessSafeKey::new(unbound), id })
    }
}
