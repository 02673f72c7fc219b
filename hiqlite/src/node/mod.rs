//! Starting a node: wires the log store, the state machine, Raft, the engine, the listeners
//! (Raft, API, and with `http_addr` the HTTP one of `ops`) and the client together, handing each part only what it needs (the engine's
//! `lifecycle::NodeHandle` stops them again).
//!
//! - `heal`: makes the log and the database agree at start-up;
//! - `bootstrap`: forms or joins the cluster on first start;
//! - `recover`: `hiqlite recover`, the offline tool that makes a node's data a new cluster's.

mod bootstrap;
mod heal;
pub mod recover;
mod tls;

use std::sync::Arc;

use openraft::SnapshotPolicy;
use tokio::net::TcpListener;

use self::bootstrap::bootstrap;
use self::heal::{
    last_log_index, reconcile_log_with_state, wait_for_recovered_state, warn_if_database_missing,
};
use crate::client::Client;
use crate::config::NodeConfig;
use crate::engine::api::ApiService;
use crate::engine::error::Error;
use crate::engine::lifecycle::NodeHandle;
use crate::engine::Engine;
use crate::engine::{format_upgrade, member_watch};
use crate::net::Channel;
use crate::raft::log_store::LogStore;
use crate::raft::network::{NetworkFactory, RaftService};
use crate::raft::snapshot_transfer::SnapshotInbox;
use crate::raft::Raft;
use crate::store::sqlite::state_machine::StateMachine;

/// Log entries kept behind a snapshot when the log is purged.
const LOGS_KEPT_AFTER_SNAPSHOT: u64 = 1000;

