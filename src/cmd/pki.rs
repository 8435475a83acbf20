//! `custos pki …`: the appliance CA, the server certificate, client certificates (a person or a
//! device of an agency). Keys are written 0600; existing files are never replaced.

use std::path::PathBuf;

use anyhow::{Context, Result};
use custos_grpc::pki;

/// Default directory of the appliance PKI.
pub const DEFAULT_PKI_DIR: &str = "/etc/custos/pki";

#[derive(clap::Subcommand)]
pub enum Command {
    /// Creates the CA (ca.pem, ca.key) that signs the server and client certificates.
    Init {
        #[arg(long, default_value = DEFAULT_PKI_DIR)]
        dir: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "Custos appliance CA")]
        name: String,
    },
    /// Issues server.pem and server.key for the names clients connect to.
    Server {
        #[arg(long, default_value = DEFAULT_PKI_DIR)]
        dir: PathBuf,
        /// DNS names or IP addresses of the appliance (repeat the flag).
        #[arg(long = "name", required = true)]
        names: Vec<String>,
    },
    /// Issues a client certificate naming an agency and a person (their principal name) or,
    /// with --device, a device any principal of the agency may log in through.
    Client {
        #[arg(long, default_value = DEFAULT_PKI_DIR)]
        dir: PathBuf,
        #[arg(long)]
        agency: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        device: bool,
        /// Where to write <agency>-<name>.pem and .key (default: DIR/clients).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Init { dir, name } => {
            let ca = pki::create_ca(&dir, &name)
                .with_context(|| format!("cannot create the CA in {}", dir.display()))?;
            println!(
                "created CA {} (key {}, mode 0600)",
                ca.display(),
                dir.join(pki::CA_KEY).display()
            );
        }
        Command::Server { dir, names } => {
            let cert = pki::issue_server(&dir, &names).with_context(|| {
                format!("cannot issue the server certificate in {}", dir.display())
            })?;
            println!("issued {} for {}", cert.display(), names.join(", "));
        }
        Command::Client {
            dir,
            agency,
            name,
            device,
            out,
        } => {
            let out = out.unwrap_or_else(|| dir.join("clients"));
            let (cert, key) =
                pki::issue_client(&dir, &out, &agency, &name, device).with_context(|| {
                    format!("cannot issue a client certificate for {agency}/{name}")
                })?;
            println!(
                "issued {} {} of agency {agency}: {} (key {}, mode 0600)",
                if device { "device" } else { "person" },
                name,
                cert.display(),
                key.display()
            );
        }
    }
    Ok(())
}
