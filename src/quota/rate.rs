//! A rate over sliding samples, as Kafka's `Rate` over a `WindowedSum` measures one: values are
//! summed into `samples` windows of `window_ms` (a window also ends when time moves past it), and
//! the rate is the sum of the windows still in range over the time they span, which is stretched
//! to at least `samples - 1` whole windows so a client's first burst is not measured over a few
//! milliseconds. Kafka keeps one extra window for the sample that overlaps the oldest edge.

/// Kafka's `quota.window.num` and `quota.window.size.seconds` defaults.
pub const SAMPLES: usize = 11;
pub const WINDOW_MS: u64 = 1000;

#[derive(Debug, Clone, Copy)]
struct Sample {
    value: f64,
    start_ms: u64,
    last_event_ms: u64,
}

impl Sample {
    fn new(now: u64) -> Sample {
        Sample {
            value: 0.0,
            start_ms: now,
            last_event_ms: now,
        }
    }
}

/// A windowed rate in units per second. Times are milliseconds on any monotonic clock.
#[derive(Debug, Clone)]
pub struct Rate {
    samples: Vec<Sample>,
    current: usize,
}

impl Rate {
    pub fn new(now: u64) -> Rate {
        let mut samples = Vec::with_capacity(SAMPLES + 1);
        samples.push(Sample::new(now));
        Rate {
            samples,
            current: 0,
        }
    }

    /// Adds `value` at `now` (negative to take back what was recorded, as Kafka's unrecord).
    pub fn record(&mut self, value: f64, now: u64) {
        if now.saturating_sub(self.samples[self.current].start_ms) >= WINDOW_MS {
            self.current = (self.current + 1) % (SAMPLES + 1);
            if self.current >= self.samples.len() {
                self.samples.push(Sample::new(now));
            } else {
                self.samples[self.current] = Sample::new(now);
            }
        }
        let sample = &mut self.samples[self.current];
        sample.value += value;
        sample.last_event_ms = now;
    }

    /// Samples with no event within the whole window are reset: their values no longer count.
    fn purge(&mut self, now: u64) {
        let expire = SAMPLES as u64 * WINDOW_MS;
        for s in &mut self.samples {
            if now.saturating_sub(s.last_event_ms) >= expire {
                *s = Sample::new(now);
            }
        }
    }

    /// The time the rate is measured over, in milliseconds (Kafka's `Rate.windowSize`).
    pub fn window_ms(&mut self, now: u64) -> u64 {
        self.purge(now);
        let oldest = self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now);
        let mut elapsed = now.saturating_sub(oldest);
        let full = elapsed / WINDOW_MS;
        let min_full = SAMPLES as u64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * WINDOW_MS;
        }
        elapsed.max(1)
    }

    /// Units per second over [`window_ms`](Self::window_ms).
    pub fn measure(&mut self, now: u64) -> f64 {
        self.purge(now);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (self.window_ms(now) as f64 / 1000.0)
    }
}

/// How long a client over `bound` must wait for its rate to come back to it, if nothing more is
/// recorded (Kafka's `QuotaUtils.throttleTime`): with the rate O measured over W, a delay X with
/// O * W / (W + X) = bound, so X = (O - bound) / bound * W. Zero when within the bound.
pub fn throttle_ms(rate: &mut Rate, bound: f64, now: u64) -> u64 {
    let observed = rate.measure(now);
    if observed <= bound {
        return 0;
    }
    let window = rate.window_ms(now) as f64;
    ((observed - bound) / bound * window).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_burst_is_measured_over_the_minimum_window() {
        let mut r = Rate::new(0);
        r.record(1000.0, 0);
        // 10 whole windows at least: 1000 units over 10 s.
        assert_eq!(r.window_ms(0), 10_000);
        assert!((r.measure(0) - 100.0).abs() < 1e-9);
        // Missing whole windows are added to the time elapsed: 5.5 s + 5 windows.
        assert!((r.measure(5_500) - 1000.0 / 10.5).abs() < 1e-9);
        // Past 10 full windows, the actual span counts.
        assert_eq!(r.window_ms(10_500), 10_500);
    }

    #[test]
    fn old_samples_stop_counting() {
        let mut r = Rate::new(0);
        r.record(500.0, 0);
        for t in 1..=10 {
            r.record(0.0, t * 1000);
        }
        r.record(100.0, 11_500);
        // The first sample has been overwritten (12 slots round), or reset as idle.
        let measured = r.measure(30_000);
        assert_eq!(measured, 0.0, "nothing recorded within the last 11 s");
        let mut r = Rate::new(0);
        r.record(500.0, 0);
        r.record(100.0, 11_000);
        // The sample at 0 had no event in the last 11 s: reset.
        assert!((r.measure(11_000) - 100.0 / 10.0).abs() < 1e-9);
    }

    #[test]
    fn throttle_time_is_kafkas() {
        let mut r = Rate::new(0);
        r.record(2000.0, 0);
        // 2000 over 10 s = 200/s against 100/s: (200 - 100) / 100 * 10 s.
        assert_eq!(throttle_ms(&mut r, 100.0, 0), 10_000);
        assert_eq!(throttle_ms(&mut r, 200.0, 0), 0);
        assert_eq!(throttle_ms(&mut r, 150.0, 0), 3333);
        r.record(-2000.0, 0);
        assert_eq!(
            throttle_ms(&mut r, 100.0, 0),
            0,
            "an unrecorded value no longer counts"
        );
    }
}
