//! `custos demo`: the whole appliance on loopback, with no configuration. It provisions a demo
//! agency in a scratch directory (CA and certificates, agency keys, an admin whose TOTP secret
//! is shown once), starts the built-in test cameras, runs `custos serve` on them (gRPC over
//! mutual TLS on 127.0.0.1), and plays the control room: a console client logs in over gRPC,
//! puts a plate that a camera is about to show on a hotlist, and prints every read (camera,
//! plate, confidence) and the hotlist alert as they arrive on the live streams.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use custos_grpc::auth::{new_totp_secret, provision_principal};
use custos_grpc::pb;
use custos_grpc::policy::Role;
use custos_grpc::{pki, totp};
use custos_pipeline::testcam::{Source, TestCamConfig, TestCamServer, VideoCodec, camera_seed};
use custos_store::{Access, AgencyStore, Layout, StoreOptions};
use custos_synth::plate::PlateFonts;
use custos_synth::scene::{Scene, SceneConfig};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use super::serve::Serving;
use super::testcam::Resolution;
use crate::config::Config;

const AGENCY: &str = "demo";
const HOTLIST: &str = "demo-stolen";
const FPS: u32 = 15;
const SEED: u64 = 1;
/// The hotlisted vehicle enters the picture no earlier than this after the cameras start:
/// time for the server to start and the console to log in and subscribe.
const HOTLIST_LEAD: Duration = Duration::from_secs(12);
/// Between status tables.
const STATUS_EVERY: Duration = Duration::from_secs(10);

#[derive(clap::Args)]
pub struct Args {
    /// Number of test cameras.
    #[arg(long, default_value_t = 4)]
    cameras: usize,
    /// Picture size of the test cameras (360p suits a CPU-only machine).
    #[arg(long, value_enum, default_value = "360p")]
    res: Resolution,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_parser = super::seconds)]
    duration: Option<Duration>,
    /// Keep the demo's keys, database and config in this new or empty directory (default: a
    /// temporary directory, removed at exit).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// What provisioning hands the console client.
struct Console {
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Vec<u8>,
    password: String,
    totp_secret: Vec<u8>,
}

pub fn run(args: Args) -> Result<()> {
    if !(1..=64).contains(&args.cameras) {
        bail!("--cameras {}: give 1 to 64", args.cameras);
    }
    let scratch;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            if std::fs::read_dir(d)?.next().is_some() {
                bail!(
                    "--dir {}: not empty (give a new or empty directory)",
                    d.display()
                );
            }
            d.clone()
        }
        None => {
            scratch = tempfile::Builder::new()
                .prefix("custos-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            scratch.path().to_owned()
        }
    };
    let console = provision(&dir)?;

    let (width, height) = args.res.size();
    let cameras = TestCamServer::start(TestCamConfig {
        cameras: args.cameras,
        address: "127.0.0.1".into(),
        port: 0,
        source: Source::Scene {
            width,
            height,
            fps: FPS,
            codec: VideoCodec::H264,
            seed: SEED,
        },
        ground_truth: None,
        credentials: None,
    })
    .context("cannot start the test cameras")?;
    // The scenes are deterministic: render camera 0's ahead to pick a plate it will show.
    let fonts = Arc::new(PlateFonts::load().context("cannot load the plate fonts")?);
    let scene = Scene::new(
        SceneConfig {
            width,
            height,
            fps: FPS,
            seed: camera_seed(SEED, 0),
        },
        fonts,
    );
    let lead = HOTLIST_LEAD.as_secs() * u64::from(FPS);
    let target = scene
        .first_pass_from(lead, 120 * u64::from(FPS), 5)
        .context("the test scene shows no plate to hotlist")?;
    let enters_in = Duration::from_secs(target.first_frame / u64::from(FPS));

    let config_path = dir.join("custos.toml");
    std::fs::write(&config_path, config_text(&dir, &cameras.urls()))
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let cfg = Config::load(&config_path)?;
    eprintln!(
        "custos demo: {} test cameras ({}x{}) on rtsp://127.0.0.1:{}/cam0…; data, keys and \
         config in {}{}; Ctrl-C stops",
        args.cameras,
        width,
        height,
        cameras.port(),
        dir.display(),
        if args.dir.is_some() {
            ""
        } else {
            " (removed at exit)"
        }
    );
    let plate = target.plate;
    let duration = args.duration;
    super::serve::serve(cfg, &config_path, false, move |serving| {
        control_room(serving, console, plate, enters_in, duration)
    })?;
    drop(cameras);
    Ok(())
}

/// The CA and certificates, the agency, its admin (TOTP secret shown once) and the supervisor
/// account the console logs in with.
fn provision(dir: &Path) -> Result<Console> {
    let pki_dir = dir.join("pki");
    pki::create_ca(&pki_dir, "Custos demo CA").context("cannot create the demo CA")?;
    pki::issue_server(&pki_dir, &["localhost".into(), "127.0.0.1".into()])
        .context("cannot issue the server certificate")?;
    let clients = pki_dir.join("clients");
    let (admin_cert, admin_key) = pki::issue_client(&pki_dir, &clients, AGENCY, "admin", false)
        .context("cannot issue the admin's certificate")?;
    let (console_cert, console_key) =
        pki::issue_client(&pki_dir, &clients, AGENCY, "console", true)
            .context("cannot issue the console's certificate")?;

    let layout = Layout::new(dir.join("data"));
    let store = AgencyStore::create(&layout, AGENCY, StoreOptions::default())
        .context("cannot create the demo agency")?;
    let access = Access::new("demo", "demo provisioning");
    // 160 random bits, written the way TOTP secrets are (base32).
    let random_password = || -> Result<String> { Ok(totp::base32(&new_totp_secret()?)) };
    let admin_password = random_password()?;
    let (_, admin_secret) =
        provision_principal(&store, &access, "admin", Role::Admin, &admin_password)?;
    let password = random_password()?;
    let (_, totp_secret) =
        provision_principal(&store, &access, "console", Role::Supervisor, &password)?;
    drop(store);

    let ca = pki_dir.join(pki::CA_CERT);
    println!("demo agency {AGENCY:?}: administrator \"admin\" (shown once, not stored in clear)");
    println!("  password     {admin_password}");
    println!("  TOTP secret  {}", totp::base32(&admin_secret));
    println!(
        "  client certificate {} (key {}), CA {}",
        admin_cert.display(),
        admin_key.display(),
        ca.display()
    );
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    Ok(Console {
        ca: read(&ca)?,
        cert: read(&console_cert)?,
        key: read(&console_key)?,
        password,
        totp_secret,
    })
}

