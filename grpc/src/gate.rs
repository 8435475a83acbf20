//! The one layer every call passes. In order: the method's rule (unknown methods are refused),
//! the client certificate, the request body (size limit, decoded for the audit entry), the
//! session token, the role's permission, the stated purpose, any sharing grant. Then the
//! handler runs, and the audit entry is written (allowed or denied) before the response leaves:
//! if the entry cannot be written the response is replaced by INTERNAL, so no data goes out
//! unrecorded; a call the client abandons still runs to its audit entry. Handlers never check
//! roles; they read the [`Caller`] this layer attaches.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use custos_store::audit::AuditEvent;
use custos_store::records::{RecordKind, SharingGrant};
use custos_store::{AgencyStore, PurposeRefusal};
use http_body_util::{BodyExt, Full, Limited};
use tonic::body::Body;
use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::audited::CallParams;
use crate::auth::{Session, SessionError};
use crate::identity::{ConnInfo, PeerIdentity};
use crate::policy::{self, MethodRule, RoleTable};
use crate::state::Shared;

/// Another agency's data the caller may see, and the grants that say how much.
#[derive(Clone)]
pub struct SharedFrom {
    pub agency: String,
    pub store: Arc<AgencyStore>,
    pub grants: Vec<SharingGrant>,
}

/// Who is calling, attached to every request that reaches a handler.
#[derive(Clone)]
pub struct Caller {
    pub agency: String,
    pub store: Arc<AgencyStore>,
    /// The session's principal; for Login, the claimed username.
    pub principal: String,
    pub session: Option<Session>,
    pub token: Option<String>,
    pub peer: Option<PeerIdentity>,
    pub shared_from: Option<SharedFrom>,
    pub reason: Option<String>,
    pub case_number: Option<String>,
    /// The method's permission, checked again while a stream stays open.
    permission: Option<policy::Permission>,
    roles: Arc<RoleTable>,
    note: Arc<CallNote>,
}

/// What a handler tells the audit entry: the results returned (for a stream, the messages
/// delivered) and why a stream ended, when the server ended it.
#[derive(Default)]
struct CallNote {
    count: AtomicU64,
    ended: Mutex<Option<String>>,
}

impl Caller {
    /// How many results the call returned, for its audit entry.
    pub fn set_result_count(&self, n: u64) {
        self.note.count.store(n, Ordering::Relaxed);
    }

    /// `n` more results of a stream went to the client.
    pub fn count_delivered(&self, n: u64) {
        self.note.count.fetch_add(n, Ordering::Relaxed);
    }

    /// Whether an open stream may go on: the session is still live (not logged out, expired,
    /// or ended by a role change or disabling) and the agency's role table still allows the
    /// method. On refusal the reason is kept for the stream's closing audit entry.
    pub(crate) fn still_allowed(&self, shared: &Shared) -> Result<(), Status> {
        let (Some(token), Some(permission)) = (&self.token, self.permission) else {
            return Ok(()); // no session was needed to open it
        };
        let verdict = match shared.sessions.check(token) {
            Err(e @ (SessionError::Unknown | SessionError::Expired)) => {
                Err(Status::unauthenticated(format!("the session ended: {e}")))
            }
            Ok(session) => {
                let roles = shared
                    .cached_role_table(&self.agency)
                    .unwrap_or_else(|| self.roles.clone());
                if roles.allows(session.role, permission) {
                    Ok(())
                } else {
                    Err(Status::permission_denied(format!(
                        "role {} may no longer open this stream",
                        session.role.as_str()
                    )))
                }
            }
        };
        if let Err(s) = &verdict {
            *self.note.ended.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(format!("{:?}: {}", s.code(), s.message()));
        }
        verdict
    }

    /// The role's permission check already passed; handlers use this only to shape output
    /// (covert lists, redacted audit parameters), never to allow or refuse.
    pub fn can(&self, p: policy::Permission) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| self.roles.allows(s.role, p))
    }
}

