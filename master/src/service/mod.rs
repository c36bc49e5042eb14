//! The long-running service: `gossipper ui`, the master process — console at `/`, REST
//! API at `/api/v2`, one listener, a synchronous HTTP/1.1 server of our own (`http`), and
//! the jobs it runs as `gossipper worker` processes. It runs no SIP itself.
//!
//! Owns: the command line of `gossipper ui`, opening the store, bootstrapping the first
//! admin and the JWT secret, and starting the HTTP server. Flow: `main` → `run` →
//! `ExitCode`; errors are printed once, here. Must not: run the engine (workers do) or
//! parse SIPp flags (`sipp` does).
//!
//! Modules: `paths` (the one safe path builder), `store` (SQLite + files), `auth`
//! (passwords, tokens, tickets, throttle), `hash_gate` (at most a few password hashes at
//! once), `host_ips` (the host's interface addresses), `http` (the server: connection
//! caps and deadlines), `listen` (the listen
//! address): the layer a second long-running mode (a live SIP endpoint with its own
//! control API, issue #18) is meant to share. On top of it, the master's own parts: `api`
//! (the v2 router + one module per resource), `console` (embedded static files) and
//! `supervisor` (worker processes of jobs); `timefmt`.

mod api;
pub(crate) mod auth;
mod console;
mod hash_gate;
pub(crate) mod host_ips;
pub(crate) mod http;
pub(crate) mod listen;
pub(crate) mod paths;
pub(crate) mod resolve;
pub(crate) mod store;
pub(crate) mod supervisor;
pub(crate) mod timefmt;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::Parser;

use api::{Config, Ctx};
use store::users::Role;
use store::{Store, kv, users};

/// `gossipper ui` flags.
#[derive(Debug, Parser)]
#[command(
    name = "gossipper ui",
    about = "The gossipper master: web console and /api/v2"
)]
struct UiArgs {
    /// Where every UI artefact lives (created if missing).
    #[arg(long, default_value = "./gossipper-data")]
    data_dir: PathBuf,
    /// PORT or :PORT (all interfaces), HOST:PORT or [IPv6]:PORT; port 0 picks a free
    /// port.
    #[arg(long, default_value = ":8080")]
    listen: String,
    /// The settings database (users, JWT secret, settings, jobs, audit: one SQLite
    /// file); default <data-dir>/settings.sqlite. Its folder is created when missing; a
    /// path inside the data dir's served trees (media, artifacts...) is refused.
    #[arg(long, value_name = "FILE")]
    auth_sqlite: Option<PathBuf>,
    /// Archived versions kept per scenario (0 = unlimited).
    #[arg(long, default_value_t = 20)]
    scenario_history_keep: usize,
    /// JWT secret (≥ 16 characters) for a fresh data dir; a secret already saved there
    /// (e.g. after a rotation) wins. Prefer the environment variable over the flag.
    #[arg(long, env = "GOSSIPPER_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// A file holding the scrape token for Prometheus (≥ 16 printable characters): a
    /// bearer equal to it opens GET /metrics (and /api/v2/metrics) and nothing else. A
    /// user's token opens /metrics too.
    #[arg(long, value_name = "FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Serve without authentication (everyone is an anonymous admin). Loopback labs only.
    #[arg(long)]
    no_auth: bool,
    /// Connections served at once (each has its own thread); more get 503.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_connections: u32,
    /// Connections from one client address (an IPv6 client: its /64); more get 503.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    max_connections_per_ip: u32,
    /// Seconds a client has to send a request head; also the longest wait on one read or
    /// write, and the grace of body and reply deadlines (which add 1 s per 64 KiB).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout: u64,
    /// Jobs that may run at once (starting or running); one more is refused with 429.
    #[arg(long, default_value_t = supervisor::admission::DEFAULT_MAX_RUNNING,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_running_jobs: usize,
    /// Jobs one user may run at once (0: only --max-running-jobs applies).
    #[arg(long, default_value_t = 0)]
    max_running_jobs_per_user: usize,
    /// Bytes of a worker's stderr kept in each job's worker.log; the rest is dropped
    /// after one line saying so.
    #[arg(long, default_value_t = supervisor::DEFAULT_MAX_LOG_BYTES,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_worker_log_bytes: u64,
    /// Files the media library may hold (wav and pcap together); one more is refused
    /// with 429.
    #[arg(long, default_value_t = store::media::Quota::default().max_files,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    media_max_files: usize,
    /// Bytes the media library may hold (wav and pcap together); an upload past it is
    /// refused with 413.
    #[arg(long, default_value_t = store::media::Quota::default().max_bytes,
          value_parser = clap::value_parser!(u64).range(1..))]
    media_max_bytes: u64,
    /// Lets jobs run on the Kubernetes cluster this master runs in (issue 20): the API
    /// server from $KUBERNETES_SERVICE_HOST/PORT, the service account's token, CA and
    /// namespace under /var/run/secrets/kubernetes.io/serviceaccount/. Needs
    /// --kubernetes-callback.
    #[arg(long)]
    kubernetes: bool,
    /// Out of a cluster: the API server's URL (e.g. `kubectl proxy`'s
    /// http://127.0.0.1:8001, or https://host:6443 with --kubernetes-token-file and
    /// --kubernetes-ca-file). Needs --kubernetes-callback.
    #[arg(long, value_name = "URL")]
    kubernetes_api: Option<String>,
    /// The bearer token file for --kubernetes-api.
    #[arg(long, value_name = "FILE")]
    kubernetes_token_file: Option<PathBuf>,
    /// The API server's CA (PEM) for --kubernetes-api.
    #[arg(long, value_name = "FILE")]
    kubernetes_ca_file: Option<PathBuf>,
    /// The namespace of cluster jobs that name none (in a cluster: the master's own).
    #[arg(long, value_name = "NAME")]
    kubernetes_namespace: Option<String>,
    /// The worker image of cluster jobs that name none.
    #[arg(long, value_name = "IMAGE", default_value = "")]
    kubernetes_image: String,
    /// This master's base URL as worker pods reach it, e.g.
    /// http://gossipper-master.gossipper.svc:8080 (pods post their lines there).
    #[arg(long, value_name = "URL")]
    kubernetes_callback: Option<String>,
    /// Milliseconds from creating a Job to its pods' common start (scheduling and the
    /// image pull must fit in it).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1000..=3_000_000))]
    kubernetes_start_delay_ms: u64,
}

