//! JWKS fetched from URLs: cached per URL, fetched again when a token names a `kid` the cached
//! set lacks (at most once every [`REFRESH_MIN`] per URL), bounded in size and time. State of
//! the policy layer, outside the snapshot: it survives reloads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use tokio::time::Instant;

/// Largest JWKS document read.
const MAX_DOCUMENT: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A set is fetched again for an unknown `kid` at most this often.
const REFRESH_MIN: Duration = Duration::from_secs(5);
/// A set is fetched again this long after it was fetched, whatever the tokens say.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// URLs whose sets are kept.
const MAX_URLS: usize = 256;

#[derive(Default)]
pub struct JwksCache {
    sets: Mutex<HashMap<String, Entry>>,
    client: std::sync::OnceLock<Option<reqwest::Client>>,
}

#[derive(Clone)]
struct Entry {
    set: Arc<JwkSet>,
    fetched: Instant,
}

impl JwksCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.sets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The set at `url`, holding `kid` if the provider has it.
    pub async fn get(&self, url: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, String> {
        let cached = self.lock().get(url).cloned();
        if let Some(e) = &cached {
            let has_kid = kid.is_none_or(|k| e.set.find(k).is_some());
            let fresh = e.fetched.elapsed() < MAX_AGE;
            if (has_kid && fresh) || e.fetched.elapsed() < REFRESH_MIN {
                return Ok(e.set.clone());
            }
        }
        // Boxed: an HTTP fetch's state is large and rare; every admission's future would carry it.
        match Box::pin(self.fetch(url)).await {
            Ok(set) => {
                let set = Arc::new(set);
                let mut sets = self.lock();
                if sets.len() >= MAX_URLS && !sets.contains_key(url) {
                    sets.clear();
                }
                sets.insert(url.to_string(), Entry { set: set.clone(), fetched: Instant::now() });
                Ok(set)
            }
            // A set that cannot be fetched again is used as it was.
            Err(e) => cached.map(|c| c.set).ok_or(e),
        }
    }

    fn client(&self) -> Option<&reqwest::Client> {
        self.client
            .get_or_init(|| {
                let roots = crate::ir::translate::tls::system_roots();
                let config = crate::ir::translate::tls::client_config(roots, None).ok()?;
                reqwest::Client::builder().no_proxy().tls_backend_preconfigured(config).build().ok()
            })
            .as_ref()
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, String> {
        let client = self.client().ok_or("no HTTP client for JWKS URLs")?;
        let work = async {
            let mut resp = client.get(url).send().await.map_err(|e| format!("fetching the JWKS at {url}: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("the JWKS at {url} answered {}", resp.status().as_u16()));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| format!("reading the JWKS at {url}: {e}"))? {
                if body.len() + chunk.len() > MAX_DOCUMENT {
                    return Err(format!("the JWKS at {url} is larger than {MAX_DOCUMENT} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            serde_json::from_slice::<JwkSet>(&body).map_err(|e| format!("the JWKS at {url} is not valid: {e}"))
        };
        crate::httpkit::deadline::within(FETCH_TIMEOUT, work, |d| format!("the JWKS at {url} took longer than {d:?}"))
            .await
    }
}