fn config_text(dir: &Path, urls: &[String]) -> String {
    let (data, pki) = (dir.join("data"), dir.join("pki"));
    let mut text = String::from("# Written by `custos demo`; every key is in docs/config.md.\n");
    for (i, url) in urls.iter().enumerate() {
        text.push_str(&format!(
            "[[cameras]]\nid = \"cam{i}\"\nurl = \"{url}\"\n\n"
        ));
    }
    text.push_str(&format!(
        "[store]\ndata_dir = \"{data}\"\nagency = \"{AGENCY}\"\ncache_mb = 16\n\n\
         [grpc]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{pki}/server.pem\"\n\
         tls_key = \"{pki}/server.key\"\nclient_ca = \"{pki}/ca.pem\"\n\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n",
        data = data.display(),
        pki = pki.display()
    ));
    text
}

/// Adds the session token to a request.
fn authorised<T>(token: &str, message: T) -> Result<tonic::Request<T>> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .context("session token is not ASCII")?,
    );
    Ok(req)
}

/// The console: logs in over gRPC, hotlists `plate`, prints reads and alerts as they arrive
/// and the status table every few seconds; ends after `duration` if given.
async fn control_room(
    serving: Serving,
    console: Console,
    plate: String,
    enters_in: Duration,
    duration: Option<Duration>,
) -> Result<()> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&console.ca))
        .identity(Identity::from_pem(&console.cert, &console.key))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{}", serving.addr))?
        .tls_config(tls)?
        .connect()
        .await
        .context("the console cannot connect to the gRPC server")?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let token = pb::auth_client::AuthClient::new(channel.clone())
        .login(pb::LoginRequest {
            username: "console".into(),
            password: console.password,
            totp_code: totp::code_at(&console.totp_secret, now_ms),
            agency: String::new(),
        })
        .await
        .context("the console cannot log in")?
        .into_inner()
        .session_token;

    let mut hotlists = pb::hotlists_client::HotlistsClient::new(channel.clone());
    let list = hotlists
        .create_hotlist(authorised(
            &token,
            pb::CreateHotlistRequest {
                name: HOTLIST.into(),
                description: "a plate the demo cameras show".into(),
                covert: false,
            },
        )?)
        .await
        .context("cannot create the demo hotlist")?
        .into_inner();
    hotlists
        .add_entry(authorised(
            &token,
            pb::AddEntryRequest {
                hotlist_id: list.id,
                plate: plate.clone(),
                note: "demo".into(),
                ..Default::default()
            },
        )?)
        .await
        .context("cannot add the demo plate to the hotlist")?;
    let mut alerts = hotlists
        .stream_alerts(authorised(&token, pb::StreamAlertsRequest::default())?)
        .await
        .context("cannot follow the alerts")?
        .into_inner();
    let mut live = pb::reads_client::ReadsClient::new(channel)
        .stream_live(authorised(&token, pb::StreamLiveRequest::default())?)
        .await
        .context("cannot follow the live reads")?
        .into_inner();
    println!(
        "console: logged in over gRPC (TLS 1.3, client certificate) as \"console\" \
         (supervisor); hotlist {HOTLIST:?} holds {plate}, which cam0 shows about {} s after \
         the cameras started",
        enters_in.as_secs()
    );

    // The plates are synthetic, so showing them here is fine; logs never carry plate text.
    let deadline = duration.map(|d| tokio::time::Instant::now() + d);
    let mut tick = tokio::time::interval(STATUS_EVERY);
    tick.tick().await;
    let mut earlier = None;
    let _ = serving.status_text(&mut earlier);
    loop {
        let until_end = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = live.message() => match m.context("live reads stream")? {
                Some(pb::StreamLiveResponse { read: Some(r), .. }) => println!(
                    "read   {:<8} {:<10} {:>4.0} %",
                    r.camera,
                    r.plate,
                    r.confidence * 100.0
                ),
                Some(_) => {}
                None => bail!("the server ended the live reads stream"),
            },
            m = alerts.message() => match m.context("alerts stream")? {
                Some(a) => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                    println!(
                        "ALERT  {:<8} {:<10} on hotlist {:?} ({} match), {:.1} s after the \
                         best frame",
                        a.camera,
                        a.plate,
                        a.hotlist_name,
                        a.match_kind,
                        now.saturating_sub(a.captured_at_ms) as f64 / 1e3
                    );
                }
                None => bail!("the server ended the alerts stream"),
            },
            _ = tick.tick() => {
                print!("{}", serving.status_text(&mut earlier));
                let _ = std::io::stdout().flush();
            }
            _ = until_end => return Ok(()),
        }
    }
}
