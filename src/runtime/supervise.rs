//! Background tasks that cannot die unnoticed: a panic is logged at ERROR and the task restarted
//! after a pause, and `/readyz` reports a worker that is down. The health registry fails closed: if
//! it cannot be read, the node is not ready.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const SESSION_SWEEPER: &str = "session sweeper";
pub const MAIL_WORKER: &str = "mail worker";
pub const SECURITY_CACHE: &str = "security cache";
pub const LISTENER: &str = "security listener";
pub const PROPAGATION: &str = "security propagation";
pub const AUDIT_CHECKPOINTS: &str = "audit checkpoints";
pub const ACTIVITY_WRITER: &str = "session activity writer";
pub const INCIDENT_JOBS: &str = "incident jobs";
pub const API_READS: &str = "API read counts";

/// How long a crashed task waits before it is started again.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// What each worker and cache last reported: `None` when up, or what is wrong.
#[derive(Clone, Default)]
pub struct Health {
    parts: Arc<Mutex<BTreeMap<&'static str, Option<String>>>>,
}

impl Health {
    pub fn up(&self, part: &'static str) {
        if let Ok(mut parts) = self.parts.lock() {
            parts.insert(part, None);
        }
    }

    pub fn down(&self, part: &'static str, why: impl Into<String>) {
        if let Ok(mut parts) = self.parts.lock() {
            parts.insert(part, Some(why.into()));
        }
    }

    /// Everything that is down, as "part: why". An unreadable registry is itself a problem.
    pub fn problems(&self) -> Vec<String> {
        match self.parts.lock() {
            Ok(parts) => parts
                .iter()
                .filter_map(|(part, why)| why.as_ref().map(|w| format!("{part}: {w}")))
                .collect(),
            Err(_) => vec!["health registry: lock poisoned".to_owned()],
        }
    }
}

/// Runs `task` until it returns (normal stop) or `stop` turns true. A panic is logged at ERROR,
/// reported to `health`, and the task is started again after a pause.
pub fn supervise<F, Fut>(
    name: &'static str,
    health: Health,
    mut stop: watch::Receiver<bool>,
    task: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            health.up(name);
            match tokio::spawn(task()).await {
                Ok(()) => return,
                Err(e) if e.is_panic() => {
                    tracing::error!(task = name, "background task panicked; restarting it");
                    health.down(name, "panicked; restarting");
                }
                Err(_) => {
                    health.down(name, "cancelled");
                    return;
                }
            }
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(RESTART_PAUSE) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_reported_and_restarted() {
        let health = Health::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (_stop, stopped) = watch::channel(false);
        let counter = runs.clone();
        let handle = supervise("test task", health.clone(), stopped, move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first run fails");
                }
            }
        });
        handle.await.unwrap();
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "restarted once, then returned"
        );
        assert!(health.problems().is_empty(), "up again after the restart");
    }

    #[tokio::test]
    async fn a_task_down_is_a_readiness_problem() {
        let health = Health::default();
        health.down("mail worker", "panicked; restarting");
        assert_eq!(health.problems(), vec!["mail worker: panicked; restarting"]);
        health.up("mail worker");
        assert!(health.problems().is_empty());
    }
}
