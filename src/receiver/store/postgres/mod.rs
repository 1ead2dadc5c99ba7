//! The PostgreSQL backend: one database shared by a fleet of receivers (`--store
//! postgres://...`), so that every receiver's console and API show every call and each call log
//! is delivered once across the fleet.
//!
//! The driver is async (`tokio-postgres`, connections from a `deadpool-postgres` pool); the
//! store's interface blocks. The backend runs its own small runtime: each method hands its query
//! to that runtime and waits for the answer, so it can be called from the blocking pool, a plain
//! thread or a test alike (never from inside an async task: like SQLite, it blocks).
//!
//! By role, like the SQLite backend: `calls`, `console`, `outbox` (claims with `FOR UPDATE SKIP
//! LOCKED` and a lease, see there), `recordings`, `schema` (versioned migrations), and `notify`
//! (each stored revision announced with `NOTIFY`; a listener on a connection of its own hands
//! other receivers' to [`Postgres::subscribe_stored`], so live updates cross the fleet).
//!
//! What is shared and what is not: call logs with their revisions, the outbox, the console's
//! indexes, recordings' rows and their audio (`audio`, in chunks) live here; the span journal
//! (this receiver's calls in flight) stays in the receiver's data directory.

pub mod audio;
mod calls;
mod console;
mod notify;
mod outbox;
mod recordings;
mod schema;
mod tls;

use std::future::Future;
use std::str::FromStr;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio::sync::broadcast;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::backend::{for_each_method, forward_to_inherent, Backend};
use super::recordings::{CallNames, RecordingRow};
use super::relay::StoredCall;
use super::{now_ms, DeadLetter, Enqueue, OutboxEntry, Settle, SinkStats, StoreError};
use crate::receiver::calllog::{CallLog, CallPage, CallQuery, CallUpdate, LiveKitJob, SameIdCall};
use crate::receiver::query::{CallRowPage, Delivery, DeploymentRow, Fleet, FleetQuery};

pub use notify::LISTENER_NAME;

/// Connections in the pool (the listener has one more of its own): the recorder, each sink's delivery loop, the API's and console's
/// reads and the lease renewal each hold one at a time; more would only queue inside
/// PostgreSQL on a small machine.
const POOL_SIZE: usize = 8;

/// Worker threads of the backend's runtime: queries spend their time waiting on the database,
/// not computing, so two threads keep every pooled connection moving.
const RUNTIME_THREADS: usize = 2;

/// How long a claim holds an outbox entry without renewal (`store_lease_ms`): longer than
/// the slowest attempt a sink makes (its request timeout) with room to spare, short enough that
/// a dead receiver's deliveries are taken over within a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How to reach the database.
#[derive(Clone, Default)]
pub struct PgConfig {
    /// `postgres://user@host:port/dbname` (or a libpq key=value string).
    pub url: String,
    /// The password, when not in the URL (read from a file or the environment by the caller).
    pub password: Option<String>,
    /// How long a claim holds an outbox entry ([`DEFAULT_LEASE`] when `None`).
    pub lease: Option<Duration>,
    /// With `sslmode=require` in the URL: the CA certificates (PEM) the server's certificate
    /// must chain to; `None`: the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: only its host part is shown.
        let shown = self.url.rsplit('@').next().unwrap_or("");
        f.debug_struct("PgConfig")
            .field("url", &format_args!("postgres://***@{shown}"))
            .field("lease", &self.lease)
            .finish()
    }
}

/// The backend's own runtime, shut down without blocking when the store is dropped (which may
/// happen inside another runtime's task).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The PostgreSQL backend.
pub struct Postgres {
    pool: Pool,
    runtime: OwnRuntime,
    /// This receiver's name in the outbox's claims (random per process: a restarted receiver
    /// is a new claimant, and the old one's claims expire with their lease).
    receiver: String,
    lease_ms: i64,
    /// Revisions handed out by the listener or stored here (no catch-up repeats them).
    known: notify::SharedKnown,
    /// Where the listener hands out what other receivers store.
    stored: broadcast::Sender<StoredCall>,
}

