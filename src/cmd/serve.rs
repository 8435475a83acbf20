//! `custos serve --config FILE`: the appliance process. Opens every agency under the data
//! directory and serves the gRPC API (TLS 1.3 with client certificates; plaintext only with
//! --insecure-dev, on loopback). With cameras configured it also runs the pipeline:
//!
//! ingest (one puller per camera) → frame queue → analysis (kernels → OCR → trackers) → pass
//! queue → store writer (hotlist match, batched commits, hits) → gRPC hub (live reads, alerts).
//!
//! Every queue is bounded and every hand-over is `try_send`: a stage that falls behind loses
//! work at its input (counted in `/metrics`), it never blocks the stage before it. Retention
//! runs on its schedule, and so do wipes that come due while serving (the agency's handles are
//! closed: every later call on it fails with `Wiped`). SIGTERM/SIGINT: stop ingest, stop analysis (it flushes its trackers
//! into the writer), drain and commit the writer, then stop gRPC and close the stores.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use custos::analysis::{self, AnalysedCamera, Analysis, Pass};
use custos_grpc::{Hub, Server};
use custos_pipeline::{CameraSettings, Ingest};
use custos_store::{AgencyStore, Layout, RetentionScheduler, StoreOptions};

use crate::config::Config;
use crate::writer::{Writer, WriterConfig, WriterStats};

/// How long gRPC clients (open streams) get to finish after the pipeline has stopped.
const GRPC_GRACE: Duration = Duration::from_secs(5);

/// The running pipeline of one agency's cameras.
struct Pipeline {
    ingest: Ingest,
    analysis: Analysis,
    writer: Writer,
}

impl Pipeline {
    fn start(
        cameras: Vec<CameraSettings>,
        cfg: &Config,
        writer_cfg: WriterConfig,
        store: Arc<AgencyStore>,
        hub: Hub,
        stats: Arc<WriterStats>,
    ) -> Result<Self> {
        let analysed: Vec<AnalysedCamera> = cameras.iter().map(AnalysedCamera::from).collect();
        let (localizer, recognizer) =
            analysis::open_engines(&cfg.analysis, &cfg.ocr).context("cannot start the analysis")?;
        let (passes_tx, passes_rx) = crossbeam_channel::bounded::<Pass>(cfg.analysis.pass_queue);
        let writer = Writer::start(passes_rx, store, hub, writer_cfg, stats)
            .context("cannot start the store writer")?;
        // The analysis owns the only sender: when it stops, the writer drains and ends.
        let analysis = Analysis::start(&analysed, &cfg.analysis, localizer, recognizer, passes_tx)
            .context("cannot start the analysis")?;
        let ingest =
            Ingest::start(cameras, analysis.frames()).context("cannot start the ingest")?;
        Ok(Self {
            ingest,
            analysis,
            writer,
        })
    }

    /// Ingest first (no new frames), then the analysis (analyses what is queued and flushes
    /// every open track as a pass), then the writer (commits what it received).
    fn stop(self) {
        self.ingest.stop();
        let m = self.analysis.stop();
        let passes: u64 = m.cameras.iter().map(|c| c.passes).sum();
        self.writer.join();
        tracing::info!(passes, "pipeline stopped");
    }
}

