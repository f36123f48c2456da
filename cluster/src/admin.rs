//! The administration endpoint every slotcache process serves over HTTP: Prometheus `/metrics`,
//! `/healthz` (the process answers) and `/readyz` (it can do its job now). Metrics are read
//! from the process's own counters when scraped, so collecting them costs the request path
//! nothing beyond the counters it keeps anyway.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{Encoder, TextEncoder};
use slotcache_protocol::command::stats::{bucket_bound_usec, CommandStats, Durations};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tracing::warn;

/// What a process tells its admin endpoint.
pub trait Admin: Send + Sync + 'static {
    /// Adds the process's metrics, as they are now.
    fn metrics(&self, out: &mut Metrics);
    /// Whether the process can serve its clients now, or why not.
    fn readiness(&self) -> Result<(), String>;
}

/// Serves `/metrics`, `/healthz`, `/readyz` and the routes of `extra` on `listener` until
/// the process ends.
pub async fn serve(listener: TcpListener, admin: Arc<dyn Admin>, extra: Router) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(admin)
        .merge(extra);
    if let Err(err) = axum::serve(listener, app).await {
        warn!(%err, "the admin endpoint stopped");
    }
}

/// Binds the admin endpoint on `host` and `port` (0 takes a free one) and serves it in the
/// background; the port bound.
pub async fn start(host: &str, port: u16, admin: Arc<dyn Admin>) -> std::io::Result<u16> {
    start_with(host, port, admin, Router::new()).await
}

/// [`start`], serving the routes of `extra` too.
pub async fn start_with(
    host: &str,
    port: u16,
    admin: Arc<dyn Admin>,
    extra: Router,
) -> std::io::Result<u16> {
    let listener = TcpListener::bind((host, port)).await?;
    let bound = listener.local_addr()?.port();
    tokio::spawn(serve(listener, admin, extra));
    Ok(bound)
}

/// A counter's value, as a sample.
pub fn value(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

async fn metrics(State(admin): State<Arc<dyn Admin>>) -> Response {
    // Off the runtime's threads: gathering may wait briefly for locks the request path holds.
    let rendered = tokio::task::spawn_blocking(move || {
        let mut metrics = Metrics::default();
        admin.metrics(&mut metrics);
        metrics.render()
    })
    .await;
    match rendered
        .map_err(|err| err.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                TextEncoder::new().format_type().to_string(),
            )],
            text,
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
    }
}

async fn readyz(State(admin): State<Arc<dyn Admin>>) -> Response {
    match admin.readiness() {
        Ok(()) => "ready\n".into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

/// Metric families gathered for one scrape.
#[derive(Default)]
pub struct Metrics {
    families: Vec<MetricFamily>,
}

impl Metrics {
    pub fn counter(&mut self, name: &str, help: &str) -> Family<'_> {
        self.family(name, help, MetricType::COUNTER)
    }

    pub fn gauge(&mut self, name: &str, help: &str) -> Family<'_> {
        self.family(name, help, MetricType::GAUGE)
    }

    pub fn histogram(&mut self, name: &str, help: &str) -> Family<'_> {
        self.family(name, help, MetricType::HISTOGRAM)
    }

    /// The family called `name`, created on first use: samples of one family may be added in
    /// several passes (a partition's, then the next one's).
    fn family(&mut self, name: &str, help: &str, kind: MetricType) -> Family<'_> {
        let at = match self.families.iter().position(|f| f.name() == name) {
            Some(at) => at,
            None => {
                let mut family = MetricFamily::default();
                family.set_name(name.to_string());
                family.set_help(help.to_string());
                family.set_field_type(kind);
                self.families.push(family);
                self.families.len() - 1
            }
        };
        Family(&mut self.families[at])
    }

    /// What every Redis endpoint reports, a server's or a proxy's: that it is up, since when,
    /// and its clients.
    pub fn endpoint(&mut self, started: Instant, clients: usize, connections_received: f64) {
        self.gauge("redis_up", "1 while the endpoint answers.")
            .sample(&[], 1.0);
        self.gauge(
            "redis_uptime_in_seconds",
            "Seconds since the process started.",
        )
        .sample(&[], started.elapsed().as_secs() as f64);
        self.gauge("redis_connected_clients", "Client connections open.")
            .sample(&[], clients as f64);
        self.counter(
            "redis_connections_received_total",
            "Client connections accepted.",
        )
        .sample(&[], connections_received);
    }

    /// The per-command families of redis_exporter (`redis_commands_total`, the failed and
    /// rejected calls, the time spent and its histogram), from counters indexed like `names`.
    pub fn commands<'a>(
        &mut self,
        names: impl Iterator<Item = &'a str>,
        stats: &[CommandStats],
        labels: &[(&str, &str)],
    ) {
        for (name, stats) in names.zip(stats) {
            let calls = stats.durations.calls.load(Ordering::Relaxed);
            if calls == 0 {
                continue;
            }
            let usec = stats.durations.usec.load(Ordering::Relaxed);
            let mut with_cmd = labels.to_vec();
            with_cmd.push(("cmd", name));
            self.counter("redis_commands_total", "Calls, by command.")
                .sample(&with_cmd, calls as f64);
            self.counter(
                "redis_commands_failed_calls_total",
                "Calls that answered an error, by command.",
            )
            .sample(&with_cmd, stats.failed.load(Ordering::Relaxed) as f64);
            self.counter(
                "redis_commands_rejected_calls_total",
                "Calls refused before they ran (arity, OOM, ...), by command.",
            )
            .sample(&with_cmd, stats.rejected.load(Ordering::Relaxed) as f64);
            self.counter(
                "redis_commands_duration_seconds_total",
                "Time spent running, by command.",
            )
            .sample(&with_cmd, usec as f64 / 1e6);
            self.histogram(
                "redis_commands_duration_seconds",
                "Latency of calls, by command.",
            )
            .durations(&with_cmd, &stats.durations);
        }
    }

    /// The text exposition format, families with no sample left out.
    pub fn render(mut self) -> prometheus::Result<String> {
        self.families.retain(|f| !f.get_metric().is_empty());
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.families, &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// One metric family being filled.
pub struct Family<'a>(&'a mut MetricFamily);