impl Postgres {
    /// Connects, migrates the schema to the latest version (one receiver at a time), starts
    /// renewing this receiver's leases and listens for what other receivers store.
    pub fn connect(config: &PgConfig) -> Result<Postgres, StoreError> {
        let mut pg = tokio_postgres::Config::from_str(&config.url)
            .map_err(|e| StoreError::PgConfig(format!("the store URL does not parse: {e}")))?;
        if let Some(password) = &config.password {
            pg.password(password);
        }
        pg.application_name("voicetrace");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("voicetrace-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::PgConfig(format!("cannot start the store's runtime: {e}")))?;
        let listen_config = pg.clone();
        let manager_config = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let tls = match pg.get_ssl_mode() {
            SslMode::Require => Some(tls::connector(config.ca_file.as_deref())?),
            _ => None,
        };
        let manager = match &tls {
            Some(tls) => Manager::from_config(pg, tls.clone(), manager_config()),
            None => Manager::from_config(pg, NoTls, manager_config()),
        };
        let pool = {
            let _entered = runtime.enter();
            Pool::builder(manager)
                .max_size(POOL_SIZE)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| StoreError::Pool(e.to_string()))?
        };
        let lease = config.lease.unwrap_or(DEFAULT_LEASE);
        let backend = Postgres {
            pool,
            runtime: OwnRuntime(Some(runtime)),
            receiver: receiver_name(),
            lease_ms: lease.as_millis() as i64,
            known: Arc::new(Mutex::new(notify::Known::default())),
            stored: broadcast::channel(notify::STORED_CAPACITY).0,
        };
        backend.run(|pool| async move { schema::migrate(&mut client(&pool).await?).await })?;
        backend.renew_leases(lease);
        backend.listen(listen_config, tls)?;
        Ok(backend)
    }

    /// The call log revisions other receivers store from now on (see [`notify`]).
    pub fn subscribe_stored(&self) -> Option<broadcast::Receiver<StoredCall>> {
        Some(self.stored.subscribe())
    }

    /// Listens for what other receivers store (listening before this returns: nothing
    /// committed after the receiver starts is missed) and keeps listening on the runtime.
    fn listen(
        &self,
        config: tokio_postgres::Config,
        tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    ) -> Result<(), StoreError> {
        let listener = Arc::new(notify::Listener::new(
            config,
            tls,
            self.receiver.clone(),
            self.known.clone(),
            self.stored.clone(),
        ));
        let first = listener.clone();
        let listening = self.run(|_| async move { first.listen().await })?;
        let Some(rt) = &self.runtime.0 else {
            return Err(StoreError::Pool("the store is shut down".into()));
        };
        rt.spawn(async move { listener.run(listening).await });
        Ok(())
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.run(|pool| async move { schema::version(&client(&pool).await?).await })
    }

    /// Runs `work` on the backend's runtime with the pool and waits for its result.
    fn run<T, Fut>(&self, work: impl FnOnce(Pool) -> Fut) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let Some(rt) = &self.runtime.0 else {
            return Err(StoreError::Pool("the store is shut down".into()));
        };
        let future = work(self.pool.clone());
        let (tx, rx) = mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Pool("the store's runtime stopped mid-query".into()))?
    }

    /// Every third of the lease, pushes the lease of every entry this receiver holds: a
    /// receiver that dies stops, and after the lease its entries are anyone's.
    fn renew_leases(&self, lease: Duration) {
        let Some(rt) = &self.runtime.0 else { return };
        let pool = self.pool.clone();
        let receiver = self.receiver.clone();
        let lease_ms = self.lease_ms;
        rt.spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            loop {
                tick.tick().await;
                if let Err(e) = outbox::renew(&pool, &receiver, now_ms() + lease_ms).await {
                    tracing::warn!(error = %e, "could not renew the outbox leases; retrying");
                }
            }
        });
    }
}

/// A connection from the pool.
async fn client(pool: &Pool) -> Result<Object, StoreError> {
    pool.get().await.map_err(|e| match e {
        deadpool_postgres::PoolError::Backend(e) => StoreError::Postgres(e),
        other => StoreError::Pool(other.to_string()),
    })
}

/// Runs a statement prepared once per pooled connection (PostgreSQL plans it once, not at
/// every call), on a connection from the pool.
async fn query(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let c = client(pool).await?;
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

/// [`query`] for at most one row.
async fn query_opt(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let c = client(pool).await?;
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

/// [`query`] for exactly one row.
async fn query_one(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, StoreError> {
    let c = client(pool).await?;
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_one(&statement, params).await?)
}

/// [`query`] for a statement that changes rows; returns how many.
async fn execute(
    pool: &Pool,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let c = client(pool).await?;
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// A name for this receiver's claims: the host's process id and random bits, unique enough
/// that two receivers never share one.
fn receiver_name() -> String {
    let mut random = [0u8; 6];
    // Without randomness the process id and time still tell receivers apart on one database.
    let _ = getrandom::fill(&mut random);
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{hex}", std::process::id(), now_ms())
}

for_each_method!(forward_to_inherent, Postgres);
