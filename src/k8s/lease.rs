//! Leader election on a `coordination.k8s.io/v1` Lease: one replica holds it and writes status;
//! every replica serves traffic from its own watches. The holder renews the Lease every third
//! of its duration. The others take it over once it has gone unrenewed for a whole duration, as
//! they measure it on their own clocks (the renew time they last saw, and when they saw it
//! change), so clock skew between replicas does not matter. A holder that cannot renew for two
//! thirds of the duration stops writing before anyone else may start.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

/// Where the Lease lives and who asks for it.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica (the pod's name and the process id, unique per process).
    pub identity: String,
    pub duration: Duration,
}

/// The identity of this process: `POD_NAME` (set from the pod's name by the deployment) or
/// `HOSTNAME`, and the process id.
pub fn identity() -> String {
    let host = std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| "sluice".into());
    format!("{host}-{}", std::process::id())
}

/// What this replica last saw of another holder: the record, and when it saw it change.
struct Seen {
    holder: Option<String>,
    renew: Option<MicroTime>,
    at: Instant,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// Starts the election; the receiver says whether this replica holds the Lease.
pub fn elect(client: kube::Client, config: LeaseConfig) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    tokio::spawn(async move {
        let mut seen: Option<Seen> = None;
        let mut renewed: Option<Instant> = None;
        let step = config.duration / 3;
        loop {
            let attempt = tokio::time::timeout(step, try_hold(&api, &config, &mut seen)).await;
            match attempt {
                Ok(Ok(true)) => renewed = Some(Instant::now()),
                Ok(Ok(false)) => renewed = None,
                Ok(Err(e)) => tracing::warn!(error = %e, lease = %config.name, "cannot read or renew the lease"),
                Err(_) => tracing::warn!(lease = %config.name, "the lease call took longer than {step:?}"),
            }
            let holding = renewed.is_some_and(|t| t.elapsed() < config.duration * 2 / 3);
            tx.send_if_modified(|held| {
                let changed = *held != holding;
                if changed {
                    tracing::info!(identity = %config.identity, holding, "leadership changed");
                }
                *held = holding;
                changed
            });
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(step).await;
        }
    });
    rx
}

/// One round: takes, renews or leaves the Lease; whether this replica holds it now.
async fn try_hold(api: &Api<Lease>, c: &LeaseConfig, seen: &mut Option<Seen>) -> Result<bool, kube::Error> {
    let seconds = i32::try_from(c.duration.as_secs()).unwrap_or(i32::MAX).max(1);
    let Some(mut lease) = api.get_opt(&c.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(c.name.clone()),
                namespace: Some(c.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(c.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return conflict_is_no(api.create(&PostParams::default(), &lease).await);
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
    if holder.as_deref() != Some(c.identity.as_str()) {
        // Someone else's: theirs until it goes unrenewed for a whole duration on our clock.
        let changed = seen.as_ref().is_none_or(|s| s.holder != holder || s.renew != spec.renew_time);
        if changed {
            *seen = Some(Seen { holder: holder.clone(), renew: spec.renew_time.clone(), at: Instant::now() });
        }
        let duration = Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(seconds)).unwrap_or(1));
        let expired = seen.as_ref().is_some_and(|s| s.at.elapsed() >= duration);
        if holder.is_some() && !expired {
            return Ok(false);
        }
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        spec.holder_identity = Some(c.identity.clone());
    }
    spec.renew_time = Some(now());
    spec.lease_duration_seconds = Some(seconds);
    // The replace carries the resourceVersion read: a concurrent taker makes it fail (409).
    conflict_is_no(api.replace(&c.name, &PostParams::default(), &lease).await)
}

/// A write that lost a race (409) means another replica holds the Lease.
fn conflict_is_no(r: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match r {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