/// Where a pod finds its service account.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The cluster of the `--kubernetes*` flags (`None`: no cluster).
fn cluster(args: &UiArgs) -> anyhow::Result<Option<crate::job::kube::Cluster>> {
    let sa = std::path::Path::new(SERVICE_ACCOUNT);
    let (api, token_file, ca_file, own_ns) = match (&args.kubernetes_api, args.kubernetes) {
        (None, false) => return Ok(None),
        (Some(_), true) => bail!("--kubernetes and --kubernetes-api: give one"),
        (Some(url), false) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("--kubernetes-api {url}: not an http(s) URL");
            }
            (
                url.clone(),
                args.kubernetes_token_file.clone(),
                args.kubernetes_ca_file.clone(),
                None,
            )
        }
        (None, true) => {
            let host = std::env::var("KUBERNETES_SERVICE_HOST")
                .context("--kubernetes: $KUBERNETES_SERVICE_HOST is not set (not in a pod?)")?;
            let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
            let host = match host.contains(':') {
                true => format!("[{host}]"),
                false => host,
            };
            let ns = std::fs::read_to_string(sa.join("namespace"))
                .with_context(|| format!("--kubernetes: reading {SERVICE_ACCOUNT}/namespace"))?;
            (
                format!("https://{host}:{port}"),
                Some(sa.join("token")),
                Some(sa.join("ca.crt")),
                Some(ns.trim().to_string()),
            )
        }
    };
    let Some(callback) = args.kubernetes_callback.clone() else {
        bail!("--kubernetes needs --kubernetes-callback (this master's URL as pods reach it)");
    };
    if !(callback.starts_with("http://") || callback.starts_with("https://")) {
        bail!("--kubernetes-callback {callback}: not an http(s) URL");
    }
    let namespace = args
        .kubernetes_namespace
        .clone()
        .or(own_ns)
        .unwrap_or_else(|| "default".into());
    Ok(Some(crate::job::kube::Cluster {
        api,
        token_file,
        ca_file,
        namespace,
        image: args.kubernetes_image.clone(),
        callback,
        start_delay_ms: args.kubernetes_start_delay_ms,
    }))
}

