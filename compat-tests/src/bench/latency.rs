//! Latency histograms (microseconds) and their summaries.
//!
//! Two sources: our own per-message measurements recorded exactly in an HDR histogram, and librdkafka's
//! statistics. librdkafka reports each broker's request round-trip time (`brokers.*.rtt`) as a *window*:
//! min, max, count and the percentiles p50, p75, p90, p95, p99, p99.99 of the requests since the previous
//! statistics event, after which it starts a new window. Percentiles of separate windows cannot be averaged,
//! so [`WindowMerge`] rebuilds each window's distribution from its quantiles (linear between them: `cnt`
//! synthetic values) and records them into one histogram. The merged p50/p99 are close to exact because the
//! windows report those quantiles directly; p99.9 is interpolated between a window's p99 and p99.99.

use hdrhistogram::Histogram;
use rdkafka::statistics::Window;
use serde::Serialize;

/// Highest latency a histogram tracks: one hour, in microseconds; larger values are clamped.
const MAX_MICROS: u64 = 3_600_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// A latency summary, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    /// How many values (requests or messages) it summarises.
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Option<Summary> {
        if h.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(Summary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }
}

/// Merges librdkafka statistics windows into one histogram (see the module comment).
pub struct WindowMerge {
    hist: Histogram<u64>,
    pub windows: u64,
    /// Values librdkafka left out of its histogram as out of range (above its 500 ms ceiling for rtt).
    pub out_of_range: i64,
}

impl Default for WindowMerge {
    fn default() -> Self {
        WindowMerge {
            hist: histogram(),
            windows: 0,
            out_of_range: 0,
        }
    }
}

impl WindowMerge {
    pub fn add(&mut self, w: &Window) {
        if w.cnt <= 0 {
            return;
        }
        self.windows += 1;
        self.out_of_range += w.outofrange;
        let knots = [
            (0.0, w.min),
            (0.50, w.p50),
            (0.75, w.p75),
            (0.90, w.p90),
            (0.95, w.p95),
            (0.99, w.p99),
            (0.9999, w.p99_99),
            (1.0, w.max),
        ];
        // Quantiles evenly spaced from 0 to 1, so the window's min and max are among the values.
        let n = w.cnt as u64;
        for i in 0..n {
            let q = if n == 1 {
                0.5
            } else {
                i as f64 / (n - 1) as f64
            };
            let value = interpolate(&knots, q);
            self.hist.saturating_record(value.max(1.0).round() as u64);
        }
    }

    pub fn summary(&self) -> Option<Summary> {
        Summary::of(&self.hist)
    }
}

/// Piecewise-linear quantile function through `knots` (quantile, value), evaluated at `q`.
fn interpolate(knots: &[(f64, i64)], q: f64) -> f64 {
    for pair in knots.windows(2) {
        let ((q0, v0), (q1, v1)) = (pair[0], pair[1]);
        if q <= q1 {
            let t = if q1 > q0 { (q - q0) / (q1 - q0) } else { 1.0 };
            return v0 as f64 + t * (v1 - v0) as f64;
        }
    }
    knots.last().map_or(0.0, |k| k.1 as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(cnt: i64, min: i64, p: [i64; 6], max: i64) -> Window {
        Window {
            min,
            max,
            cnt,
            p50: p[0],
            p75: p[1],
            p90: p[2],
            p95: p[3],
            p99: p[4],
            p99_99: p[5],
            ..Window::default()
        }
    }

    #[test]
    fn merged_windows_keep_their_quantiles() {
        let mut merge = WindowMerge::default();
        // Two equal windows: the merge must report their own p50 and p99.
        for _ in 0..2 {
            merge.add(&window(10_000, 100, [500, 600, 700, 800, 1000, 2000], 3000));
        }
        let s = merge.summary().expect("values");
        assert_eq!(s.count, 20_000);
        assert!((s.p50_ms - 0.5).abs() < 0.01, "{s:?}");
        assert!((s.p99_ms - 1.0).abs() < 0.01, "{s:?}");
        assert!(s.p999_ms > 1.0 && s.p999_ms < 2.0, "{s:?}");
        assert!((s.max_ms - 3.0).abs() < 0.01, "{s:?}");
    }

    #[test]
    fn an_empty_window_adds_nothing() {
        let mut merge = WindowMerge::default();
        merge.add(&window(0, 0, [0; 6], 0));
        assert!(merge.summary().is_none());
        assert_eq!(merge.windows, 0);
    }
}