/// What the audit entry of a call will say.
#[derive(Clone, Default)]
struct Draft {
    method: String,
    agency: Option<String>,
    principal: String,
    params: CallParams,
    remote: String,
    /// The agency whose data a call asks for, when not the caller's own.
    owner: Option<String>,
}

#[derive(Clone)]
pub struct GateLayer {
    shared: Arc<Shared>,
}

impl GateLayer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = Gate<S>;
    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<http::Request<Body>> for Gate<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        // The clone is the one that was not polled ready; swap so `inner` is the ready one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        // On its own task: a client that gives up (deadline, reset) drops this future, but the
        // handler's work goes on (blocking tasks cannot be stopped), so the call must still be
        // audited with what it did.
        let call = tokio::spawn(async move {
            let mut draft = Draft {
                method: req.uri().path().to_owned(),
                principal: "anonymous".into(),
                ..Default::default()
            };
            let note = Arc::new(CallNote::default());
            let streaming = policy::rule(&draft.method).is_some_and(|r| r.streaming);
            let admitted = admit(&shared, req, &mut draft, &note).await;
            let response = match admitted {
                Err(status) => status.into_http(),
                Ok(req) => inner.call(req).await?,
            };
            let mut outcome = outcome_of(&response);
            // A stream is audited twice: when it opens, and when it ends with what it delivered.
            let stream_opened = streaming && outcome == "ok";
            if stream_opened {
                outcome = "stream opened".into();
            }
            let count = note.count.load(Ordering::Relaxed);
            if let Err(e) = record(&shared, &draft, &outcome, count).await {
                tracing::error!(error = %e, method = %draft.method, "audit entry not written; response withheld");
                return Ok(Status::internal("the audit log is unavailable").into_http());
            }
            if !stream_opened {
                return Ok(response);
            }
            let end = StreamEnd {
                shared,
                draft,
                note,
                finished: false,
            };
            let (parts, body) = response.into_parts();
            // The closure owns `end`: dropping the body (stream over, or client gone) audits.
            let mut end = end;
            let body = body.map_frame(move |frame| {
                let end = &mut end; // the whole guard, not just the field
                end.finished |= frame.is_trailers();
                frame
            });
            Ok(http::Response::from_parts(parts, Body::new(body)))
        });
        Box::pin(async move {
            match call.await {
                Ok(response) => response,
                Err(e) => {
                    tracing::error!(error = %e, "call task failed");
                    Ok(Status::internal("the call failed").into_http())
                }
            }
        })
    }
}

/// Writes a stream's closing audit entry when its response body is dropped.
struct StreamEnd {
    shared: Arc<Shared>,
    draft: Draft,
    note: Arc<CallNote>,
    /// The body reached its trailers (the server ended the stream) rather than being dropped.
    finished: bool,
}

impl Drop for StreamEnd {
    fn drop(&mut self) {
        let why = self
            .note
            .ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| {
                if self.finished {
                    "completed".into()
                } else {
                    "closed by the client".into()
                }
            });
        let outcome = format!("stream ended: {why}");
        let count = self.note.count.load(Ordering::Relaxed);
        let (shared, draft) = (self.shared.clone(), std::mem::take(&mut self.draft));
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::error!(method = %draft.method, "stream's closing audit entry not written: no runtime");
            return;
        };
        rt.spawn(async move {
            if let Err(e) = record(&shared, &draft, &outcome, count).await {
                tracing::error!(error = %e, method = %draft.method, "stream's closing audit entry not written");
            }
        });
    }
}

