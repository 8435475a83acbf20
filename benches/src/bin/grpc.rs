//! gRPC search benchmark: Reads.Search over TLS 1.3 with client certificates, 1 / 16 / 64
//! concurrent clients (one connection each), against one agency of generated reads (default
//! 1 M over 30 days and 100 cameras). Every call passes the real gate: session check, role,
//! purpose, and a durable audit entry. Prints a table, then one JSON object on the last line.

// The appliance's allocator (see benches/src/lib.rs).
benches::allocator!();

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use benches::synth::{DAY, Rng, ingest, percentile, plate, pool_size};
use clap::Parser;
use custos_grpc::auth::provision_principal;
use custos_grpc::pb;
use custos_grpc::policy::Role;
use custos_grpc::{Server, TlsFiles, pki, totp};
use custos_store::{Access, AgencyStore, Clock, Layout, StoreOptions, SystemClock};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

#[derive(Parser)]
#[command(about = "Custos gRPC search benchmark")]
struct Args {
    /// Reads in the store (spread over --days up to now).
    #[arg(long, default_value_t = 1_000_000)]
    reads: u64,
    #[arg(long, default_value_t = 30)]
    days: u64,
    /// Concurrent clients per step.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Seconds measured per step (after 1 s of warm-up).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Where to put the store (default: a temporary directory).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy)]
enum Kind {
    Exact,
    Wildcard,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Exact => "exact",
            Kind::Wildcard => "wildcard",
        }
    }

    fn query(self, rng: &mut Rng, pool: u64) -> pb::PlateQuery {
        let p = plate(rng.vehicle(pool));
        let kind = match self {
            Kind::Exact => pb::plate_query::Kind::Exact(p),
            // "AB?1*4": one unknown letter, a gap, the last digit — a typical partial plate.
            Kind::Wildcard => {
                let b = p.as_bytes();
                pb::plate_query::Kind::Wildcard(format!(
                    "{}?{}*{}",
                    b[0] as char, b[2] as char, b[6] as char
                ))
            }
        };
        pb::PlateQuery { kind: Some(kind) }
    }
}

struct Step {
    kind: Kind,
    clients: usize,
    calls: usize,
    errors: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    reads_per_call: f64,
}

async fn channel(port: u16, ca: &[u8], cert: &[u8], key: &[u8]) -> Result<Channel> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(Identity::from_pem(cert, key))
        .domain_name("localhost");
    Ok(Channel::from_shared(format!("https://127.0.0.1:{port}"))?
        .tls_config(tls)?
        .connect()
        .await?)
}