/// The store that receives the cameras' reads.
fn cameras_store(cfg: &Config, stores: &[Arc<AgencyStore>]) -> Result<Arc<AgencyStore>> {
    match &cfg.store.agency {
        Some(name) => stores
            .iter()
            .find(|s| s.agency() == name)
            .cloned()
            .with_context(|| {
                format!(
                    "[store] agency = {name:?}: no such agency in {} (create it with `custos \
                     agency create`)",
                    cfg.store.data_dir.display()
                )
            }),
        None => match stores {
            [one] => Ok(one.clone()),
            [] => bail!(
                "cameras are configured but {} holds no agency to store their reads (create one \
                 with `custos agency create`)",
                cfg.store.data_dir.display()
            ),
            _ => bail!(
                "cameras are configured and {} holds several agencies: name the one that \
                 receives their reads with [store] agency",
                cfg.store.data_dir.display()
            ),
        },
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    config: PathBuf,
    /// Serve plaintext without client certificates, for development. Refused unless the
    /// listen address is a loopback address.
    #[arg(long)]
    insecure_dev: bool,
}

pub fn run(args: Args) -> Result<()> {
    let cfg = Config::load(&args.config)?;
    let path = args.config.display();
    let auth = cfg.grpc.auth().with_context(|| format!("{path}"))?;
    let tls = cfg.grpc.tls().with_context(|| format!("{path}"))?;
    let listen = cfg.grpc.listen;
    let cameras = cfg.cameras(&args.config)?;
    let writer_cfg = cfg
        .store
        .writer(&cfg.hotlist_match)
        .with_context(|| format!("{path}"))?;
    match (&tls, args.insecure_dev) {
        (_, true) => custos_grpc::server::check_loopback(listen)?,
        (Some(_), false) => {}
        (None, false) => bail!(
            "{path}: [grpc] tls_cert, tls_key and client_ca are required (create them with \
             `custos pki`); --insecure-dev serves plaintext on loopback for development"
        ),
    }
    let layout = Layout::new(&cfg.store.data_dir);
    // Decommissioned agencies whose grace period has ended are wiped before anything opens them
    // (each wipe leaves a signed certificate in the appliance log).
    let wiped = custos_store::run_due_wipes(&layout, &custos_store::SystemClock)
        .context("cannot carry out the wipes that are due")?;
    for cert in &wiped {
        tracing::info!(agency = %cert.agency, files = cert.files.len(), "agency wiped after its grace period");
    }
    let cache = cfg.store.cache_mb << 20;
    let mut builder = Server::builder(layout)
        .open_all(|| StoreOptions {
            cache_bytes: cache,
            ..StoreOptions::default()
        })
        .with_context(|| {
            format!(
                "cannot open the agencies in {}",
                cfg.store.data_dir.display()
            )
        })?
        .auth(auth)
        .max_request_bytes(cfg.grpc.max_request_bytes)
        .insecure_dev(args.insecure_dev);
    if let (Some(files), false) = (tls, args.insecure_dev) {
        builder = builder.tls(files);
    }
    let stores = builder.stores();
    let cameras_store = if cameras.is_empty() {
        None
    } else {
        Some(cameras_store(&cfg, &stores).with_context(|| format!("{path}"))?)
    };
    let server = builder.build().context("cannot start the gRPC server")?;
    let hub = server.hub();
    let stats = Arc::new(WriterStats::default());
    let pipeline: Arc<Mutex<Option<Pipeline>>> = Arc::default();
    // Printed after the gRPC line, which scripts wait for first.
    let mut notes = Vec::new();
    if let Some(store) = &cameras_store {
        let n = cameras.len();
        let p = Pipeline::start(
            cameras,
            &cfg,
            writer_cfg,
            store.clone(),
            hub.clone(),
            stats.clone(),
        )?;
        *pipeline.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
        notes.push(format!(
            "custos: {n} cameras, reads to agency {}",
            store.agency()
        ));
    }
    let metrics = if cfg.metrics.enabled {
        let (p, s) = (pipeline.clone(), stats.clone());
        let agency = cameras_store.as_ref().map(|s| s.agency().to_owned());
        let m = crate::http::MetricsServer::start(cfg.metrics.listen, move || {
            let mut out = match &*p.lock().unwrap_or_else(|e| e.into_inner()) {
                Some(p) => analysis::render(&p.analysis.metrics(), &p.ingest.status()),
                None => String::new(),
            };
            if let Some(a) = &agency {
                out.push_str(&s.render(a));
            }
            out
        })
        .with_context(|| format!("cannot serve metrics on {}", cfg.metrics.listen))?;
        notes.push(format!("custos: metrics on http://{}/metrics", m.addr()));
        Some(m)
    } else {
        None
    };
    // Each scheduler also wipes its agency once a decommissioning grace period ends.
    let _purge: Vec<RetentionScheduler> = match cfg.store.purge_interval_minutes {
        0 => Vec::new(),
        m => stores
            .into_iter()
            .map(|s| RetentionScheduler::start(s, Duration::from_secs(m * 60)))
            .collect(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        println!(
            "custos: serving gRPC on {addr} ({})",
            if args.insecure_dev {
                "PLAINTEXT, development only"
            } else {
                "TLS 1.3, client certificates"
            }
        );
        for n in notes {
            println!("{n}");
        }
        if let Some(store) = &cameras_store {
            tokio::spawn(publish_camera_status(
                pipeline.clone(),
                hub.clone(),
                store.agency().to_owned(),
            ));
        }
        let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = server.serve(listener, async {
            let _ = grpc_stopped.await;
        });
        tokio::pin!(serve);
        tokio::select! {
            r = &mut serve => return r.context("gRPC server failed"),
            _ = shutdown() => {}
        }
        tracing::info!("stopping");
        // The pipeline first, while gRPC still serves: its last reads and alerts reach the
        // live streams.
        let p = pipeline.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(p) = p {
            tokio::task::spawn_blocking(move || p.stop())
                .await
                .context("stopping the pipeline")?;
        }
        let _ = stop_grpc.send(());
        match tokio::time::timeout(GRPC_GRACE, serve).await {
            Ok(r) => r.context("gRPC server failed"),
            Err(_) => {
                // Open streams (StreamAlerts) never end by themselves.
                tracing::info!("gRPC streams still open after the grace period; closing them");
                Ok(())
            }
        }
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    if let Some(m) = metrics {
        m.stop();
    }
    println!(
        "custos: stopped ({} reads stored, {} hits)",
        stats
            .reads_stored
            .load(std::sync::atomic::Ordering::Relaxed),
        stats.hits.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}

/// Copies the ingest's per-camera state into the hub every second, for `Cameras.CameraStatus`.
async fn publish_camera_status(pipeline: Arc<Mutex<Option<Pipeline>>>, hub: Hub, agency: String) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let status = match &*pipeline.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(p) => p.ingest.status(),
            None => return,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        for s in status {
            let state = serde_json::to_value(s.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let detail = match &s.last_error {
                Some(e) => e.clone(),
                None => format!("{:.1} fps decoded", s.fps),
            };
            hub.set_camera_status(
                &agency,
                s.id.as_str(),
                custos_grpc::hub::CameraState {
                    state,
                    detail,
                    updated_at_ms: now,
                },
            );
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cameras_agency_is_named_or_the_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let open =
            |a: &str| Arc::new(AgencyStore::create(&layout, a, StoreOptions::default()).unwrap());
        let (north, south) = (open("north"), open("south"));
        let cfg =
            |agency: &str| -> Config { toml::from_str(&format!("[store]\n{agency}")).unwrap() };
        let none = cfg("");
        assert_eq!(
            cameras_store(&none, std::slice::from_ref(&north))
                .unwrap()
                .agency(),
            "north"
        );
        let e = cameras_store(&none, &[north.clone(), south.clone()])
            .err()
            .unwrap();
        assert!(e.to_string().contains("[store] agency"), "{e}");
        assert!(cameras_store(&none, &[]).is_err());
        let named = cfg("agency = \"south\"");
        assert_eq!(
            cameras_store(&named, &[north.clone(), south])
                .unwrap()
                .agency(),
            "south"
        );
        let e = cameras_store(&cfg("agency = \"west\""), &[north])
            .err()
            .unwrap();
        assert!(e.to_string().contains("west"), "{e}");
    }
}
