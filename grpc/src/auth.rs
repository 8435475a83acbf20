//! Authentication: argon2id passwords, TOTP with replay protection, lockout with a growing
//! delay, and sessions (idle and absolute expiry, revocable, bound to the client certificate).
//!
//! Session tokens are 256-bit random bearer secrets; the server keeps only their SHA-256, next to
//! the session's state. The server has to keep state anyway (idle expiry, revocation), so a
//! self-contained sealed token would add nothing. Sessions live in memory: a restart ends them
//! all, which is the safe direction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use custos_store::records::Principal;
use custos_store::{Access, AgencyStore, Clock, LoginSecrets, StoreError};
use sha2::{Digest, Sha256};

use crate::error::GrpcError;
use crate::policy::Role;
use crate::totp;

#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub idle: Duration,
    pub absolute: Duration,
    /// Failed logins allowed before the lockout delay starts.
    pub free_attempts: u32,
    /// The first lockout; each further failure doubles it, up to `lockout_max`.
    pub lockout_base: Duration,
    pub lockout_max: Duration,
    /// Password checks (argon2id, 19 MiB each) running at once; a login beyond it is refused
    /// with RESOURCE_EXHAUSTED, so parallel logins cannot exhaust memory.
    pub max_password_checks: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            free_attempts: 3,
            lockout_base: Duration::from_secs(2),
            lockout_max: Duration::from_secs(15 * 60),
            max_password_checks: 8,
        }
    }
}

pub const MIN_PASSWORD_CHARS: usize = 12;

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane) — the crate's defaults, named
    // here so a dependency update cannot weaken them silently.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> Result<String, GrpcError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(GrpcError::Password(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let salt_bytes: [u8; 16] = random_bytes()?;
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| GrpcError::Password(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| GrpcError::Password(e.to_string()))
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

pub fn random_bytes<const N: usize>() -> Result<[u8; N], GrpcError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| GrpcError::Password(format!("no randomness: {e}")))?;
    Ok(b)
}

/// Login secrets for a new principal or a password reset: the argon2id hash and a fresh TOTP
/// secret (returned for enrolment in an authenticator app).
pub fn new_secrets(password: &str) -> Result<LoginSecrets, GrpcError> {
    Ok(LoginSecrets {
        password_hash: hash_password(password)?,
        totp_secret: new_totp_secret()?,
        ..Default::default()
    })
}

pub fn new_totp_secret() -> Result<Vec<u8>, GrpcError> {
    Ok(random_bytes::<{ totp::SECRET_BYTES }>()?.to_vec())
}

/// Creates a principal with a password and a fresh TOTP secret; returns its id and the secret
/// (for the authenticator app: shown once). Blocking (argon2id). Used by Admin.CreatePrincipal
/// and `custos principal add`.
pub fn provision_principal(
    store: &AgencyStore,
    access: &Access,
    name: &str,
    role: Role,
    password: &str,
) -> Result<(u64, Vec<u8>), GrpcError> {
    if store.find_principal(name)?.is_some() {
        return Err(StoreError::BadInput(format!("principal {name} exists")).into());
    }
    let secrets = new_secrets(password)?;
    let p = Principal {
        name: name.into(),
        role: role.as_str().into(),
        disabled: false,
    };
    let id = store.add_principal(access, &p)?;
    store.set_login_secrets(access, id, &secrets)?;
    Ok((id, secrets.totp_secret))
}

/// Marks a principal's password as a one-time enrolment code that must be replaced at the
/// first login (`custos principal add --one-time`).
pub fn require_password_change(
    store: &AgencyStore,
    access: &Access,
    principal_id: u64,
) -> Result<(), GrpcError> {
    let _held = store.lock_login(principal_id);
    let mut secrets = store
        .login_secrets(principal_id)?
        .ok_or_else(|| StoreError::BadInput(format!("principal {principal_id} has no login")))?;
    secrets.must_change_password = true;
    store.set_login_secrets(access, principal_id, &secrets)?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user, wrong password, wrong or replayed code, disabled principal: one answer,
    /// so the response does not tell which.
    #[error("invalid username, password or TOTP code")]
    BadCredentials,
    #[error("too many failed logins; try again in {retry_after_s} s")]
    Locked { retry_after_s: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A hash to verify against when the user does not exist, so that unknown and known names take
/// the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no-such-user-placeholder").unwrap_or_default())
}

/// Checks password and TOTP for `username` in `store`, updating the lockout state and the last
/// accepted TOTP step. Blocking (argon2id): call from a blocking thread.
pub fn check_login(
    store: &AgencyStore,
    cfg: &AuthConfig,
    username: &str,
    password: &str,
    code: &str,
) -> Result<(u64, Principal, bool), LoginError> {
    let found = store.find_principal(username)?.filter(|(_, p)| !p.disabled);
    // Held to the end: the attempt is counted, and the TOTP step consumed, before the next
    // login of this principal reads the state.
    let _held = found.as_ref().map(|(id, _)| store.lock_login(*id));
    let secrets = match &found {
        Some((id, _)) => store.login_secrets(*id)?,
        None => None,
    };
    let (Some((id, principal)), Some(mut secrets)) = (found, secrets) else {
        verify_password(dummy_hash(), password);
        return Err(LoginError::BadCredentials);
    };
    let now = store.now_ms();
    if secrets.locked_until_ms > now {
        return Err(LoginError::Locked {
            retry_after_s: (secrets.locked_until_ms - now).div_ceil(1000),
        });
    }
    let password_ok = verify_password(&secrets.password_hash, password);
    let step = totp::verify(&secrets.totp_secret, code, now, secrets.totp_last_step);
    match (password_ok, step) {
        (true, Some(step)) => {
            secrets.totp_last_step = step;
            secrets.failed_attempts = 0;
            secrets.locked_until_ms = 0;
            store.update_login_state(id, &secrets)?;
            Ok((id, principal, secrets.must_change_password))
        }
        _ => {
            secrets.failed_attempts = secrets.failed_attempts.saturating_add(1);
            if secrets.failed_attempts >= cfg.free_attempts {
                let doublings = (secrets.failed_attempts - cfg.free_attempts).min(20);
                let delay = cfg
                    .lockout_base
                    .saturating_mul(1 << doublings)
                    .min(cfg.lockout_max);
                secrets.locked_until_ms = now + delay.as_millis() as u64;
            }
            store.update_login_state(id, &secrets)?;
            Err(LoginError::BadCredentials)
        }
    }
}

#[derive(Clone, Debug)]
pub struct Session {
    pub agency: String,
    pub principal_id: u64,
    pub principal: String,
    pub role: Role,
    /// The client certificate the session was issued over; it must be presented again.
    pub cert: Option<[u8; 32]>,
    pub created_ms: u64,
    pub last_ms: u64,
    /// Logged in with a one-time enrolment code: only ChangePassword and Logout are allowed.
    pub must_change_password: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("invalid or revoked session token")]
    Unknown,
    #[error("session expired; log in again")]
    Expired,
}

