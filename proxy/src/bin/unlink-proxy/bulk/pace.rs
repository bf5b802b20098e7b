//! How fast a run calls Mono: close to Mono's own limit, without hammering it. An adaptive
//! rate (AIMD, as TCP does):
//! - before Mono has ever said no, the rate doubles every second from where it started;
//! - a 429 halves it (once a second at most: the calls already on their way were sent at
//!   the old rate) and remembers where Mono said no;
//! - from there it climbs back to nine tenths of that within about a second, then creeps up
//!   by a tenth a second until Mono says no again;
//! - but if more than a quarter of the calls since the last cut were refused, Mono's limit
//!   has fallen (a quota, an outage): the halved rate becomes the mark, and it only creeps.
//!
//! Each call takes the next slot of the current rate, so calls are spread evenly, never sent
//! in a burst. Pure: every method takes the time, so the tests need no clock.

use std::time::Duration;

use tokio::time::Instant;

/// The pace of a run.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Calls a second now.
    rate: f64,
    max: f64,
    /// The rate Mono last said no at (or, after a storm, the halved rate).
    ceiling: Option<f64>,
    last_cut: Option<Instant>,
    last_change: Instant,
    next_slot: Instant,
    /// Answers since the last cut, and how many were 429.
    answered: u32,
    refused: u32,
}

/// The slowest a run goes, however often Mono says no.
const MIN_RATE: f64 = 1.0;
/// A 429 within this of the last cut is the same congestion, not a new one.
const COOLDOWN: Duration = Duration::from_secs(1);

impl Pacer {
    /// Starts at `rate` calls a second, never above `max`.
    pub(crate) fn new(rate: f64, max: f64, now: Instant) -> Self {
        Self {
            rate: rate.clamp(MIN_RATE, max),
            max,
            ceiling: None,
            last_cut: None,
            last_change: now,
            next_slot: now,
            answered: 0,
            refused: 0,
        }
    }

    /// Calls a second now.
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    /// When the next call may start: the next free slot at the current rate.
    pub(crate) fn next(&mut self, now: Instant) -> Instant {
        self.grow(now);
        let slot = self.next_slot.max(now);
        self.next_slot = slot + Duration::from_secs_f64(1.0 / self.rate);
        slot
    }

    /// Mono answered a call: `rate_limited` if with a 429.
    pub(crate) fn answered(&mut self, now: Instant, rate_limited: bool) {
        self.answered += 1;
        if !rate_limited {
            return;
        }
        self.refused += 1;
        if self
            .last_cut
            .is_some_and(|at| now.duration_since(at) < COOLDOWN)
        {
            return;
        }
        self.grow(now);
        let before = self.rate;
        let storm = self.last_cut.is_some() && self.refused * 4 > self.answered;
        self.rate = (before / 2.0).max(MIN_RATE);
        self.ceiling = Some(if storm { self.rate } else { before });
        self.last_cut = Some(now);
        self.last_change = now;
        (self.answered, self.refused) = (0, 0);
        // Slots already handed out at the old rate are not taken back; new ones are spaced
        // at the new rate from now.
        self.next_slot = self
            .next_slot
            .min(now + Duration::from_secs_f64(1.0 / self.rate));
    }

    /// The time since the last change, spent climbing.
    fn grow(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.last_change)
            .as_secs_f64();
        if elapsed <= 0.0 {
            return;
        }
        self.last_change = now;
        self.rate = match self.ceiling {
            None => self.rate * (1.0 + 0.7 * elapsed),
            Some(ceiling) if self.rate < 0.9 * ceiling => {
                let target = 0.9 * ceiling;
                let closer = self.rate + (target - self.rate) * (elapsed / 0.25).min(1.0);
                // Close enough is there: from there on it creeps (an approach alone would
                // never arrive, and never find a limit that moved up).
                if target - closer < 0.01 * target {
                    target
                } else {
                    closer
                }
            }
            Some(_) => self.rate * (1.0 + 0.1 * elapsed),
        }
        .clamp(MIN_RATE, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a pacer for `seconds` against a token bucket that refills `limit` calls a second
    /// and holds `burst`: a call without a token is refused (429). Returns the calls that got
    /// through and those refused.
    fn simulate(limit: f64, burst: f64, seconds: u64) -> (u64, u64) {
        let start = Instant::now();
        let mut pacer = Pacer::new(20.0, 10_000.0, start);
        let (mut through, mut refused) = (0, 0);
        let (mut tokens, mut clock) = (burst, start);
        loop {
            let at = pacer.next(clock);
            if at.duration_since(start) >= Duration::from_secs(seconds) {
                return (through, refused);
            }
            tokens = (tokens + at.duration_since(clock).as_secs_f64() * limit).min(burst);
            clock = at;
            let allowed = tokens >= 1.0;
            if allowed {
                tokens -= 1.0;
                through += 1;
            } else {
                refused += 1;
            }
            pacer.answered(at, !allowed);
        }
    }

    #[test]
    fn it_keeps_close_to_monos_limit_without_hammering_it() {
        // The fake's bucket (a fifth of a second's burst), and a strict one (no burst).
        for burst in [40.0, 1.0] {
            let (through, refused) = simulate(200.0, burst, 120);
            let rate = through as f64 / 120.0;
            assert!(rate >= 0.85 * 200.0, "burst {burst}: {rate:.0} a second");
            assert!(rate <= 200.0 * 1.01, "burst {burst}: {rate:.0} a second");
            let share = refused as f64 / (through + refused) as f64;
            assert!(
                share < 0.05,
                "burst {burst}: {:.1} % refused",
                share * 100.0
            );
        }
    }

    #[test]
    fn when_mono_refuses_everything_it_backs_off_fast_to_the_minimum() {
        let start = Instant::now();
        let mut pacer = Pacer::new(200.0, 1000.0, start);
        let mut clock = start;
        for _ in 0..2000 {
            clock = pacer.next(clock);
            pacer.answered(clock, true);
            if clock.duration_since(start) > Duration::from_secs(15) {
                break;
            }
        }
        assert_eq!(pacer.rate(), MIN_RATE, "after {:?}", clock - start);
    }

    #[test]
    fn after_a_cut_it_climbs_back_then_keeps_looking_for_the_limit() {
        let start = Instant::now();
        let mut pacer = Pacer::new(200.0, 10_000.0, start);
        pacer.answered(start, true);
        assert_eq!(pacer.rate(), 100.0);
        let mut clock = start;
        while clock.duration_since(start) < Duration::from_secs(1) {
            clock = pacer.next(clock);
        }
        assert!((179.0..=200.0).contains(&pacer.rate()), "{}", pacer.rate());
        while clock.duration_since(start) < Duration::from_secs(5) {
            clock = pacer.next(clock);
        }
        assert!(pacer.rate() > 210.0, "still creeping up: {}", pacer.rate());
    }

    #[test]
    fn a_burst_of_429s_is_one_cut() {
        let now = Instant::now();
        let mut pacer = Pacer::new(100.0, 1000.0, now);
        for ms in 0..100 {
            pacer.answered(now + Duration::from_millis(ms), true);
        }
        assert_eq!(pacer.rate(), 50.0, "one cut for one congestion");
    }

    #[test]
    fn it_never_goes_above_its_maximum_and_spreads_calls_evenly() {
        let now = Instant::now();
        let mut pacer = Pacer::new(10.0, 40.0, now);
        let later = now + Duration::from_secs(60);
        let first = pacer.next(later);
        let second = pacer.next(later);
        assert_eq!(pacer.rate(), 40.0);
        assert_eq!(second - first, Duration::from_millis(25));
    }
}
