//! Building the application: state, router, listener; running it with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::{middleware, Router};
use leptos::prelude::*;
use leptos_axum::{
    file_and_error_handler_with_context, generate_route_list, AxumRouteListing, LeptosRoutes,
};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::app::{shell, App};
use crate::config::Config;
use crate::email::{transport, worker::Worker};
use crate::features::sessions::{sweeper, DbSessionStore};
use crate::http::{assets, client, csrf, forward_auth, gate, headers, health, throttle};
use crate::runtime::applications::Directory;
use crate::runtime::clock::SharedClock;
use crate::runtime::hasher::{params_of, PasswordHasher};
use crate::runtime::limiter::RateLimiter;
use crate::runtime::security::SecurityCache;
use crate::runtime::server_key::ServerKey;
use crate::runtime::session_cache::SessionCache;
use crate::runtime::supervise::{self, supervise, Health};
use crate::runtime::AppState;
use crate::storage::Store;

impl AppState {
    /// Connects to the database, runs migrations and prepares the password hasher.
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let store = Store::connect(config.database_url.expose_secret()).await?;
        store.migrate().await?;
        let hasher = PasswordHasher::new(
            (
                config.argon2_memory_kib,
                config.argon2_iterations,
                config.argon2_parallelism,
            ),
            config.max_concurrent_hashes,
            config.max_queued_hashes,
            median_stored_params(&store).await?,
        )?;
        let geo = match &config.geoip_database {
            Some(path) => crate::geo::GeoIp::open(path)?,
            None => crate::geo::GeoIp::disabled(),
        };
        let server_key = match &config.secret_key_file {
            Some(path) => ServerKey::open(path, config.is_sqlite())?,
            None => ServerKey::ephemeral(),
        };
        let (api_rate, api_burst) = (config.api_rate_per_minute, config.api_burst);
        let config = Arc::new(config);
        let security = SecurityCache::load(&store, config.clone()).await?;
        let session_cache = SessionCache::new(config.session_cache_capacity, config.session_cache);
        let applications = {
            let mut conn = store.pool().acquire().await.context("acquire connection")?;
            session_cache.start(&mut conn, clock.now_ms()).await?;
            Directory::load(&mut conn).await?
        };
        Ok(Self::new(crate::runtime::state::Shared {
            session_cache,
            applications,
            config,
            geo: Arc::new(geo),
            security,
            store,
            hasher,
            leptos_options: leptos_options(),
            limiter: RateLimiter::new(clock.clone()).with_api_quota(
                clock.clone(),
                api_rate,
                api_burst,
            ),
            clock,
            mail_wake: Arc::new(Notify::new()),
            incident_wake: Arc::new(Notify::new()),
            health: Health::default(),
            server_key: Arc::new(server_key),
            api_usage: Arc::default(),
        }))
    }
}

/// The argon2 parameters (m, t, p) of the median of the newest stored hashes, so the dummy
/// verification of an unknown e-mail costs what a real account's does; `None` without accounts.
async fn median_stored_params(store: &Store) -> anyhow::Result<Option<(u32, u32, u32)>> {
    let mut conn = store.pool().acquire().await.context("acquire connection")?;
    let hashes = crate::storage::throttle::recent_password_hashes(&mut conn, 1001)
        .await
        .context("read stored password hashes")?;
    let mut params: Vec<_> = hashes.iter().filter_map(|h| params_of(h)).collect();
    params.sort_by_key(|&(m, t, p)| (u64::from(m) * u64::from(t), m, t, p));
    Ok(params.get(params.len() / 2).copied())
}

/// Where the compiled site (wasm, JS, CSS) lives; cargo-leptos sets `LEPTOS_SITE_ROOT` when it
/// runs the server, and the default matches its build output.
pub fn leptos_options() -> LeptosOptions {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    LeptosOptions::builder()
        .output_name("keywarden")
        // The page names the files of the build the binary came with (see http::assets).
        .hash_files(assets::hash_file().is_some())
        .hash_file(assets::hash_file_name().into())
        .site_root(var("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(var("LEPTOS_SITE_PKG_DIR", "pkg"))
        .build()
}

/// The page routes, generated once per process. Generating them renders the app with resource
/// loading switched off by a process-wide flag (leptos_server's `SuppressResourceLoad`): a page
/// rendered meanwhile by another server in the same process (the test suite runs several) would
/// wait forever on its resources. Once is also all a process needs.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

type PageFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// Paths no route claims: static files, the "This wasn't me" page at the path administrators
/// chose (rendered whole before it is sent, status 200), and "Page not found" (404).
fn fallback<C, S, V>(
    context: C,
    app_shell: S,
) -> impl Fn(State<AppState>, Uri, Request) -> PageFuture + Clone + Send + 'static
where
    C: Fn() + Clone + Send + Sync + 'static,
    S: Fn() -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let alert_page = leptos_axum::render_app_async_with_context(context.clone(), app_shell);
    let not_found = file_and_error_handler_with_context::<AppState, _>(context, shell);
    move |State(state): State<AppState>, uri: Uri, req: Request| {
        let is_alert_page =
            req.method() == Method::GET && uri.path() == state.security.get().device_alert_path;
        if is_alert_page {
            Box::pin(alert_page(req))
        } else {
            not_found(uri, State(state), req)
        }
    }
}

pub fn router(state: AppState) -> Router {
    let config = &state.config;
    let session_store = DbSessionStore::of(&state);
    let lifetime = time::Duration::seconds(
        i64::try_from(config.session_absolute_lifetime_secs).unwrap_or(i64::MAX),
    );
    let mut sessions = SessionManagerLayer::new(session_store)
        .with_name(config.session_cookie_name())
        .with_secure(config.cookies_secure())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(lifetime));
    if let Some(domain) = &config.cookie_domain {
        // One session for every protected application's host (forward-auth).
        sessions = sessions.with_domain(domain.clone());
    }

    let context = {
        let state = state.clone();
        move || {
            provide_context(state.clone());
            headers::add_page_policy();
        }
    };
    let app_shell = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };
    let header =
        |name, value| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));

    Router::new()
        .leptos_routes_with_context(&state, route_list(), context.clone(), app_shell.clone())
        .merge(crate::features::audit::export::router())
        .merge(crate::features::audit::checkpoint::router())
        .merge(crate::features::incidents::download::router())
        .fallback(fallback(context, app_shell))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            gate::resolve_viewer,
        ))
        .layer(sessions)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            throttle::per_ip,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            client::identify,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), csrf::guard))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            headers::protect_token_pages,
        ))
        .layer(middleware::from_fn_with_state(
            assets::SiteFiles::of(&state.leptos_options),
            assets::cache_headers,
        ))
        // Forward-auth is outside the session layer and the page guards: it reads the cookie
        // itself and answers the proxy from memory.
        // The management API: bearer keys only, so outside the session, CSRF and page layers.
        .merge(crate::http::api::router(state.clone()))
        .route("/auth/forward", get(forward_auth::forward))
        .route("/auth/nginx", get(forward_auth::nginx))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(compression())
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(crate::telemetry::request_span::<axum::body::Body>),
        )
        .with_state(state)
}