/// Everything before the handler. Err: the refusal (audited by the caller).
async fn admit(
    shared: &Arc<Shared>,
    req: http::Request<Body>,
    draft: &mut Draft,
    note: &Arc<CallNote>,
) -> Result<http::Request<Body>, Status> {
    let conn = req
        .extensions()
        .get::<ConnInfo>()
        .cloned()
        .unwrap_or_default();
    draft.remote = conn.remote.map(|a| a.to_string()).unwrap_or_default();
    let Some(rule) = policy::rule(&draft.method) else {
        if let Some(p) = &conn.peer {
            draft.agency = Some(p.agency.clone());
        }
        return Err(Status::permission_denied(
            "method not in the permission table",
        ));
    };
    // 1. TLS and the client certificate.
    if !conn.tls && !shared.insecure_dev {
        return Err(Status::unauthenticated(
            "this port speaks TLS 1.3 only; plaintext refused",
        ));
    }
    match &conn.peer {
        Some(peer) => {
            draft.agency = Some(peer.agency.clone());
            draft.principal = peer.name.clone();
        }
        None if shared.insecure_dev => {}
        None => {
            return Err(Status::unauthenticated(
                "a client certificate issued by the appliance CA is required",
            ));
        }
    }
    // 2. The body: bounded, decoded for the audit entry and the checks below.
    let (parts, body) = req.into_parts();
    let body = match rule.decode {
        Some(decode) => {
            let bytes = read_body(body, shared.max_request_bytes).await?;
            draft.params = decode_frame(&bytes, decode)?;
            Body::new(Full::new(bytes))
        }
        None => body,
    };
    let mut req = http::Request::from_parts(parts, body);
    // 3. The session (every method but Login, health and reflection).
    let session = match rule.permission {
        None => None,
        Some(_) => {
            let token = bearer(&req).ok_or_else(|| {
                Status::unauthenticated("no session token (authorization: Bearer …)")
            })?;
            let session = shared
                .sessions
                .check(&token)
                .map_err(|e| Status::unauthenticated(e.to_string()))?;
            if conn.peer.is_none() {
                // Plaintext development mode: the session names the agency.
                draft.agency = Some(session.agency.clone());
            }
            Some((token, session))
        }
    };
    // 4. The agency: the certificate's (or, insecure dev only, the one Login or the session
    // names).
    if conn.peer.is_none()
        && let Some(a) = &draft.params.login_agency
    {
        draft.agency = Some(a.clone());
    }
    if let (Some(cert_agency), Some(named)) = (
        conn.peer.as_ref().map(|p| &p.agency),
        &draft.params.login_agency,
    ) && cert_agency != named
    {
        return Err(Status::permission_denied(
            "the client certificate belongs to another agency",
        ));
    }
    let agency = draft.agency.clone().unwrap_or_default();
    let Some(store) = shared.agencies.get(&agency).cloned() else {
        draft.agency = None; // no such log: the appliance log records it
        return Err(Status::permission_denied("unknown agency"));
    };
    if let Some(user) = &draft.params.login_user {
        draft.principal = user.clone();
    }
    let roles = match shared.cached_role_table(&agency) {
        Some(t) => t,
        None => {
            let (shared, store) = (shared.clone(), store.clone());
            tokio::task::spawn_blocking(move || shared.role_table(&store))
                .await
                .map_err(|_| Status::internal("role check failed"))?
                .map_err(|e| crate::error::store_status(&e))?
        }
    };
    let mut caller = Caller {
        agency: agency.clone(),
        roles,
        store,
        principal: draft.principal.clone(),
        session: None,
        token: None,
        peer: conn.peer.clone(),
        shared_from: None,
        reason: draft.params.reason.clone(),
        case_number: draft.params.case_number.clone(),
        permission: rule.permission,
        note: note.clone(),
    };
    // 5. The session's binding and the role's permission.
    if let (Some(permission), Some((token, session))) = (rule.permission, session) {
        if session.agency != agency {
            return Err(Status::permission_denied(
                "the session belongs to another agency than the client certificate",
            ));
        }
        if let Some(peer) = &conn.peer
            && session.cert != Some(peer.fingerprint)
        {
            return Err(Status::unauthenticated(
                "the session was issued to another client certificate",
            ));
        }
        // The caller is now known to be the session's principal.
        draft.principal = session.principal.clone();
        caller.principal = session.principal.clone();
        if session.must_change_password
            && !matches!(
                draft.method.as_str(),
                "/custos.v1.Auth/ChangePassword" | "/custos.v1.Auth/Logout"
            )
        {
            return Err(Status::failed_precondition(
                "the password is a one-time enrolment code: replace it with \
                 Auth.ChangePassword first",
            ));
        }
        if !caller.roles.allows(session.role, permission) {
            return Err(Status::permission_denied(format!(
                "role {} may not call {}",
                session.role.as_str(),
                draft.method
            )));
        }
        caller.session = Some(session);
        caller.token = Some(token);
    }
    // 6. The purpose, and 7. any sharing grant.
    if rule.justified {
        check_purpose(&caller.store, &draft.params).await?;
    }
    if let Some(target) = draft.params.target_agency.clone()
        && target != agency
    {
        caller.shared_from = Some(check_grant(shared, rule, draft, &agency, &target).await?);
    }
    req.extensions_mut().insert(caller);
    Ok(req)
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Status> {
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Status::resource_exhausted(
            format!("request larger than {limit} bytes"),
        )),
        Err(e) => Err(Status::cancelled(format!("request body: {e}"))),
    }
}

