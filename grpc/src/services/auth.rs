//! Auth: Login, Logout, EnrollTotp, ChangePassword.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{caller, on_store};
use crate::auth::{LoginError, check_login, hash_password, new_totp_secret, verify_password};
use crate::error::store_status;
use crate::pb;
use crate::policy::Role;
use crate::state::Shared;
use crate::totp;

pub struct AuthSvc {
    shared: Arc<Shared>,
}

impl AuthSvc {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[tonic::async_trait]
impl pb::auth_server::Auth for AuthSvc {
    async fn login(
        &self,
        req: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        // A person's certificate admits only that person; a device's, anyone of its agency.
        if let Some(peer) = &c.peer
            && !peer.device
            && peer.name != r.username
        {
            return Err(Status::permission_denied(
                "this client certificate belongs to another person",
            ));
        }
        let (store, cfg) = (c.store.clone(), self.shared.sessions.config().clone());
        let permit = self.shared.password_check_permit()?;
        let (id, principal, must_change) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            check_login(&store, &cfg, &r.username, &r.password, &r.totp_code)
        })
        .await
        .map_err(|_| Status::internal("login worker failed"))?
        .map_err(|e| match e {
            LoginError::BadCredentials => Status::unauthenticated(e.to_string()),
            LoginError::Locked { .. } => Status::resource_exhausted(e.to_string()),
            LoginError::Store(e) => store_status(&e),
        })?;
        let role = Role::parse(&principal.role).ok_or_else(|| {
            Status::permission_denied(format!("principal has unknown role {:?}", principal.role))
        })?;
        let (token, session) = self
            .shared
            .sessions
            .issue(
                &c.agency,
                id,
                &principal.name,
                role,
                c.peer.as_ref().map(|p| p.fingerprint),
                must_change,
            )
            .map_err(|e| Status::internal(e.to_string()))?;
        tracing::info!(agency = %c.agency, principal_id = id, "login");
        c.set_result_count(1);
        Ok(Response::new(pb::LoginResponse {
            session_token: token,
            expires_at_ms: self.shared.sessions.expires_at_ms(&session),
            idle_timeout_s: self.shared.sessions.config().idle.as_secs(),
            role: role.as_str().into(),
            agency: c.agency,
            must_change_password: must_change,
        }))
    }

    async fn logout(&self, req: Request<pb::Empty>) -> Result<Response<pb::Empty>, Status> {
        let c = caller(&req)?;
        if let Some(t) = &c.token {
            self.shared.sessions.revoke(t);
        }
        Ok(Response::new(pb::Empty {}))
    }

    async fn enroll_totp(
        &self,
        req: Request<pb::EnrollTotpRequest>,
    ) -> Result<Response<pb::EnrollTotpResponse>, Status> {
        let c = caller(&req)?;
        let session = c
            .session
            .clone()
            .ok_or_else(|| Status::unauthenticated("no session"))?;
        let password = req.into_inner().password;
        let who = super::access(&c, "totp enrolment");
        let pid = session.principal_id;
        let permit = self.shared.password_check_permit()?;
        let secret = on_store(&c, move |store| {
            let _permit = permit;
            let _held = store.lock_login(pid);
            let Some(mut secrets) = store.login_secrets(pid)? else {
                return Ok(None);
            };
            if !verify_password(&secrets.password_hash, &password) {
                return Ok(None);
            }
            secrets.totp_secret =
                new_totp_secret().map_err(|e| custos_store::StoreError::BadInput(e.to_string()))?;
            secrets.totp_last_step = 0;
            store.set_login_secrets(&who, pid, &secrets)?;
            Ok(Some(secrets.totp_secret))
        })
        .await?
        .ok_or_else(|| Status::unauthenticated("wrong password"))?;
        self.shared
            .sessions
            .revoke_principal(&c.agency, session.principal_id);
        Ok(Response::new(pb::EnrollTotpResponse {
            secret_base32: totp::base32(&secret),
            otpauth_uri: totp::otpauth_uri(&c.agency, &session.principal, &secret),
        }))
    }

    async fn change_password(
        &self,
        req: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        let c = caller(&req)?;
        let (Some(session), Some(token)) = (c.session.clone(), c.token.clone()) else {
            return Err(Status::unauthenticated("no session"));
        };
        let r = req.into_inner();
        if r.new_password == r.current_password {
            return Err(Status::invalid_argument(
                "the new password must differ from the current one",
            ));
        }
        let who = super::access(&c, "password change");
        let pid = session.principal_id;
        let permit = self.shared.password_check_permit()?;
        let changed = on_store(&c, move |store| {
            let _permit = permit;
            let _held = store.lock_login(pid);
            let Some(mut secrets) = store.login_secrets(pid)? else {
                return Ok(Err(Status::unauthenticated("wrong password")));
            };
            if !verify_password(&secrets.password_hash, &r.current_password) {
                return Ok(Err(Status::unauthenticated("wrong password")));
            }
            secrets.password_hash = match hash_password(&r.new_password) {
                Ok(h) => h,
                Err(e) => return Ok(Err(Status::invalid_argument(e.to_string()))),
            };
            secrets.must_change_password = false;
            store.set_login_secrets(&who, pid, &secrets)?;
            Ok(Ok(()))
        })
        .await?;
        changed?;
        self.shared
            .sessions
            .password_changed(&c.agency, pid, &token);
        c.set_result_count(1);
        Ok(Response::new(pb::Empty {}))
    }
}