/// Compresses responses on the fly (brotli or gzip, as the browser accepts): pages, server
/// function answers, API documents. Not what is compressed already (the site's files have their
/// copies, see `http::assets`), not images or event streams, and not a page that must not be
/// stored (`no-store`: the pages with a token in their URL), so no secret shares a compressed
/// body with text an attacker chose (BREACH).
fn compression(
) -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate + Clone> {
    use tower_http::compression::predicate::{DefaultPredicate, Predicate};
    let storable = |_: axum::http::StatusCode,
                    _: axum::http::Version,
                    headers: &axum::http::HeaderMap,
                    _: &axum::http::Extensions| {
        !headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("no-store"))
    };
    tower_http::compression::CompressionLayer::new()
        .br(true)
        .gzip(true)
        .compress_when(DefaultPredicate::new().and(storable))
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let listen = config.listen.clone();
        let state = AppState::build(config, clock).await?;
        let listener = TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        Ok(Self { listener, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// This node's outbox worker, with the configured transport.
    pub fn mail_worker(&self) -> anyhow::Result<Worker> {
        let config = &self.state.config;
        Ok(Worker {
            store: self.state.store.clone(),
            clock: self.state.clock.clone(),
            transport: Arc::from(transport::from_config(config)?),
            max_attempts: config.outbox_max_attempts,
            owner: format!("{}-{}", std::process::id(), rand::random::<u32>()),
        })
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then stops the
    /// background workers and closes the pool.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let sweeper = {
            let (state, stopped) = (self.state.clone(), stopped.clone());
            supervise(
                supervise::SESSION_SWEEPER,
                self.state.health.clone(),
                stopped.clone(),
                move || sweeper::run(state.clone(), stopped.clone()),
            )
        };
        let propagation = {
            let (state, stopped) = (self.state.clone(), stopped.clone());
            supervise(
                supervise::PROPAGATION,
                self.state.health.clone(),
                stopped.clone(),
                move || crate::runtime::propagation::run(state.clone(), stopped.clone()),
            )
        };
        let activity = {
            let (state, stopped) = (self.state.clone(), stopped.clone());
            supervise(
                supervise::ACTIVITY_WRITER,
                self.state.health.clone(),
                stopped.clone(),
                move || crate::runtime::propagation::write_activity(state.clone(), stopped.clone()),
            )
        };
        let checkpoints = {
            let (state, stopped) = (self.state.clone(), stopped.clone());
            supervise(
                supervise::AUDIT_CHECKPOINTS,
                self.state.health.clone(),
                stopped.clone(),
                move || crate::runtime::checkpoint::run(state.clone(), stopped.clone()),
            )
        };
        let api_reads = {
            let (state, stopped) = (self.state.clone(), stopped.clone());
            supervise(
                supervise::API_READS,
                self.state.health.clone(),
                stopped.clone(),
                move || crate::features::api_keys::usage::run(state.clone(), stopped.clone()),
            )
        };
        let incident_jobs = self.state.config.incident_worker_enabled.then(|| {
            let (state, stopped) = (self.state.clone(), stopped.clone());
            supervise(
                supervise::INCIDENT_JOBS,
                self.state.health.clone(),
                stopped.clone(),
                move || crate::features::incidents::job::run(state.clone(), stopped.clone()),
            )
        });
        let mailer = match self.state.config.mail_worker_enabled {
            true => {
                let worker = Arc::new(self.mail_worker()?);
                let (wake, stopped) = (self.state.mail_wake.clone(), stopped.clone());
                Some(supervise(
                    supervise::MAIL_WORKER,
                    self.state.health.clone(),
                    stopped.clone(),
                    move || Arc::clone(&worker).run(wake.clone(), stopped.clone()),
                ))
            }
            false => None,
        };
        let app = router(self.state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop.send(true);
        let _ = sweeper.await;
        let _ = propagation.await;
        let _ = checkpoints.await;
        let _ = activity.await;
        let _ = api_reads.await;
        if let Some(jobs) = incident_jobs {
            let _ = jobs.await;
        }
        if let Some(mailer) = mailer {
            let _ = mailer.await;
        }
        self.state.store.close().await;
        served.context("server error")
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}
