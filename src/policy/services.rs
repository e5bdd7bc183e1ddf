//! The HTTP client the policy layer calls its services with (external auth, webhook guards):
//! one per process, rustls with the system's roots, no proxy from the environment.

use std::sync::OnceLock;

pub(crate) fn client() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let roots = crate::ir::translate::tls::system_roots();
            let config = crate::ir::translate::tls::client_config(roots, None).ok()?;
            // No redirects: they would carry the request's headers to another host.
            reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .tls_backend_preconfigured(config)
                .build()
                .ok()
        })
        .as_ref()
}

/// The `http://host:port` of a service's upstream (an endpoint picked as for a route).
pub(crate) fn origin(upstream: &crate::ir::backend::Upstream) -> Option<String> {
    use crate::ir::Endpoint;
    match upstream.pick()? {
        Endpoint::Addr(a) => Some(format!("http://{a}")),
        Endpoint::Dns { host, port } => Some(format!("http://{host}:{port}")),
    }
}