pub(crate) fn main(args: &[String]) -> ExitCode {
    let parsed = UiArgs::try_parse_from(
        std::iter::once("gossipper ui".to_string()).chain(args.iter().cloned()),
    );
    let args = match parsed {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gossipper ui: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: UiArgs) -> anyhow::Result<()> {
    // Bind first: a busy port or a bad address must not leave a data dir and an admin
    // behind.
    let addr = listen::parse(&args.listen).map_err(anyhow::Error::msg)?;
    let metrics_token = match &args.metrics_token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--metrics-token-file: reading {}", path.display()))?;
            let token = auth::scrape_token(&text)
                .map_err(|e| anyhow::anyhow!("--metrics-token-file {}: {e}", path.display()))?;
            Some(token)
        }
        None => None,
    };
    let kube = cluster(&args)?;
    let listener = http::bind(&addr).with_context(|| format!("listening on {addr}"))?;
    let service = Service::open(Options {
        data_dir: args.data_dir.clone(),
        auth_sqlite: args.auth_sqlite.clone(),
        scenario_history_keep: args.scenario_history_keep,
        jwt_secret: args.jwt_secret.clone(),
        metrics_token,
        auth_enabled: !args.no_auth,
        limits: supervisor::Limits {
            jobs: supervisor::JobLimits {
                max_running: args.max_running_jobs,
                max_per_user: args.max_running_jobs_per_user,
            },
            max_log_bytes: args.max_worker_log_bytes,
            stop_grace: supervisor::STOP_GRACE,
        },
        media_quota: store::media::Quota {
            max_files: args.media_max_files,
            max_bytes: args.media_max_bytes,
        },
        kube,
        mode: Mode::Ui,
        log_name: "gossipper ui",
    })?;
    match listener.local_addr() {
        Ok(bound) => eprintln!("gossipper ui: listening on http://{bound}"),
        Err(_) => eprintln!("gossipper ui: listening on {addr}"),
    }
    let limits = http::Limits {
        max_connections: args.max_connections as usize,
        max_per_client: args.max_connections_per_ip as usize,
        request_timeout: Duration::from_secs(args.request_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
    };
    stop_jobs_on_signal("gossipper ui", service.clone());
    http::serve(
        listener,
        limits,
        Arc::new(move |inc: &mut http::Incoming<'_>| service.dispatch(inc)),
    )
}

/// The first SIGTERM or SIGINT stops every job ([`Service::shutdown`]) and then ends
/// the process; a second one ends it at once. Without a handler the signal would end
/// the master and leave its workers (each in its own process group) sending load.
fn stop_jobs_on_signal(name: &'static str, service: Service) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "{name}: cannot install signal handlers ({e}); a SIGTERM will not stop running jobs"
            );
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("ui-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                if seen > 1 {
                    eprintln!("{name}: second signal {sig}: exiting without waiting for jobs");
                    std::process::exit(128 + sig);
                }
                let service = service.clone();
                let _ = std::thread::Builder::new()
                    .name("ui-shutdown".into())
                    .spawn(move || {
                        eprintln!("{name}: signal {sig}: stopping running jobs, then exiting");
                        let left = service.shutdown();
                        if left > 0 {
                            eprintln!("{name}: {left} job(s) did not settle in time; the next start settles them");
                        } else {
                            eprintln!("{name}: every job has stopped; exiting");
                        }
                        std::process::exit(0);
                    });
            }
        });
    if let Err(e) = spawned {
        eprintln!(
            "{name}: cannot start the signal thread ({e}); a SIGTERM will not stop running jobs"
        );
    }
}

/// Which long-running mode serves `/api/v2` (told to the console by `/health` and
/// `/settings`, so it shows the pages only `gossipper server` has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `gossipper ui`: the master, no SIP engine in the process.
    Ui,
    /// `gossipper server -ui_data_dir`: beside a live engine and (when on) `/api/v1`.
    Server { legacy_api_v1: bool },
}

impl Mode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Ui => "ui",
            Mode::Server { .. } => "server",
        }
    }

    pub(crate) fn legacy_api_v1(self) -> bool {
        matches!(
            self,
            Mode::Server {
                legacy_api_v1: true
            }
        )
    }
}

/// What opening the service takes: `gossipper ui`'s flags, or `gossipper server`'s
/// `-ui_data_dir` with the master's defaults for the rest.
pub(crate) struct Options {
    pub(crate) data_dir: PathBuf,
    pub(crate) auth_sqlite: Option<PathBuf>,
    pub(crate) scenario_history_keep: usize,
    pub(crate) jwt_secret: Option<String>,
    pub(crate) metrics_token: Option<String>,
    pub(crate) auth_enabled: bool,
    pub(crate) limits: supervisor::Limits,
    pub(crate) media_quota: store::media::Quota,
    pub(crate) kube: Option<crate::job::kube::Cluster>,
    pub(crate) mode: Mode,
    /// How stderr lines start (`gossipper ui`, `gossipper server`).
    pub(crate) log_name: &'static str,
}