impl Family<'_> {
    /// A counter's or a gauge's value under `labels`.
    pub fn sample(self, labels: &[(&str, &str)], value: f64) -> Self {
        let mut metric = Metric::from_label(label_pairs(labels));
        if self.0.get_field_type() == MetricType::COUNTER {
            let mut counter = Counter::default();
            counter.set_value(value);
            metric.set_counter(counter);
        } else {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            metric.set_gauge(gauge);
        }
        self.0.mut_metric().push(metric);
        self
    }

    /// The histogram of `durations`, in seconds, under `labels`.
    pub fn durations(self, labels: &[(&str, &str)], durations: &Durations) -> Self {
        let buckets: Vec<(f64, u64)> = durations
            .histogram
            .iter()
            .enumerate()
            .map(|(b, count)| (bucket_bound_usec(b) / 1e6, count.load(Ordering::Relaxed)))
            .collect();
        let usec = durations.usec.load(Ordering::Relaxed);
        self.distribution(labels, &buckets, usec as f64 / 1e6)
    }

    /// A histogram under `labels`: `(upper bound, count)` per bucket, the counts not
    /// cumulative, and the sum of the observed values.
    pub fn distribution(self, labels: &[(&str, &str)], buckets: &[(f64, u64)], sum: f64) -> Self {
        let mut histogram = Histogram::default();
        let mut cumulative = 0;
        let mut bounds = Vec::with_capacity(buckets.len());
        for &(bound, count) in buckets {
            cumulative += count;
            if bound.is_finite() {
                let mut bucket = Bucket::default();
                bucket.set_upper_bound(bound);
                bucket.set_cumulative_count(cumulative);
                bounds.push(bucket);
            }
        }
        histogram.set_bucket(bounds);
        histogram.set_sample_count(cumulative);
        histogram.set_sample_sum(sum);
        let mut metric = Metric::from_label(label_pairs(labels));
        metric.set_histogram(histogram);
        self.0.mut_metric().push(metric);
        self
    }
}

fn label_pairs(labels: &[(&str, &str)]) -> Vec<LabelPair> {
    labels
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name(name.to_string());
            pair.set_value(value.to_string());
            pair
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_gather_samples_and_render_histograms_cumulatively() {
        let mut metrics = Metrics::default();
        metrics.counter("x_total", "X.").sample(&[("p", "1")], 2.0);
        metrics.counter("x_total", "X.").sample(&[("p", "2")], 3.0);
        metrics.gauge("empty", "Never sampled.");
        metrics.histogram("lat_seconds", "L.").distribution(
            &[],
            &[(0.001, 2), (0.002, 0), (f64::INFINITY, 1)],
            0.5,
        );
        let text = metrics.render().unwrap();
        assert!(
            text.contains("x_total{p=\"1\"} 2\nx_total{p=\"2\"} 3\n"),
            "{text}"
        );
        assert!(!text.contains("empty"), "{text}");
        assert!(
            text.contains("lat_seconds_bucket{le=\"0.002\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("lat_seconds_count 3\n"), "{text}");
    }
}
