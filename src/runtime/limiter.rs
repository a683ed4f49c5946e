//! In-memory rate limits (per node) on `governor`'s keyed GCRA limiter, driven by the injectable
//! clock so tests move time instead of sleeping. Limits that must hold across nodes are counted
//! in the database instead. A refusal is the only error, and it refuses (fail closed).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::Quota;

use super::clock::SharedClock;

/// Our clock as governor's time source (nanoseconds since the Unix epoch).
#[derive(Clone)]
struct LimiterClock(SharedClock);

impl GovernorClock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let ms = u64::try_from(self.0.now_ms()).unwrap_or(0);
        Nanos::from(ms.saturating_mul(1_000_000))
    }
}

type Keyed =
    governor::RateLimiter<String, DashMapStateStore<String>, LimiterClock, NoOpMiddleware<Nanos>>;

/// The limits this node enforces. Each allows `burst` hits at once, refilled evenly over `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Forgot-password requests per client IP: 10 per 15 minutes.
    ResetRequestPerIp,
    /// The same while an incident throttles forgot-password harder: 3 per hour, on top.
    ResetRequestPerIpStrict,
    /// Password re-confirmations (step-up) per session: 5 per 15 minutes, so a stolen cookie
    /// cannot use up its owner's tries.
    StepUpPerSession,
    /// The ceiling over all of a user's sessions: 20 per hour.
    StepUpPerUser,
    /// Sign-in attempts per client IP: 50 at once, then one every 6 seconds (a spray across
    /// accounts; each account has its own progressive delay in the database).
    SignInPerIp,
    /// Sign-ups per client IP: 60 per hour.
    SignUpPerIp,
    /// Reset-link and reset-code submissions (forgot password, new password from a link, the
    /// reset task's code) per client IP: 30 per 15 minutes.
    ResetPerIp,
    /// Step-up passwords per client IP: 30 per 15 minutes.
    StepUpPerIp,
}

const FIFTEEN_MINUTES: Duration = Duration::from_secs(15 * 60);

impl Limit {
    const ALL: [Limit; 8] = [
        Limit::ResetRequestPerIp,
        Limit::ResetRequestPerIpStrict,
        Limit::StepUpPerSession,
        Limit::StepUpPerUser,
        Limit::SignInPerIp,
        Limit::SignUpPerIp,
        Limit::ResetPerIp,
        Limit::StepUpPerIp,
    ];

    fn burst_and_window(self) -> (u32, Duration) {
        match self {
            Limit::ResetRequestPerIp => (10, FIFTEEN_MINUTES),
            Limit::ResetRequestPerIpStrict => (3, Duration::from_secs(60 * 60)),
            Limit::StepUpPerSession => (5, FIFTEEN_MINUTES),
            Limit::StepUpPerUser => (20, Duration::from_secs(60 * 60)),
            Limit::SignInPerIp => (50, Duration::from_secs(5 * 60)),
            Limit::SignUpPerIp => (60, Duration::from_secs(60 * 60)),
            Limit::ResetPerIp | Limit::StepUpPerIp => (30, FIFTEEN_MINUTES),
        }
    }

