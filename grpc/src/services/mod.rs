//! The custos.v1 handlers. They read the [`Caller`] the gate attached and never check roles.

mod admin;
mod audit;
mod auth;
mod cameras;
mod hotlists;
mod reads;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use custos_store::records::RecordKind;
use custos_store::{Access, AgencyStore, StoreError};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Status};

use crate::error::store_status;
use crate::gate::Caller;
use crate::state::Shared;

pub use admin::AdminSvc;
pub use audit::AuditSvc;
pub use auth::AuthSvc;
pub use cameras::CamerasSvc;
pub use hotlists::HotlistsSvc;
pub use reads::ReadsSvc;

/// How often an open stream checks that its caller may still receive it.
const STREAM_RECHECK: Duration = Duration::from_millis(250);

/// Forwards a hub channel to one client: `make` filters and converts, and is told how many
/// messages this client missed by falling behind since its last message. The client's pace
/// never reaches the publisher (the broadcast channel drops for the laggard only). The stream
/// ends, with the refusal's status, within [`STREAM_RECHECK`] of its session ending (logout,
/// expiry, role change, disabling) or its role losing the permission.
pub fn follow<T: Send + Sync + 'static, U: Send + 'static>(
    shared: Arc<Shared>,
    caller: Caller,
    mut rx: broadcast::Receiver<Arc<T>>,
    mut make: impl FnMut(&T, u64) -> Option<U> + Send + 'static,
) -> BoxStream<U> {
    let (tx, out) = tokio::sync::mpsc::channel(64);
    let counter = caller.clone();
    tokio::spawn(async move {
        let mut missed = 0;
        let mut recheck = tokio::time::interval(STREAM_RECHECK);
        loop {
            let item = tokio::select! {
                r = rx.recv() => match r {
                    Ok(i) => i,
                    Err(RecvError::Lagged(n)) => {
                        missed += n;
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = recheck.tick() => {
                    if tx.is_closed() {
                        return; // the client went away
                    }
                    if let Err(refused) = caller.still_allowed(&shared) {
                        let _ = tx.send(Err(refused)).await;
                        return;
                    }
                    continue;
                }
            };
            let Some(msg) = make(&item, missed) else {
                continue;
            };
            if tx.send(Ok(msg)).await.is_err() {
                return; // the client went away
            }
            missed = 0;
        }
    });
    // Counted as the transport takes each message, for the stream's closing audit entry.
    Box::pin(ReceiverStream::new(out).map(move |m| {
        if m.is_ok() {
            counter.count_delivered(1);
        }
        m
    }))
}

pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

pub fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::internal("the call did not pass the access layer"))
}

/// Runs store work (redb, argon2) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Status::internal("worker failed"))?
        .map_err(|e| store_status(&e))
}

/// Runs `f` on the caller's agency store off the async threads.
pub async fn on_store<T: Send + 'static>(
    c: &Caller,
    f: impl FnOnce(&AgencyStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Status> {
    let store = c.store.clone();
    blocking(move || f(&store)).await
}

/// A record of the caller's agency, or NOT_FOUND.
pub async fn record<T: DeserializeOwned + Send + 'static>(
    c: &Caller,
    kind: RecordKind,
    id: u64,
) -> Result<T, Status> {
    on_store(c, move |s| s.get_record::<T>(kind, id))
        .await?
        .ok_or_else(|| Status::not_found(format!("no {} {id}", kind.as_str())))
}

/// The store-level accountability of a change made through the API.
pub fn access(c: &Caller, what: &str) -> Access {
    let a = Access::new(&c.principal, c.reason.as_deref().unwrap_or(what));
    match &c.case_number {
        Some(case) => a.with_case(case),
        None => a,
    }
}

/// A page size in 1..=1000 (default 100) and the offset a page token names.
pub fn paging(size: u32, token: &str) -> Result<(usize, usize), Status> {
    let size = match size {
        0 => 100,
        n => n.min(1000) as usize,
    };
    let offset = if token.is_empty() {
        0
    } else {
        token
            .parse::<usize>()
            .ok()
            .filter(|o| *o <= 1_000_000)
            .ok_or_else(|| Status::invalid_argument("bad page_token"))?
    };
    Ok((size, offset))
}

/// Cuts one page out of `items`; the next page's token if there are more.
pub fn page<T>(items: Vec<T>, size: usize, offset: usize) -> (Vec<T>, String) {
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(size).collect();
    let next = if offset + page.len() < total {
        (offset + page.len()).to_string()
    } else {
        String::new()
    };
    (page, next)
}

/// A text field: trimmed, non-empty, at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, Status> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Status::invalid_argument(format!("{field} is required")));
    }
    if v.chars().count() > max {
        return Err(Status::invalid_argument(format!(
            "{field} is longer than {max} characters"
        )));
    }
    Ok(v.to_owned())
}

/// An id-like field: 1-64 characters of `A-Z a-z 0-9 - _ .`.
pub fn ident(field: &str, value: &str) -> Result<String, Status> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Status::invalid_argument(format!(
            "{field} must be 1-64 characters of A-Z a-z 0-9 - _ ."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        assert_eq!(paging(0, "").unwrap(), (100, 0));
        assert_eq!(paging(5000, "20").unwrap(), (1000, 20));
        assert!(paging(1, "x").is_err());
        let (p, next) = page((0..10).collect(), 4, 0);
        assert_eq!((p, next.as_str()), (vec![0, 1, 2, 3], "4"));
        let (p, next) = page((0..10).collect(), 4, 8);
        assert_eq!((p, next.as_str()), (vec![8, 9], ""));
        assert!(ident("id", "cam 1").is_err());
        assert!(text("name", "  ", 10).is_err());
    }
}