async fn step(
    channels: &[Channel],
    token: &str,
    kind: Kind,
    clients: usize,
    seconds: f64,
    pool: u64,
) -> Step {
    let warmup = Duration::from_secs(1);
    let measure = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, ch) in channels.iter().take(clients).enumerate() {
        let (ch, token) = (ch.clone(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut client = pb::reads_client::ReadsClient::new(ch);
            let mut rng = Rng(0x9e37_79b9 + c as u64);
            let (mut lat, mut errors, mut reads) = (Vec::new(), 0usize, 0usize);
            loop {
                let now = start.elapsed();
                if now >= warmup + measure {
                    break;
                }
                let mut req = tonic::Request::new(pb::SearchRequest {
                    query: Some(kind.query(&mut rng, pool)),
                    time: Some(pb::TimeRange {
                        from_ms: 1,
                        to_ms: 0,
                    }),
                    page_size: 100,
                    justification: Some(pb::Justification {
                        reason: "stolen_vehicle".into(),
                        case_number: String::new(),
                    }),
                    ..Default::default()
                });
                if let Ok(v) = format!("Bearer {token}").parse() {
                    req.metadata_mut().insert("authorization", v);
                }
                let t = Instant::now();
                let r = client.search(req).await;
                if now >= warmup {
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                    match r {
                        Ok(r) => reads += r.into_inner().reads.len(),
                        Err(_) => errors += 1,
                    }
                }
            }
            (lat, errors, reads)
        }));
    }
    let (mut lat, mut errors, mut reads) = (Vec::new(), 0, 0);
    for t in tasks {
        if let Ok((l, e, r)) = t.await {
            lat.extend(l);
            errors += e;
            reads += r;
        }
    }
    let calls = lat.len();
    Step {
        kind,
        clients,
        calls,
        errors,
        rps: calls as f64 / seconds,
        p50_ms: percentile(&mut lat, 0.5),
        p99_ms: percentile(&mut lat, 0.99),
        reads_per_call: reads as f64 / calls.max(1) as f64,
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let root = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    let layout = Layout::new(root.join("data"));
    let pki_dir = root.join("pki");
    pki::create_ca(&pki_dir, "bench CA")?;
    pki::issue_server(&pki_dir, &["localhost".into()])?;
    let (cert, key) = pki::issue_client(&pki_dir, &pki_dir, "bench", "desk", true)?;

    let store = Arc::new(AgencyStore::create(
        &layout,
        "bench",
        StoreOptions::default(),
    )?);
    let now = SystemClock.now_ms();
    let start = now - args.days * DAY;
    let pool = pool_size(args.reads);
    eprintln!("ingesting {} reads over {} days…", args.reads, args.days);
    let rate = ingest(&store, start, args.reads, args.days, 10_000, false, pool)?;
    eprintln!("  {rate:.0} reads/s");
    let password = "benchmark password";
    let (_, secret) = provision_principal(
        &store,
        &Access::new("bench", "setup"),
        "analyst",
        Role::Investigator,
        password,
    )?;

    let server = Server::builder(layout)
        .agency(store.clone())
        .tls(TlsFiles {
            cert: pki_dir.join(pki::SERVER_CERT),
            key: pki_dir.join(pki::SERVER_KEY),
            client_ca: pki_dir.join(pki::CA_CERT),
            crl: None,
        })
        .build()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let steps = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        let (ca, cert, key) = (
            std::fs::read(pki_dir.join(pki::CA_CERT))?,
            std::fs::read(&cert)?,
            std::fs::read(&key)?,
        );
        let most = args.clients.iter().copied().max().unwrap_or(1);
        let mut channels = Vec::new();
        for _ in 0..most {
            channels.push(channel(port, &ca, &cert, &key).await?);
        }
        // One session: all connections present the same device certificate it is bound to.
        let token = pb::auth_client::AuthClient::new(channels[0].clone())
            .login(pb::LoginRequest {
                username: "analyst".into(),
                password: password.into(),
                totp_code: totp::code_at(&secret, SystemClock.now_ms()),
                agency: String::new(),
            })
            .await
            .context("login")?
            .into_inner()
            .session_token;
        let mut steps = Vec::new();
        for kind in [Kind::Exact, Kind::Wildcard] {
            for &n in &args.clients {
                let s = step(&channels, &token, kind, n, args.seconds, pool).await;
                eprintln!(
                    "  {:<8} {:>3} clients: {:>7.0} RPC/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
                    kind.name(),
                    n,
                    s.rps,
                    s.p50_ms,
                    s.p99_ms
                );
                steps.push(s);
            }
        }
        let _ = stop.send(());
        let _ = serving.await;
        anyhow::Ok(steps)
    })?;

    let audit_entries = store.audit_log()?.records.len();
    println!(
        "gRPC Reads.Search over TLS 1.3 + client certificates; {} reads over {} days; every call \
         audited (durable commit)",
        args.reads, args.days
    );
    println!(
        "{:<9} {:>7} {:>9} {:>9} {:>9} {:>7} {:>11}",
        "query", "clients", "RPC/s", "p50 ms", "p99 ms", "errors", "reads/call"
    );
    for s in &steps {
        println!(
            "{:<9} {:>7} {:>9.0} {:>9.2} {:>9.2} {:>7} {:>11.1}",
            s.kind.name(),
            s.clients,
            s.rps,
            s.p50_ms,
            s.p99_ms,
            s.errors,
            s.reads_per_call
        );
    }
    let results: Vec<serde_json::Value> = steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "query": s.kind.name(), "clients": s.clients, "calls": s.calls,
                "errors": s.errors, "rpc_per_s": s.rps, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms,
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "reads": args.reads,
            "ingest_reads_per_s": rate,
            "audit_entries": audit_entries,
            "results": results,
        })
    );
    Ok(())
}