    fn quota(self) -> Quota {
        let (burst, window) = self.burst_and_window();
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let period = window / burst.get();
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_hour(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

fn limiter_now(limiter: &Keyed) -> Nanos {
    limiter.clock().now()
}

/// The management API's per-key token bucket; each check reports what is left.
type PerApiKey = governor::RateLimiter<
    i64,
    DashMapStateStore<i64>,
    LimiterClock,
    governor::middleware::StateInformationMiddleware,
>;

/// What an API key's bucket says about one call (the `RateLimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiQuota {
    /// The bucket's size.
    pub limit: u32,
    /// Calls left at once after this one (0 when refused).
    pub remaining: u32,
    /// Seconds until the bucket is full again (refused: until the next call is allowed).
    pub reset_secs: u64,
    pub allowed: bool,
}

#[derive(Clone)]
pub struct RateLimiter {
    limiters: Arc<[Keyed; Limit::ALL.len()]>,
    api: Arc<PerApiKey>,
    api_burst: u32,
    /// Time for one call to come back into the bucket.
    api_period: Duration,
}

impl RateLimiter {
    pub fn new(clock: SharedClock) -> Self {
        let make = |limit: Limit| {
            Keyed::new(
                limit.quota(),
                DashMapStateStore::default(),
                LimiterClock(clock.clone()),
            )
        };
        let mut limiter = Self {
            limiters: Arc::new(Limit::ALL.map(make)),
            api: Arc::new(
                governor::RateLimiter::<i64, _, _, NoOpMiddleware<Nanos>>::new(
                    Quota::per_minute(NonZeroU32::MIN),
                    DashMapStateStore::default(),
                    LimiterClock(clock.clone()),
                )
                .with_middleware::<governor::middleware::StateInformationMiddleware>(),
            ),
            api_burst: 1,
            api_period: Duration::from_secs(60),
        };
        limiter.set_api_quota(clock, 600, 100);
        limiter
    }

    /// Each API key may make `per_minute` calls a minute, `burst` of them at once.
    pub fn with_api_quota(mut self, clock: SharedClock, per_minute: u32, burst: u32) -> Self {
        self.set_api_quota(clock, per_minute, burst);
        self
    }

    fn set_api_quota(&mut self, clock: SharedClock, per_minute: u32, burst: u32) {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        self.api_period = quota.replenish_interval();
        self.api_burst = burst.get();
        self.api = Arc::new(
            governor::RateLimiter::<i64, _, _, NoOpMiddleware<Nanos>>::new(
                quota,
                DashMapStateStore::default(),
                LimiterClock(clock),
            )
            .with_middleware::<governor::middleware::StateInformationMiddleware>(),
        );
    }

    /// Takes one call from the API key's bucket.
    pub fn check_api(&self, key_id: i64) -> ApiQuota {
        match self.api.check_key(&key_id) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = self.api_burst.saturating_sub(remaining);
                ApiQuota {
                    limit: self.api_burst,
                    remaining,
                    reset_secs: (self.api_period * missing).as_secs_f64().ceil() as u64,
                    allowed: true,
                }
            }
            Err(not_until) => ApiQuota {
                limit: self.api_burst,
                remaining: 0,
                reset_secs: not_until
                    .wait_time_from(self.api.clock().now())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64,
                allowed: false,
            },
        }
    }

    fn limiter(&self, limit: Limit) -> &Keyed {
        &self.limiters[Limit::ALL.iter().position(|l| *l == limit).unwrap_or(0)]
    }

    /// Records a hit on `key` and says whether it is within the limit.
    pub fn allow(&self, limit: Limit, key: &str) -> bool {
        self.limiter(limit).check_key(&key.to_owned()).is_ok()
    }

    /// Records a hit on `key`; a refusal says how long until the next hit is allowed.
    pub fn check(&self, limit: Limit, key: &str) -> Result<(), Duration> {
        let limiter = self.limiter(limit);
        limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| not_until.wait_time_from(limiter_now(limiter)))
    }

    /// Forgets keys whose limit is back to full (called by the sweeper), bounding memory.
    pub fn forget_idle(&self) {
        for l in self.limiters.iter() {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.api.retain_recent();
        self.api.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::{Limit, RateLimiter};
    use crate::runtime::clock::ManualClock;

    #[test]
    fn hits_beyond_the_burst_are_refused_until_the_window_refills() {
        let clock = ManualClock::starting_now();
        let l = RateLimiter::new(clock.clone());
        for _ in 0..5 {
            assert!(l.allow(Limit::StepUpPerSession, "k"));
        }
        assert!(
            !l.allow(Limit::StepUpPerSession, "k"),
            "the sixth in a burst is refused"
        );
        assert!(
            l.allow(Limit::StepUpPerSession, "other"),
            "keys are separate"
        );
        assert!(l.allow(Limit::StepUpPerUser, "k"), "limits are separate");
        clock.advance(std::time::Duration::from_secs(15 * 60));
        for _ in 0..5 {
            assert!(
                l.allow(Limit::StepUpPerSession, "k"),
                "a full window later the burst is back"
            );
        }
        assert!(!l.allow(Limit::StepUpPerSession, "k"));
    }
}
