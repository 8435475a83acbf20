//! `custos audit verify`: checks an agency's audit chain (live store or export) and names the
//! exact entry that was altered, inserted, reordered or removed.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Verifies the hash chain and signed checkpoints.
    Verify {
        /// The appliance data directory (with --agency).
        #[arg(long, default_value = super::agency::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Verify this agency's live store.
        #[arg(long, conflicts_with = "export", required_unless_present = "export")]
        agency: Option<String>,
        /// Verify the audit log of an export bundle instead.
        #[arg(long, requires = "public_key")]
        export: Option<PathBuf>,
        /// With --export: the appliance public key printed when the agency was created; the
        /// bundle's checkpoints must be signed by it.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

pub fn run(args: Args) -> Result<()> {
    let Command::Verify {
        data_dir,
        agency,
        export,
        public_key,
    } = args.command;
    let report = match (agency, export) {
        (_, Some(dir)) => {
            let (records, checkpoints) = custos_store::export::read_export_audit(&dir)
                .with_context(|| format!("cannot read the audit log of {}", dir.display()))?;
            let manifest: custos_store::export::Manifest = serde_json::from_slice(
                &std::fs::read(dir.join("manifest.json"))
                    .with_context(|| format!("{}: no manifest.json", dir.display()))?,
            )
            .with_context(|| format!("{}/manifest.json is malformed", dir.display()))?;
            let key = super::agency::pinned_key(public_key.as_deref().unwrap_or_default())?;
            custos_store::audit::verify_chain(
                &records,
                &checkpoints,
                manifest.audit_floor,
                Some(&key),
            )
        }
        (Some(agency), None) => {
            let store = super::agency::open(&super::agency::Target { data_dir, agency })?;
            store.verify_audit()?
        }
        (None, None) => bail!("give --agency or --export"),
    };
    print!("{report}");
    if !report.ok() {
        println!();
        bail!("the audit log does not verify");
    }
    println!();
    Ok(())
}