/// One uncompressed gRPC message: flag 0, u32 big-endian length, the message.
fn decode_frame(bytes: &[u8], decode: policy::Decode) -> Result<CallParams, Status> {
    let bad = |m: &str| Status::invalid_argument(m.to_owned());
    if bytes.len() < 5 {
        return Err(bad("request is not one gRPC message"));
    }
    if bytes[0] != 0 {
        return Err(bad("compressed requests are not accepted"));
    }
    let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    if bytes.len() != 5 + len {
        return Err(bad("request is not exactly one gRPC message"));
    }
    decode(&bytes[5..]).map_err(|e| bad(&format!("malformed request: {e}")))
}

fn bearer(req: &http::Request<Body>) -> Option<String> {
    let v = req
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(t.trim().to_owned()).filter(|t| !t.is_empty())
}

async fn check_purpose(store: &Arc<AgencyStore>, params: &CallParams) -> Result<(), Status> {
    let store = store.clone();
    let policy = tokio::task::spawn_blocking(move || store.purpose_policy())
        .await
        .map_err(|_| Status::internal("purpose check failed"))?
        .map_err(|e| crate::error::store_status(&e))?;
    let reason = params.reason.as_deref().unwrap_or("");
    policy
        .check(reason, params.case_number.as_deref())
        .map_err(|r| match r {
            PurposeRefusal::Missing => Status::invalid_argument(
                "a reason (one of the agency's purposes) is required for this call",
            ),
            PurposeRefusal::Prohibited(p) => {
                Status::permission_denied(format!("purpose {p:?} is prohibited in this agency"))
            }
            PurposeRefusal::Unknown(p) => Status::invalid_argument(format!(
                "purpose {p:?} is not one of the agency's purposes"
            )),
            PurposeRefusal::CaseRequired(p) => {
                Status::invalid_argument(format!("purpose {p:?} requires a case number"))
            }
        })
}

/// The owner's active grants to the caller's agency, or PERMISSION_DENIED. The owner's log
/// records the call too (see [`record`]), whatever the outcome.
async fn check_grant(
    shared: &Arc<Shared>,
    rule: &MethodRule,
    draft: &mut Draft,
    agency: &str,
    target: &str,
) -> Result<SharedFrom, Status> {
    let denied = || {
        Status::permission_denied(format!(
            "agency {target:?} has not granted agency {agency:?} access"
        ))
    };
    let Some(owner) = shared.agencies.get(target).cloned() else {
        return Err(denied());
    };
    draft.owner = Some(target.to_owned());
    if !rule.cross_agency {
        return Err(denied());
    }
    let (store, me) = (owner.clone(), agency.to_owned());
    let now = shared.sessions.now_ms();
    let grants = tokio::task::spawn_blocking(move || {
        store.list_records::<SharingGrant>(RecordKind::SharingGrant)
    })
    .await
    .map_err(|_| Status::internal("grant check failed"))?
    .map_err(|e| crate::error::store_status(&e))?
    .into_iter()
    .map(|(_, g)| g)
    .filter(|g| {
        g.to_agency == me && g.revoked_at_ms.is_none() && g.expires_at_ms.is_none_or(|e| e > now)
    })
    .collect::<Vec<_>>();
    if grants.is_empty() {
        return Err(denied());
    }
    // The owner's prohibited purposes bind whoever searches its data.
    check_purpose(&owner, &draft.params).await?;
    Ok(SharedFrom {
        agency: target.to_owned(),
        store: owner,
        grants,
    })
}

