//! `custos principal add`: creates a principal (the first admin, typically) with an argon2id
//! password and a fresh TOTP secret, shown once. Later principals are created over the API
//! (Admin.CreatePrincipal).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use custos_grpc::auth::{provision_principal, require_password_change};
use custos_grpc::policy::Role;
use custos_grpc::totp;
use custos_store::Access;

use super::agency::Target;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Creates a principal; prints its TOTP secret for the authenticator app (once).
    Add {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        name: String,
        /// admin, supervisor, investigator, operator or auditor.
        #[arg(long)]
        role: String,
        /// File whose first line is the password (never on the command line).
        #[arg(
            long,
            conflicts_with = "password_env",
            required_unless_present = "password_env"
        )]
        password_file: Option<PathBuf>,
        /// Environment variable holding the password.
        #[arg(long)]
        password_env: Option<String>,
        /// The password is a one-time enrolment code: the principal must replace it
        /// (Auth.ChangePassword) before doing anything else.
        #[arg(long)]
        one_time: bool,
    },
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

pub fn run(args: Args) -> Result<()> {
    let Command::Add {
        target,
        name,
        role,
        password_file,
        password_env,
        one_time,
    } = args.command;
    let Some(role) = Role::parse(&role) else {
        bail!("--role {role:?}: admin, supervisor, investigator, operator or auditor");
    };
    let password = match (password_file, password_env) {
        (Some(f), _) => std::fs::read_to_string(&f)
            .with_context(|| format!("cannot read --password-file {}", f.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .to_owned(),
        (None, Some(var)) => {
            std::env::var(&var).with_context(|| format!("--password-env {var}: not set"))?
        }
        (None, None) => bail!("give --password-file or --password-env"),
    };
    let store = super::agency::open(&target)?;
    let access = Access::new("cli", "principal administration");
    let (id, secret) = provision_principal(&store, &access, &name, role, &password)
        .with_context(|| format!("cannot create principal {name}"))?;
    if one_time {
        require_password_change(&store, &access, id)
            .with_context(|| format!("cannot mark {name}'s password as one-time"))?;
    }
    println!(
        "created principal {name} (id {id}, role {}) in agency {}",
        role.as_str(),
        target.agency
    );
    println!("TOTP secret (enter it in the authenticator app; it is not shown again):");
    println!("{}", totp::base32(&secret));
    println!("{}", totp::otpauth_uri(&target.agency, &name, &secret));
    Ok(())
}