/// The opened service: the data dir, its store, users and supervisor; answers every
/// request of the master (root paths, `/api/v2`, the console). `gossipper server`
/// hands it every request it does not answer itself.
#[derive(Clone)]
pub(crate) struct Service {
    ctx: Arc<Ctx>,
}

/// A caller admitted by [`Service::admit`].
pub(crate) use auth::Principal;

impl Service {
    /// Opens (creating when missing) the data dir, settles jobs of a previous run and
    /// creates the bootstrap admin of an empty user table.
    pub(crate) fn open(opts: Options) -> anyhow::Result<Service> {
        let name = opts.log_name;
        // Before the first file: everything this process and its workers create is private.
        store::modes::restrict_umask();
        let mut layout = paths::Layout::new(&opts.data_dir);
        store::files::create_private_dir(layout.root())
            .with_context(|| format!("creating {}", opts.data_dir.display()))?;
        report_tightened(name, &opts.data_dir, &store::modes::tighten(layout.root()));
        if let Some(given) = &opts.auth_sqlite {
            let db = paths::settings_db_path(&opts.data_dir, given).map_err(anyhow::Error::msg)?;
            report_tightened(name, &opts.data_dir, &store::modes::tighten_db(&db));
            eprintln!("{name}: settings database {}", db.display());
            layout = layout.with_settings_db(db);
        }
        let mut store = Store::open(layout, opts.scenario_history_keep)
            .with_context(|| format!("opening {}", opts.data_dir.display()))?;
        store.media.set_quota(opts.media_quota);
        let secret = jwt_secret(name, &store, opts.jwt_secret.as_deref())?;
        let exe =
            std::env::current_exe().context("finding the gossipper executable for workers")?;
        let mut supervisor = supervisor::Supervisor::new(store.layout.clone(), exe, opts.limits)
            .context("opening the job supervisor")?;
        supervisor.set_kubernetes(opts.kube);
        let supervisor = Arc::new(supervisor);
        let settled = supervisor
            .recover()
            .context("settling jobs of a previous run")?;
        if settled > 0 {
            eprintln!(
                "{name}: {settled} job(s) left unfinished by a previous run were settled (master restarted)"
            );
        }
        if opts.auth_enabled {
            bootstrap_admin(name, &store)?;
        } else {
            eprintln!("{name}: WARNING: --no-auth: every caller is an anonymous admin");
        }
        let ctx = Arc::new(Ctx {
            store,
            tokens: auth::Tokens::new(&secret),
            tickets: auth::Tickets::default(),
            throttle: auth::Throttle::new(auth::ThrottleLimits::default()),
            dummy_hash: auth::dummy_hash()?,
            config: Config {
                data_dir: opts.data_dir,
                scenario_history_keep: opts.scenario_history_keep,
                auth_enabled: opts.auth_enabled,
                started_at: SystemTime::now(),
                metrics_token: opts.metrics_token,
                mode: opts.mode,
            },
            disk_usage: Mutex::new(None),
            supervisor,
        });
        Ok(Service { ctx })
    }

    /// Stops every job and waits for their final rows (see
    /// [`supervisor::Supervisor::shutdown`]); the number still unsettled.
    pub(crate) fn shutdown(&self) -> usize {
        self.ctx.supervisor.shutdown()
    }

    /// Answers one request: root paths, `/api/v2`, the console.
    pub(crate) fn dispatch(&self, inc: &mut http::Incoming<'_>) -> http::Reply {
        api::dispatch(&self.ctx, inc)
    }

    /// Answers one request as the `/api/v2` route `path` (e.g. `/auth/login`), whatever
    /// path it came on (`/api/v1/auth/login` is the same login).
    pub(crate) fn dispatch_as(&self, inc: &mut http::Incoming<'_>, path: &str) -> http::Reply {
        api::dispatch_as(&self.ctx, inc, path)
    }

    /// Authenticates a request to a route served outside the router as a user route
    /// (`ticket`: a `?ticket=` may stand in, for WebSockets and downloads): the
    /// caller, or the reply refusing them.
    pub(crate) fn admit(
        &self,
        inc: &http::Incoming<'_>,
        ticket: bool,
    ) -> Result<Principal, http::Reply> {
        api::admit_user(&self.ctx, inc, ticket)
    }