fn outcome_of(resp: &http::Response<Body>) -> String {
    let code = resp
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from);
    match code {
        None | Some(Code::Ok) => "ok".into(),
        Some(code) => {
            let msg = resp
                .headers()
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let mut s = format!("{code:?}: {}", redact_plates(&percent_decode(msg)));
            s.truncate(300);
            s
        }
    }
}

/// `grpc-message` is percent-encoded on the wire.
fn percent_decode(msg: &str) -> String {
    let bytes = msg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Outcomes go to every auditor, including those who may not see plate data; an error message
/// that echoes the request could carry a plate. Words of 4-10 letters and digits with at least
/// one of each (what plates look like) are replaced.
fn redact_plates(msg: &str) -> String {
    fn plate_like(w: &str) -> bool {
        (4..=10).contains(&w.len())
            && w.bytes().any(|b| b.is_ascii_digit())
            && w.bytes().any(|b| b.is_ascii_alphabetic())
    }
    let mut out = String::with_capacity(msg.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(if plate_like(word) { "[redacted]" } else { word });
        word.clear();
    };
    for c in msg.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Writes the call's audit entry: the caller's agency log, the owner's too for calls on shared
/// data, the appliance log when no agency could be named.
async fn record(
    shared: &Arc<Shared>,
    draft: &Draft,
    outcome: &str,
    count: u64,
) -> Result<(), String> {
    let ev = AuditEvent {
        principal: draft.principal.clone(),
        action: draft.method.clone(),
        target: draft
            .params
            .target_agency
            .clone()
            .or_else(|| draft.agency.clone())
            .unwrap_or_default(),
        reason: draft.params.reason.clone().unwrap_or_default(),
        case_number: draft.params.case_number.clone(),
        parameters: draft.params.parameters.clone(),
        result_count: count,
        outcome: outcome.to_owned(),
    };
    let own = draft.agency.as_ref().and_then(|a| shared.audit.get(a));
    let owner = draft.owner.as_ref().and_then(|a| shared.audit.get(a));
    if let Some(writer) = owner {
        let mut ev = ev.clone();
        ev.principal = format!(
            "{}/{}",
            draft.agency.as_deref().unwrap_or("?"),
            draft.principal
        );
        writer.write(ev).await?;
    }
    match own {
        Some(writer) => writer.write(ev).await,
        None => {
            let (shared, remote) = (shared.clone(), draft.remote.clone());
            tokio::task::spawn_blocking(move || {
                shared
                    .appliance_audit(
                        "grpc.refused",
                        &serde_json::json!({
                            "remote": remote,
                            "method": ev.action,
                            "principal": ev.principal,
                            "outcome": ev.outcome,
                        })
                        .to_string(),
                    )
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|_| "appliance log task failed".to_owned())?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, redact_plates};

    #[test]
    fn outcomes_carry_no_plate_text() {
        assert_eq!(
            redact_plates("no entry for AB12CDE or ab-12 cde"),
            "no entry for [redacted] or ab-12 cde"
        );
        for kept in [
            "session expired; log in again",
            "fuzzy: max_edits is 0-2",
            "time.to_ms = 18446744073709551615 is after the year 9999",
        ] {
            assert_eq!(redact_plates(kept), kept);
        }
        assert_eq!(percent_decode("session%20expired%3B"), "session expired;");
    }
}