/// Starts a node of the cluster described by `config` and returns a client bound to it.
///
/// On first start the cluster forms by itself: every member gets the same `nodes` list, and an
/// uninitialized node that finds no running cluster among its peers initializes Raft with that
/// list (identical on every node, so several nodes doing it at once is safe). A restarted node
/// recovers its log and database and rejoins.
///
/// ```no_run
/// # async fn f() -> Result<(), hiqlite::Error> {
/// let config = hiqlite::NodeConfig::from_toml("hiqlite.toml")?;
/// let client = hiqlite::start_node(config).await?;
/// client.wait_until_healthy(std::time::Duration::from_secs(30)).await?;
/// # Ok(()) }
/// ```
pub async fn start_node(config: NodeConfig) -> Result<Client, Error> {
    config.validate()?;
    let me = config
        .own_member()
        .cloned()
        .ok_or_else(|| Error::Config(format!("node_id {} is not in nodes", config.node_id)))?;

    warn_if_database_missing(&config);
    // The log store, the state machine and the engine share what each knows about disk space.
    let disk = crate::types::disk::DiskSpace::default();
    let log_store =
        LogStore::open_reporting(&config.data_dir.join("logs"), config.log_sync, disk.clone())
            .map_err(|e| {
                Error::Storage(format!(
                    "cannot open the Raft log in {}: {e}",
                    config.data_dir.display()
                ))
            })?;
    let mut state_machine = StateMachine::open_reporting(
        &config.data_dir.join("db"),
        &config.filename_db,
        disk.clone(),
    )
    .map_err(|e| {
        Error::Storage(format!(
            "cannot open the database in {}: {e}",
            config.data_dir.display()
        ))
    })?;
    reconcile_log_with_state(&log_store, &mut state_machine).await?;
    let recovered_last = last_log_index(&log_store).await?;
    let reads = state_machine
        .read_pool(config.read_pool_size)
        .map_err(|e| Error::Storage(e.to_string()))?;
    let applied = state_machine.applied_index();
    let clock_offset = state_machine.clock_offset();
    let cluster_format = state_machine.cluster_format();
    let events = state_machine.events();
    let lineage = state_machine.lineage();
    let snapshot_dir = state_machine.snapshot_dir();
    let snapshot_file = state_machine.snapshot_file();

    // Bind before Raft starts, so a port conflict is a clear start-up error.
    let raft_listener = bind(
        config.listen_raft_addr.as_deref().unwrap_or(&me.raft_addr),
        "raft",
    )
    .await?;
    let api_listener = bind(
        config.listen_api_addr.as_deref().unwrap_or(&me.api_addr),
        "api",
    )
    .await?;
    let node_tls = tls::NodeTls::from_config(&config, &me)?;
    let http_listener = match &config.http_addr {
        Some(addr) => Some(bind(addr, "http").await?),
        None => None,
    };

    let raft_config = openraft::Config {
        cluster_name: "hiqlite".into(),
        heartbeat_interval: config.heartbeat_interval.as_millis() as u64,
        election_timeout_min: config.election_timeout_min.as_millis() as u64,
        election_timeout_max: config.election_timeout_max.as_millis() as u64,
        snapshot_policy: match config.snapshot_after_logs {
            0 => SnapshotPolicy::Never,
            n => SnapshotPolicy::LogsSinceLast(n),
        },
        // A briefly lagging follower catches up from the log instead of a whole snapshot.
        max_in_snapshot_log_to_keep: LOGS_KEPT_AFTER_SNAPSHOT.min(config.snapshot_after_logs),
        // Per snapshot chunk (our transfer applies it to each request): "no progress" in this long.
        install_snapshot_timeout: 30_000,
        // A follower that lost its disk comes back with a shorter log than the leader remembers.
        // openraft's default is to stop the leader (to surface bugs); losing one node's disk must
        // not take the whole cluster down, so the leader re-replicates instead (see
        // docs/operations.md for what a lost disk means for durability).
        allow_log_reversion: Some(true),
        // A node that was removed, or was cut off, must not force elections when it comes back:
        // it first asks whether others would vote for it.
        enable_pre_vote: Some(true),
        max_payload_entries: 4096,
        ..Default::default()
    }
    .validate()
    .map_err(|e| Error::Config(format!("Raft timing: {e}")))?;

    let network = NetworkFactory::new(
        config.node_id,
        config.secret_raft.clone(),
        config.max_frame_bytes,
        log_store.purged_watermark(),
        cluster_format.clone(),
    )
    .with_transport(node_tls.raft_client.clone());
    let peer_formats = network.peer_formats();
    // The log shipper reads committed entries through its own handle on the log store.
    let log_reader = log_store.clone();
    let raft = Raft::new(
        config.node_id,
        Arc::new(raft_config),
        network,
        log_store,
        state_machine,
    )
    .await
    .map_err(|e| Error::Raft(format!("cannot start Raft: {e}")))?;
    wait_for_recovered_state(&raft, recovered_last, std::time::Duration::from_secs(10)).await;

    let db_path = config.data_dir.join("db").join(&config.filename_db);
    let node_metrics = http_listener.is_some().then(|| {
        let files = crate::ops::prometheus::NodeFiles {
            db: db_path,
            log_dir: config.data_dir.join("logs"),
            snapshot: snapshot_file,
        };
        let metrics = crate::ops::prometheus::NodeMetrics::new(files, config.backup_cron.is_some());
        log_reader.record_fsync_latency(metrics.log_fsync_histogram());
        metrics
    });
    let raft_connections = node_metrics
        .as_ref()
        .map_or_else(metrics::Gauge::noop, |m| m.connections("raft"));

    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let raft_server = tokio::spawn(crate::net::serve_node_over(
        node_tls.raft_server.clone(),
        raft_listener,
        config.secret_raft.clone(),
        config.node_id,
        config.max_frame_bytes,
        Arc::new(RaftService {
            raft: raft.clone(),
            inbox: SnapshotInbox::new(&snapshot_dir),
            cluster_format: cluster_format.clone(),
            connections: raft_connections,
        }),
        shutdown_rx.clone(),
    ));
    let mut engine = Engine::new(
        &config,
        raft.clone(),
        reads,
        applied,
        clock_offset,
        (cluster_format.clone(), peer_formats),
    )
    .with_transports(node_tls.raft_client.clone(), node_tls.api_client.clone())
    .with_events(events)
    .with_disk(disk);
    // With S3 but without backup_dir, backups are staged in DATA_DIR/backups (docs/backups.md).
    let backup_dir = config
        .backup_dir
        .clone()
        .or_else(|| config.s3.is_set().then(|| config.data_dir.join("backups")));
    if let Some(m) = &node_metrics {
        engine = engine.with_metrics(m.engine_metrics());
    }
    let mut store = None;
    if let Some(dir) = &backup_dir {
        let backups = crate::backup::LocalBackups::new(
            config.data_dir.join("db").join(&config.filename_db),
            dir,
            config.enc_keys.clone(),
        );
        backups.remove_leftovers();
        let s = backup_store(backups, &config.s3)?;
        engine = engine.with_backups(s.clone());
        store = Some(s);
    }
    let local = Arc::new(engine);
    let mut tasks = Vec::new();
    if let Some(store) = store
        .clone()
        .filter(|_| !config.backup_log_interval.is_zero())
    {
        let engine = local.clone();
        let shipper = crate::backup::shipper::Shipper {
            store,
            log: log_reader,
            applied: local.applied.clone(),
            is_leader: Arc::new(move || engine.current_leader() == Some(engine.node_id)),
            format: cluster_format,
            lineage,
            db_path: config.data_dir.join("db").join(&config.filename_db),
            interval: config.backup_log_interval,
        };
        tasks.push(tokio::spawn(shipper.run(shutdown_rx.clone())));
    }
    let api_server = tokio::spawn(crate::net::serve_over(
        node_tls.api_server.clone(),
        api_listener,
        config.secret_api.clone(),
        Channel::Api,
        config.max_frame_bytes,
        Arc::new(ApiService {
            node: local.clone(),
        }),
        shutdown_rx.clone(),
    ));
    let bootstrap = tokio::spawn(bootstrap(
        raft.clone(),
        config.clone(),
        node_tls.api_client.clone(),
        shutdown_rx.clone(),
    ));
    tasks.extend(node_tls.watchers(&shutdown_rx));
    let watcher = tokio::spawn(member_watch::watch_membership(
        local.clone(),
        shutdown_rx.clone(),
    ));
    let disk_watch = tokio::spawn(crate::engine::disk_watch::watch_disk(
        local.clone(),
        shutdown_rx.clone(),
    ));
    tasks.extend([raft_server, api_server, bootstrap, watcher, disk_watch]);
    if let (Some(listener), Some(metrics)) = (http_listener, node_metrics) {
        let ops = Arc::new(crate::ops::Ops {
            engine: local.clone(),
            metrics,
            password_dashboard: config.password_dashboard.clone(),
        });
        tasks.push(tokio::spawn(crate::ops::serve(
            listener,
            node_tls.api_server.clone(),
            ops,
            shutdown_rx.clone(),
        )));
    }
    if let Some(scheduler) = backup_scheduler(&config, &local, store)? {
        tasks.push(tokio::spawn(scheduler.run(shutdown_rx.clone())));
    }
    tasks.push(tokio::spawn(crate::cache::expirer::run(
        local.clone(),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(format_upgrade::raise_when_ready(
        local.clone(),
        shutdown_rx,
    )));

    tracing::info!(node_id = config.node_id, raft = %me.raft_addr, api = %me.api_addr, "node started");
    let handle = NodeHandle::new(shutdown_tx, tasks);
    Ok(Client::local(local, handle))
}

async fn bind(addr: &str, what: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on the {what} address {addr}: {e}")))
}

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT) or SIGTERM. For a program that
/// embeds a node, await it and then call [`Client::shutdown`] so a leader hands over first.
///
/// ```no_run
/// # async fn f(client: hiqlite::Client) -> Result<(), hiqlite::Error> {
/// hiqlite::shutdown_signal().await;
/// client.shutdown().await
/// # }
/// ```
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        // No SIGTERM handler could be installed: Ctrl-C alone still works.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The scheduled-backup task when `backup_cron` is set (validation made sure a store exists).
///
/// # Errors
/// [`Error::Config`] when the expression does not parse, or there is no backup store.
fn backup_scheduler(
    config: &NodeConfig,
    engine: &Arc<Engine>,
    store: Option<Arc<dyn crate::engine::backups::BackupStore>>,
) -> Result<Option<crate::backup::schedule::Scheduler>, Error> {
    let Some(expr) = &config.backup_cron else {
        return Ok(None);
    };
    let schedule = crate::config::CronSchedule::parse(expr).map_err(Error::Config)?;
    let store = store.ok_or_else(|| {
        Error::Config(format!(
            "backup_cron {expr:?} is set but backups are not (backup_dir or s3_*)"
        ))
    })?;
    Ok(Some(crate::backup::schedule::Scheduler {
        engine: engine.clone(),
        store,
        schedule,
        keep_days_local: config.backup_keep_days_local,
        keep_days: config.backup_keep_days,
    }))
}

/// The engine's backup store: `local`, and with S3 configured (feature `s3`) each backup also
/// uploaded to the bucket.
///
/// # Errors
/// [`Error::Config`] when the S3 settings cannot make a client (validation catches the rest).
fn backup_store(
    local: crate::backup::LocalBackups,
    s3: &crate::config::S3Config,
) -> Result<Arc<dyn crate::engine::backups::BackupStore>, Error> {
    #[cfg(feature = "s3")]
    if s3.is_set() {
        let store = crate::backup::s3::S3Backups::new(local, s3, Default::default())
            .map_err(|e| Error::Config(e.to_string()))?;
        return Ok(Arc::new(store));
    }
    #[cfg(not(feature = "s3"))]
    let _ = s3;
    Ok(Arc::new(local))
}
