//! `custos serve --config FILE`: opens every agency under the data directory and serves the
//! gRPC API (TLS 1.3 with client certificates; plaintext only with --insecure-dev, on loopback).
//! Retention runs on its schedule. Ingest is wired in separately (it publishes into the
//! server's `Hub`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use custos_grpc::Server;
use custos_store::{Layout, RetentionScheduler, StoreOptions};

use crate::config::Config;

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
    match (&tls, args.insecure_dev) {
        (_, true) => custos_grpc::server::check_loopback(listen)?,
        (Some(_), false) => {}
        (None, false) => bail!(
            "{path}: [grpc] tls_cert, tls_key and client_ca are required (create them with \
             `custos pki`); --insecure-dev serves plaintext on loopback for development"
        ),
    }
    let layout = Layout::new(&cfg.store.data_dir);
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
    let server = builder.build().context("cannot start the gRPC server")?;
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
        server
            .serve(listener, shutdown())
            .await
            .context("gRPC server failed")
    })?;
    println!("custos: stopped");
    Ok(())
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