/// The live sessions, keyed by the SHA-256 of their token.
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    clock: Arc<dyn Clock>,
    cfg: AuthConfig,
}

impl Sessions {
    pub fn new(clock: Arc<dyn Clock>, cfg: AuthConfig) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            clock,
            cfg,
        }
    }

    pub fn config(&self) -> &AuthConfig {
        &self.cfg
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// Starts a session; returns its token (shown to the client once).
    pub fn issue(
        &self,
        agency: &str,
        principal_id: u64,
        principal: &str,
        role: Role,
        cert: Option<[u8; 32]>,
        must_change_password: bool,
    ) -> Result<(String, Session), GrpcError> {
        let token = format!("cst1.{}", hex::encode(random_bytes::<32>()?));
        let now = self.now_ms();
        let s = Session {
            agency: agency.into(),
            principal_id,
            principal: principal.into(),
            role,
            cert,
            created_ms: now,
            last_ms: now,
            must_change_password,
        };
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // Forget expired sessions now and then, so abandoned ones do not pile up.
        map.retain(|_, s| !self.expired(s, now));
        map.insert(Self::key(&token), s.clone());
        Ok((token, s))
    }

    fn expired(&self, s: &Session, now: u64) -> bool {
        now.saturating_sub(s.last_ms) > self.cfg.idle.as_millis() as u64
            || now.saturating_sub(s.created_ms) > self.cfg.absolute.as_millis() as u64
    }

    /// The session of `token`, touched (idle timer restarted), or why not.
    pub fn check(&self, token: &str) -> Result<Session, SessionError> {
        let now = self.now_ms();
        let key = Self::key(token);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = map.get_mut(&key) else {
            return Err(SessionError::Unknown);
        };
        if self.expired(s, now) {
            map.remove(&key);
            return Err(SessionError::Expired);
        }
        s.last_ms = now;
        Ok(s.clone())
    }

    pub fn revoke(&self, token: &str) -> bool {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&Self::key(token))
            .is_some()
    }

    /// Ends every session of a principal (role change, disabling, TOTP re-enrolment).
    pub fn revoke_principal(&self, agency: &str, principal_id: u64) -> usize {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let before = map.len();
        map.retain(|_, s| !(s.agency == agency && s.principal_id == principal_id));
        before - map.len()
    }

    /// After a password change: every other session of the principal ends, and `token`'s is
    /// released from the one-time-code restriction.
    pub fn password_changed(&self, agency: &str, principal_id: u64, token: &str) {
        let keep = Self::key(token);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, s| *k == keep || !(s.agency == agency && s.principal_id == principal_id));
        if let Some(s) = map.get_mut(&keep) {
            s.must_change_password = false;
        }
    }

    /// Absolute expiry of a session.
    pub fn expires_at_ms(&self, s: &Session) -> u64 {
        s.created_ms + self.cfg.absolute.as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_store::ManualClock;

    #[test]
    fn sessions_expire_idle_and_absolute_and_revoke() {
        let clock = ManualClock::new(1_000_000);
        let s = Sessions::new(Arc::new(clock.clone()), AuthConfig::default());
        let (tok, _) = s
            .issue("north", 1, "jane", Role::Investigator, None, false)
            .unwrap();
        assert!(s.check(&tok).is_ok());
        assert_eq!(s.check("cst1.forged").err(), Some(SessionError::Unknown));
        // Activity every 29 minutes keeps it alive...
        for _ in 0..24 {
            clock.advance_ms(29 * 60_000);
            assert!(s.check(&tok).is_ok());
        }
        // ...until the absolute 12 h limit.
        clock.advance_ms(29 * 60_000);
        assert_eq!(s.check(&tok).err(), Some(SessionError::Expired));
        let (tok, _) = s
            .issue("north", 1, "jane", Role::Investigator, None, false)
            .unwrap();
        clock.advance_ms(31 * 60_000);
        assert_eq!(s.check(&tok).err(), Some(SessionError::Expired));
        let (tok, _) = s
            .issue("north", 1, "jane", Role::Investigator, None, false)
            .unwrap();
        assert_eq!(s.revoke_principal("north", 1), 1);
        assert_eq!(s.check(&tok).err(), Some(SessionError::Unknown));
    }

    #[test]
    fn passwords() {
        assert!(hash_password("short").is_err());
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse battery!"));
        assert!(!verify_password("garbage", "x"));
    }
}