    /// Appends an audit row for a change made outside the router (`gossipper server`'s
    /// v1 control): by `who`, or, without a user, by the `-api_token` holder. A failed
    /// write is reported on stderr, never to the caller (the change is made).
    pub(crate) fn audit(
        &self,
        who: Option<&Principal>,
        action: &str,
        target: &str,
        payload: &serde_json::Value,
    ) {
        if !self.ctx.config.auth_enabled {
            return;
        }
        let actor = match who {
            Some(p) => api::actor(p),
            None => store::audit::Actor {
                user_id: None,
                username: "-api_token",
            },
        };
        let ts = timefmt::rfc3339(SystemTime::now());
        if let Err(e) = self
            .ctx
            .store
            .db
            .tx(|c| store::audit::append(c, &ts, actor, action, target, payload))
        {
            eprintln!("gossipper server: cannot write the audit row of {action}: {e}");
        }
    }

    /// Whether internal auth is on (else every caller is the anonymous admin).
    pub(crate) fn auth_enabled(&self) -> bool {
        self.ctx.config.auth_enabled
    }
}

/// Says once on stderr that an existing data dir let other users in and was narrowed
/// (and what could not be).
fn report_tightened(name: &str, data_dir: &std::path::Path, t: &store::modes::Tightened) {
    if !t.changed.is_empty() {
        eprintln!(
            "{name}: the data dir {} was readable by other users: narrowed {} path(s) to the owner (directories 0700, files 0600)",
            data_dir.display(),
            t.changed.len()
        );
    }
    for (path, e) in t.failed.iter().take(5) {
        eprintln!(
            "{name}: WARNING: cannot narrow the mode of {}: {e}",
            path.display()
        );
    }
}

/// The JWT secret: the saved one, else `--jwt-secret`, else 32 random bytes; saved so
/// tokens (and a rotation) survive restarts.
fn jwt_secret(name: &str, store: &Store, flag: Option<&str>) -> anyhow::Result<String> {
    if let Some(given) = flag
        && given.len() < auth::MIN_SECRET_LEN
    {
        bail!(
            "--jwt-secret must be at least {} characters",
            auth::MIN_SECRET_LEN
        );
    }
    let saved = store.db.read(|c| kv::get(c, kv::JWT_SECRET))?;
    if let Some(saved) = saved.filter(|s| s.len() >= auth::MIN_SECRET_LEN) {
        if flag.is_some_and(|f| f != saved) {
            eprintln!("{name}: note: using the JWT secret saved in the data dir, not --jwt-secret");
        }
        return Ok(saved);
    }
    let secret = match flag {
        Some(f) => f.to_string(),
        None => auth::random_hex(32).context("generating a JWT secret")?,
    };
    store.db.tx(|c| kv::set(c, kv::JWT_SECRET, &secret))?;
    Ok(secret)
}

/// With no users at all, creates the bootstrap admin (admin / sipcapture, or
/// GOSSIPPER_BOOTSTRAP_USERNAME / GOSSIPPER_BOOTSTRAP_PASSWORD). The password is never printed.
fn bootstrap_admin(name: &str, store: &Store) -> anyhow::Result<()> {
    if store.db.read(users::count)? > 0 {
        return Ok(());
    }
    let username = std::env::var("GOSSIPPER_BOOTSTRAP_USERNAME")
        .ok()
        .filter(|s| !s.is_empty());
    let password = std::env::var("GOSSIPPER_BOOTSTRAP_PASSWORD")
        .ok()
        .filter(|s| !s.is_empty());
    let from_env = password.is_some();
    let username = username.unwrap_or_else(|| "admin".to_string());
    let password = password.unwrap_or_else(|| "sipcapture".to_string());
    if password.chars().count() < auth::MIN_PASSWORD_LEN {
        bail!(
            "GOSSIPPER_BOOTSTRAP_PASSWORD must be at least {} characters",
            auth::MIN_PASSWORD_LEN
        );
    }
    if username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        bail!("GOSSIPPER_BOOTSTRAP_USERNAME must be 1 to 64 characters of A-Z a-z 0-9 . _ - @");
    }
    let hash = auth::hash_password(&password)?;
    let now = timefmt::rfc3339(SystemTime::now());
    store.db.tx(|c| {
        let user = users::create(c, &username, &hash, Role::Admin, &now)?;
        kv::set(c, kv::BOOTSTRAP_AT, &now)?;
        if !from_env {
            // The sign-in page shows the default until it is changed; the console asks
            // this admin to change it.
            kv::set(c, kv::DEFAULT_PASSWORD_USER, &user.id.to_string())?;
        }
        kv::set(c, kv::AUTH_MODE, "internal")
    })?;
    let source = if from_env {
        "GOSSIPPER_BOOTSTRAP_PASSWORD"
    } else {
        "the default password"
    };
    eprintln!(
        "{name}: created the admin user \"{username}\" with {source}; change it now (POST /api/v2/me/password)"
    );
    Ok(())
}
