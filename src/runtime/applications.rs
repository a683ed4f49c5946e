//! The applications behind forward-auth, held in memory: a request's host is matched without a
//! database round trip. Reloaded whole when they change (here at commit, elsewhere through the
//! cache events of [`super::session_cache`]).

use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;

use crate::domain::{HostPattern, Role};
use crate::storage::{applications, Conn};

/// One application as forward-auth judges it.
#[derive(Debug, Clone)]
pub struct Application {
    pub id: i64,
    pub name: String,
    pub host: HostPattern,
    pub roles: Vec<Role>,
    pub enabled: bool,
}

impl Application {
    pub fn admits(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[derive(Clone, Default)]
pub struct Directory {
    /// Most specific first: exact hosts, then wildcards by decreasing domain length.
    current: Arc<ArcSwap<Vec<Application>>>,
}

impl Directory {
    pub async fn load(conn: &mut Conn) -> anyhow::Result<Self> {
        let directory = Self::default();
        directory.reload(conn).await?;
        Ok(directory)
    }

    pub async fn reload(&self, conn: &mut Conn) -> anyhow::Result<()> {
        let rows = applications::all(conn).await.context("load applications")?;
        let mut apps: Vec<Application> = rows
            .into_iter()
            .filter_map(|row| {
                let host = HostPattern::parse(&row.host).ok()?;
                let roles = row
                    .allowed_roles
                    .split(',')
                    .filter_map(Role::parse)
                    .collect();
                Some(Application {
                    id: row.id,
                    name: row.name,
                    host,
                    roles,
                    enabled: row.enabled != 0,
                })
            })
            .collect();
        apps.sort_by_key(|a| std::cmp::Reverse(a.host.specificity()));
        self.current.store(Arc::new(apps));
        Ok(())
    }

    /// The most specific application covering `host` (lower-case, without port), enabled or not.
    pub fn find(&self, host: &str) -> Option<Application> {
        self.current
            .load()
            .iter()
            .find(|a| a.host.matches(host))
            .cloned()
    }
}
