//! `custos agency …`: provision an agency, export its data, verify an export, schedule its wipe.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use custos_store::{Access, AgencyStore, Layout, StoreOptions, SystemClock};

/// Default data directory of the appliance.
pub use crate::config::DEFAULT_DATA_DIR;

#[derive(clap::Args)]
pub struct Target {
    /// The appliance data directory.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The agency id.
    #[arg(long)]
    pub agency: String,
}

#[derive(clap::Args)]
pub struct Who {
    /// Who runs this command (recorded in the audit log).
    #[arg(long, default_value = "cli")]
    principal: String,
    /// Why (recorded in the audit log).
    #[arg(long, default_value = "administration")]
    reason: String,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Creates an agency: its directory, master key file (0600), keyring and database.
    Create {
        #[command(flatten)]
        target: Target,
    },
    /// Writes an export bundle (reads decrypted with crops, hotlists, holds, audit log, signed
    /// manifest) to a new directory.
    Export {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        who: Who,
        /// Output directory (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
    },
    /// Checks an export bundle: manifest signature, every file's SHA-256, the audit chain.
    VerifyExport {
        dir: PathBuf,
        /// The appliance public key (hex) printed when the agency was created: a bundle signed
        /// by any other key is refused.
        #[arg(long)]
        public_key: String,
    },
    /// Schedules the agency for wiping after a grace period; it accepts no new data meanwhile.
    Decommission {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        who: Who,
        #[arg(long, default_value_t = custos_store::DEFAULT_GRACE_DAYS)]
        grace_days: u32,
    },
    /// Wipes every agency whose grace period has passed, writing signed wipe certificates to the
    /// appliance audit log.
    WipeDue {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

pub fn open(target: &Target) -> Result<AgencyStore> {
    AgencyStore::open(
        &Layout::new(&target.data_dir),
        &target.agency,
        StoreOptions::default(),
    )
    .with_context(|| format!("cannot open agency {}", target.agency))
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Create { target } => {
            let layout = Layout::new(&target.data_dir);
            let store = AgencyStore::create(&layout, &target.agency, StoreOptions::default())
                .with_context(|| format!("cannot create agency {}", target.agency))?;
            println!(
                "created agency {} at {} (master key {}, mode 0600)",
                store.agency(),
                layout.agency_dir(store.agency()).display(),
                layout.key_path(store.agency()).display()
            );
            let public = custos_store::appliance::signing_key(&layout)
                .context("cannot load the appliance signing key")?
                .verifying_key();
            println!(
                "appliance public key: {}\n  keep it outside the appliance: verifying an export \
                 (verify-export --public-key) needs it",
                hex::encode(public.to_bytes())
            );
        }
        Command::Export { target, who, out } => {
            let store = open(&target)?;
            let summary = store
                .export(&Access::new(&who.principal, &who.reason), &out, true)
                .with_context(|| format!("export to {} failed", out.display()))?;
            println!(
                "exported {} reads ({} crops), {} audit entries, {} files to {}",
                summary.reads,
                summary.crops,
                summary.audit_entries,
                summary.files,
                out.display()
            );
        }
        Command::VerifyExport { dir, public_key } => {
            let key = pinned_key(&public_key)?;
            let report = custos_store::verify_export(&dir, Some(&key))
                .with_context(|| format!("cannot read export {}", dir.display()))?;
            for p in &report.problems {
                println!("{p}");
            }
            println!("audit log: {}", report.audit);
            if !report.ok() {
                bail!("export {} does not verify", dir.display());
            }
            println!(
                "OK: export of agency {} verifies ({} files, signed by appliance key {})",
                report.agency, report.files, report.public_key
            );
        }
        Command::Decommission {
            target,
            who,
            grace_days,
        } => {
            let store = open(&target)?;
            let d = store.decommission(&Access::new(&who.principal, &who.reason), grace_days)?;
            println!(
                "agency {} scheduled for wiping after {} days (at {} ms since the epoch); export \
                 its data before then",
                d.agency, grace_days, d.wipe_after_ms
            );
        }
        Command::WipeDue { data_dir } => {
            let certs = custos_store::run_due_wipes(&Layout::new(&data_dir), &SystemClock)?;
            for c in &certs {
                println!(
                    "wiped agency {} ({} files); certificate signed",
                    c.agency,
                    c.files.len()
                );
            }
            if certs.is_empty() {
                println!("no agency is due for wiping");
            }
        }
    }
    Ok(())
}

/// The appliance key an export must be signed with, from `--public-key`.
pub fn pinned_key(hex: &str) -> Result<ed25519_dalek::VerifyingKey> {
    custos_store::audit::checkpoint::parse_public_key(hex)
        .context("--public-key is not a hex Ed25519 public key (64 hex digits)")
}
