//! The request series of every (route, backend) pair: codes and a duration histogram in plain
//! atomics, so that recording a request takes no lock and no lookup (the series is found once
//! per snapshot object and cached there). Encoded at scrape time as OpenMetrics families.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

/// Upper bounds of the request duration histogram, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Status codes counted without a lock; any other code goes to a small locked map.
const COMMON_CODES: [u16; 24] = [
    200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 408, 413, 421, 429, 500, 502, 503,
    504,
];

/// The series by (route, backend).
type SeriesMap = BTreeMap<(Arc<str>, Arc<str>), Arc<Series>>;

/// The listeners' series by (gateway, listener).
type ListenerMap = BTreeMap<(Arc<str>, String), Arc<ListenerSeries>>;

/// The counters of one (route, backend) pair.
#[derive(Debug)]
pub struct Series {
    route: Arc<str>,
    backend: Arc<str>,
    codes: [AtomicU64; COMMON_CODES.len()],
    other_codes: Mutex<BTreeMap<u16, u64>>,
    /// Time from the request to the response head.
    duration: Histogram,
    /// Time from sending to the backend to its response head, per attempt.
    upstream: Histogram,
}

/// A duration histogram in atomics.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn record(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Adds this histogram into `into` (buckets, count, sum in µs).
    fn add_to(&self, into: &mut ([u64; BUCKETS.len()], u64, u64)) {
        for (i, b) in self.buckets.iter().enumerate() {
            into.0[i] += b.load(Ordering::Relaxed);
        }
        into.1 += self.count.load(Ordering::Relaxed);
        into.2 += self.sum_micros.load(Ordering::Relaxed);
    }
}

impl Series {
    fn new(route: Arc<str>, backend: Arc<str>) -> Self {
        Self {
            route,
            backend,
            codes: Default::default(),
            other_codes: Mutex::default(),
            duration: Histogram::default(),
            upstream: Histogram::default(),
        }
    }

    /// One attempt's wait for the backend's response head.
    pub fn record_upstream(&self, elapsed: Duration) {
        self.upstream.record(elapsed);
    }

    pub fn record(&self, code: u16, elapsed: Duration) {
        match COMMON_CODES.iter().position(|c| *c == code) {
            Some(i) => {
                self.codes[i].fetch_add(1, Ordering::Relaxed);
            }
            None => *self.other_codes.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1,
        }
        self.duration.record(elapsed);
    }

    /// Every code seen, with its count.
    fn codes(&self) -> BTreeMap<u16, u64> {
        let mut codes = self.other_codes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (i, c) in COMMON_CODES.iter().enumerate() {
            let n = self.codes[i].load(Ordering::Relaxed);
            if n > 0 {
                codes.insert(*c, n);
            }
        }
        codes
    }
}

/// A listener's requests by status class (1xx to 5xx).
#[derive(Debug)]
pub struct ListenerSeries {
    gateway: Arc<str>,
    listener: String,
    classes: [AtomicU64; 5],
}

impl ListenerSeries {
    pub fn record(&self, code: u16) {
        if let Some(c) = usize::from(code / 100).checked_sub(1).and_then(|i| self.classes.get(i)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Every request series, encoded on each scrape.
#[derive(Debug, Default)]
pub struct Requests {
    series: Mutex<SeriesMap>,
    listeners: Mutex<ListenerMap>,
}

impl Requests {
    pub fn listener(&self, gateway: &Arc<str>, listener: &str) -> Arc<ListenerSeries> {
        let mut map = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((gateway.clone(), listener.to_string()))
            .or_insert_with(|| {
                Arc::new(ListenerSeries {
                    gateway: gateway.clone(),
                    listener: listener.to_string(),
                    classes: Default::default(),
                })
            })
            .clone()
    }

    pub fn series(&self, route: &Arc<str>, backend: &Arc<str>) -> Arc<Series> {
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        map.entry((route.clone(), backend.clone()))
            .or_insert_with(|| Arc::new(Series::new(route.clone(), backend.clone())))
            .clone()
    }

    fn all(&self) -> Vec<Arc<Series>> {
        self.series.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }
}

impl Collector for Requests {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let series = self.all();
        let mut family = encoder.encode_descriptor(
            "sluice_requests",
            "Requests served, by route, backend and status code.",
            None,
            MetricType::Counter,
        )?;
        for s in &series {
            for (code, n) in s.codes() {
                let code = code.to_string();
                let labels = [("route", &*s.route), ("backend", &*s.backend), ("code", code.as_str())];
                family.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        let listeners: Vec<Arc<ListenerSeries>> =
            self.listeners.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        let mut family = encoder.encode_descriptor(
            "sluice_listener_requests",
            "Requests answered, by Gateway, listener and status class.",
            None,
            MetricType::Counter,
        )?;
        for l in &listeners {
            for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
                let n = l.classes[i].load(Ordering::Relaxed);
                if n > 0 {
                    let labels = [("gateway", &*l.gateway), ("listener", l.listener.as_str()), ("class", class)];
                    family.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&n, None)?;
                }
            }
        }
        // Durations by route: the backends of one route add up.
        let mut by_route: BTreeMap<&str, ([u64; BUCKETS.len()], u64, u64)> = BTreeMap::new();
        for s in &series {
            s.duration.add_to(by_route.entry(&s.route).or_default());
        }
        encode_histograms(
            &mut encoder,
            ("sluice_request_duration", "Time from request to response headers, by route.", "route"),
            by_route,
        )?;
        // Backend waits by backend: the routes sending to one backend add up.
        let mut by_backend: BTreeMap<&str, ([u64; BUCKETS.len()], u64, u64)> = BTreeMap::new();
        for s in series.iter().filter(|s| &*s.backend != "-") {
            s.upstream.add_to(by_backend.entry(&s.backend).or_default());
        }
        encode_histograms(
            &mut encoder,
            (
                "sluice_upstream_response_duration",
                "Time from sending a request to a backend to its response head, per attempt, by backend.",
                "backend",
            ),
            by_backend,
        )?;
        Ok(())
    }
}

/// Histograms by one label, from per-bucket counts.
fn encode_histograms(
    encoder: &mut DescriptorEncoder<'_>,
    (name, help, label): (&str, &str, &str),
    by: BTreeMap<&str, ([u64; BUCKETS.len()], u64, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for (value, (buckets, count, sum_micros)) in by {
        // Per-bucket counts; what is slower than the last bound is in +Inf only.
        let mut bounds: Vec<(f64, u64)> = BUCKETS.iter().copied().zip(buckets).collect();
        bounds.push((f64::INFINITY, count.saturating_sub(buckets.iter().sum())));
        family.encode_family(&[(label, value)])?.encode_histogram::<NoLabelSet>(
            sum_micros as f64 / 1e6,
            count,
            &bounds,
            None,
        )?;
    }
    Ok(())
}
