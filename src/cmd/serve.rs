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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use custos_analysis as analysis;
use custos_grpc::Server;
use custos_live::Hub;
use custos_store::{AgencyStore, Layout, RetentionScheduler, StoreOptions};

use crate::config::Config;
use custos_analysis::camera_pipeline::{CameraPipeline, PipelineConfig};
use custos_analysis::writer::WriterStats;

/// How long gRPC clients (open streams) get to finish after the pipeline has stopped.
const GRPC_GRACE: Duration = Duration::from_secs(5);
/// How often the registered cameras are compared with what the pipeline runs.
const CAMERA_SYNC: Duration = Duration::from_secs(1);

/// The agency whose store receives the cameras' reads: the one `[store] agency` names, else the
/// only agency. None when neither applies and no camera is configured (cameras registered over
/// gRPC are then stored but not read).
fn cameras_store(
    cfg: &Config,
    stores: &[Arc<AgencyStore>],
    configured: bool,
) -> Result<Option<Arc<AgencyStore>>> {
    match (&cfg.store.agency, stores) {
        (Some(name), _) => stores
            .iter()
            .find(|s| s.agency() == name)
            .cloned()
            .map(Some)
            .with_context(|| {
                format!(
                    "[store] agency = {name:?}: no such agency in {} (create it with `custos \
                     agency create`)",
                    cfg.store.data_dir.display()
                )
            }),
        (None, [one]) => Ok(Some(one.clone())),
        (None, _) if !configured => Ok(None),
        (None, []) => bail!(
            "cameras are configured but {} holds no agency to store their reads (create one \
             with `custos agency create`)",
            cfg.store.data_dir.display()
        ),
        (None, _) => bail!(
            "cameras are configured and {} holds several agencies: name the one that \
             receives their reads with [store] agency",
            cfg.store.data_dir.display()
        ),
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
    serve(cfg, &args.config, args.insecure_dev, |_| {
        std::future::pending::<Result<()>>()
    })
}

/// What a [`serve`] caller's own task gets once the gRPC server listens.
pub(crate) struct Serving {
    /// The gRPC address, with the port the system picked when the config says 0.
    pub addr: SocketAddr,
    cameras: Option<Arc<CameraPipeline>>,
}

impl Serving {
    /// The ingest's camera table and the analysis rates since the previous call.
    pub fn status_text(&self, earlier: &mut Option<analysis::MetricsSnapshot>) -> String {
        let Some((now, status)) = self
            .cameras
            .as_ref()
            .and_then(|c| c.with(|p| (p.analysis.metrics(), p.ingest.status())))
        else {
            return String::new();
        };
        let mut out = crate::status_table::render(&status);
        if let Some(before) = earlier.as_ref() {
            for (r, c) in now.rates(before).iter().zip(&now.cameras) {
                out.push_str(&format!(
                    "{:<12} analysing {:>4.1} fps, {} passes\n",
                    r.camera.as_str(),
                    r.fps_analysed,
                    c.passes
                ));
            }
        }
        *earlier = Some(now);
        out
    }
}

/// Runs the appliance process for `cfg` (read from `config_path`, which errors name) until
/// SIGINT/SIGTERM or until `task` — started once gRPC listens, given the address — ends.
pub(crate) fn serve<F, T>(
    cfg: Config,
    config_path: &Path,
    insecure_dev: bool,
    task: F,
) -> Result<()>
where
    F: FnOnce(Serving) -> T,
    T: std::future::Future<Output = Result<()>>,
{
    let path = config_path.display();
    let auth = cfg.grpc.auth().with_context(|| format!("{path}"))?;
    let tls = cfg.grpc.tls().with_context(|| format!("{path}"))?;
    let listen = cfg.grpc.listen;
    let cameras = cfg.cameras(config_path)?;
    let writer_cfg = cfg
        .store
        .writer(&cfg.hotlist_match)
        .with_context(|| format!("{path}"))?;
    match (&tls, insecure_dev) {
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
        .insecure_dev(insecure_dev);
    if let (Some(files), false) = (tls, insecure_dev) {
        builder = builder.tls(files);
    }
    let stores = builder.stores();
    let cameras_store =
        cameras_store(&cfg, &stores, !cameras.is_empty()).with_context(|| format!("{path}"))?;
    let server = builder.build().context("cannot start the gRPC server")?;
    let hub = server.hub();
    let stats = Arc::new(WriterStats::default());
    let cfg = Arc::new(cfg);
    // Printed after the gRPC line, which scripts wait for first.
    let mut notes = Vec::new();
    let pipeline = match cameras_store {
        Some(store) => {
            let engines = Arc::new(PipelineConfig {
                ingest: cfg.ingest.clone(),
                ocr: cfg.ocr.clone(),
                analysis: cfg.analysis.clone(),
            });
            let p = CameraPipeline::start(
                engines,
                cameras,
                store,
                writer_cfg,
                hub.clone(),
                stats.clone(),
            )?;
            hub.set_configured_cameras(p.agency(), p.configured());
            notes.push(format!(
                "custos: {} cameras, reads to agency {}",
                p.cameras(),
                p.agency()
            ));
            Some(Arc::new(p))
        }
        None => None,
    };
    let metrics = if cfg.metrics.enabled {
        let (p, s) = (pipeline.clone(), stats.clone());
        let m = crate::http::MetricsServer::start(cfg.metrics.listen, move || {
            let Some(p) = &p else {
                return String::new();
            };
            let mut out = p
                .with(|p| analysis::render(&p.analysis.metrics(), &p.ingest.status()))
                .unwrap_or_default();
            out.push_str(&s.render(p.agency()));
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
            if insecure_dev {
                "PLAINTEXT, development only"
            } else {
                "TLS 1.3, client certificates"
            }
        );
        for n in notes {
            println!("{n}");
        }
        if let Some(p) = &pipeline {
            tokio::spawn(follow_cameras(p.clone(), hub.clone()));
        }
        let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = server.serve(listener, async {
            let _ = grpc_stopped.await;
        });
        tokio::pin!(serve);
        let task = task(Serving {
            addr,
            cameras: pipeline.clone(),
        });
        // The caller's task failing stops the process as a signal would, cleanly.
        let mut outcome = Ok(());
        tokio::select! {
            r = &mut serve => return r.context("gRPC server failed"),
            _ = shutdown() => {}
            r = task => outcome = r,
        }
        tracing::info!("stopping");
        // The pipeline first, while gRPC still serves: its last reads and alerts reach the
        // live streams.
        if let Some(p) = pipeline {
            tokio::task::spawn_blocking(move || p.stop())
                .await
                .context("stopping the pipeline")?;
        }
        let _ = stop_grpc.send(());
        match tokio::time::timeout(GRPC_GRACE, serve).await {
            Ok(r) => r.context("gRPC server failed")?,
            // Open streams (StreamAlerts) never end by themselves.
            Err(_) => {
                tracing::info!("gRPC streams still open after the grace period; closing them")
            }
        }
        outcome
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

/// Every second: restarts the pipeline when the agency's registered cameras changed, and
/// copies the ingest's per-camera state into the hub for `Cameras.CameraStatus`.
async fn follow_cameras(pipeline: Arc<CameraPipeline>, hub: Hub) {
    let mut tick = tokio::time::interval(CAMERA_SYNC);
    loop {
        tick.tick().await;
        let p = pipeline.clone();
        let Ok(status) = tokio::task::spawn_blocking(move || {
            p.sync();
            p.with(|p| p.ingest.status())
        })
        .await
        else {
            return;
        };
        let status = status.unwrap_or_default();
        let running: Vec<&str> = status.iter().map(|s| s.id.as_str()).collect();
        hub.retain_camera_status(pipeline.agency(), &running);
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
                pipeline.agency(),
                s.id.as_str(),
                custos_live::CameraHealth {
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
        let agency =
            |r: Result<Option<Arc<AgencyStore>>>| r.unwrap().map(|s| s.agency().to_owned());
        let none = cfg("");
        assert_eq!(
            agency(cameras_store(&none, std::slice::from_ref(&north), true)).as_deref(),
            Some("north")
        );
        let both = [north.clone(), south.clone()];
        let e = cameras_store(&none, &both, true).err().unwrap();
        assert!(e.to_string().contains("[store] agency"), "{e}");
        // Without configured cameras several agencies are fine: none receives camera reads.
        assert_eq!(agency(cameras_store(&none, &both, false)), None);
        assert!(cameras_store(&none, &[], true).is_err());
        assert_eq!(agency(cameras_store(&none, &[], false)), None);
        let named = cfg("agency = \"south\"");
        assert_eq!(
            agency(cameras_store(&named, &both, false)).as_deref(),
            Some("south")
        );
        let e = cameras_store(&cfg("agency = \"west\""), &[north], false)
            .err()
            .unwrap();
        assert!(e.to_string().contains("west"), "{e}");
    }
}
