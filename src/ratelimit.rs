//! A small in-memory sliding-window limiter (per node), keyed by strings like `reset:ip:1.2.3.4`.
//! Limits that must hold across nodes are counted in the database instead.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct RateLimiter {
    hits: Arc<Mutex<HashMap<String, VecDeque<i64>>>>,
}

impl RateLimiter {
    /// Records a hit and says whether it is within `max` hits per `window_ms`.
    pub fn allow(&self, key: &str, now: i64, max: usize, window_ms: i64) -> bool {
        let Ok(mut hits) = self.hits.lock() else {
            return true;
        };
        if hits.len() > 50_000 {
            hits.retain(|_, q| q.back().is_some_and(|t| *t > now - window_ms));
        }
        let q = hits.entry(key.to_owned()).or_default();
        while q.front().is_some_and(|t| *t <= now - window_ms) {
            q.pop_front();
        }
        if q.len() >= max {
            return false;
        }
        q.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn hits_beyond_the_limit_are_refused_until_the_window_passes() {
        let l = RateLimiter::default();
        assert!(l.allow("k", 0, 2, 1000));
        assert!(l.allow("k", 10, 2, 1000));
        assert!(!l.allow("k", 20, 2, 1000));
        assert!(l.allow("other", 20, 2, 1000));
        assert!(l.allow("k", 1001, 2, 1000));
    }
}
