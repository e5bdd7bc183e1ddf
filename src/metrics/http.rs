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

/// The counters of one (route, backend) pair.
#[derive(Debug)]
pub struct Series {
    route: Arc<str>,
    backend: Arc<str>,
    codes: [AtomicU64; COMMON_CODES.len()],
    other_codes: Mutex<BTreeMap<u16, u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Series {
    fn new(route: Arc<str>, backend: Arc<str>) -> Self {
        Self {
            route,
            backend,
            codes: Default::default(),
            other_codes: Mutex::default(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn record(&self, code: u16, elapsed: Duration) {
        match COMMON_CODES.iter().position(|c| *c == code) {
            Some(i) => {
                self.codes[i].fetch_add(1, Ordering::Relaxed);
            }
            None => *self.other_codes.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1,
        }
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
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

/// Every request series, encoded on each scrape.
#[derive(Debug, Default)]
pub struct Requests {
    series: Mutex<SeriesMap>,
}

impl Requests {
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
        // Durations by route: the backends of one route add up.
        let mut by_route: BTreeMap<&str, ([u64; BUCKETS.len()], u64, u64)> = BTreeMap::new();
        for s in &series {
            let e = by_route.entry(&s.route).or_default();
            for (i, b) in s.buckets.iter().enumerate() {
                e.0[i] += b.load(Ordering::Relaxed);
            }
            e.1 += s.count.load(Ordering::Relaxed);
            e.2 += s.sum_micros.load(Ordering::Relaxed);
        }
        let mut family = encoder.encode_descriptor(
            "sluice_request_duration",
            "Time from request to response headers, by route.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (route, (buckets, count, sum_micros)) in by_route {
            // Per-bucket counts; requests slower than the last bound are in +Inf only.
            let mut bounds: Vec<(f64, u64)> = BUCKETS.iter().copied().zip(buckets).collect();
            bounds.push((f64::INFINITY, count.saturating_sub(buckets.iter().sum())));
            family.encode_family(&[("route", route)])?.encode_histogram::<NoLabelSet>(
                sum_micros as f64 / 1e6,
                count,
                &bounds,
                None,
            )?;
        }
        Ok(())
    }
}
