//! Reads: Search, Get, StreamLive. Shared data (another agency's, under a grant) is filtered
//! here to what the grants cover; the gate has already checked that a grant exists.

use std::sync::Arc;

use custos_store::records::SharingGrant;
use custos_store::{HIT, PlateQuery, Read, ReadId, Search};
use tonic::{Request, Response, Status};

use super::{BoxStream, blocking, caller, follow, page, paging};
use crate::convert;
use crate::gate::Caller;
use crate::pb;
use crate::state::Shared;
use custos_live::LiveRead;

/// Longest wildcard pattern and plate accepted (real plates have ≤ 10 characters; hostile
/// patterns like `*?*?…` thousands long are refused before any matching).
pub const MAX_PATTERN: usize = 32;
pub const MAX_PLATE: usize = 16;
const DAY_MS: u64 = 86_400_000;
/// Reads fetched from the store per search before camera/grant filtering and paging.
const MAX_SCAN: usize = 10_000;

pub struct ReadsSvc {
    shared: Arc<Shared>,
}

impl ReadsSvc {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

fn plate_field(field: &str, v: &str, max: usize, allow_wild: bool) -> Result<String, Status> {
    let ok = |c: char| {
        c.is_ascii_alphanumeric() || c == '-' || c == ' ' || (allow_wild && "*?".contains(c))
    };
    if v.trim().is_empty() || v.chars().count() > max || !v.chars().all(ok) {
        return Err(Status::invalid_argument(format!(
            "{field}: 1-{max} characters of A-Z 0-9{}",
            if allow_wild { " * ?" } else { "" }
        )));
    }
    Ok(v.to_owned())
}

pub fn query(q: Option<pb::PlateQuery>) -> Result<PlateQuery, Status> {
    use pb::plate_query::Kind;
    match q.and_then(|q| q.kind) {
        None => Err(Status::invalid_argument("query is required")),
        Some(Kind::Exact(p)) => Ok(PlateQuery::Exact {
            plate: plate_field("exact", &p, MAX_PLATE, false)?,
        }),
        Some(Kind::Prefix(p)) => Ok(PlateQuery::Prefix {
            prefix: plate_field("prefix", &p, MAX_PLATE, false)?,
        }),
        Some(Kind::Wildcard(p)) => Ok(PlateQuery::Wildcard {
            pattern: plate_field("wildcard", &p, MAX_PATTERN, true)?,
        }),
        Some(Kind::Fuzzy(f)) => {
            if f.max_edits > 2 {
                return Err(Status::invalid_argument("fuzzy: max_edits is 0-2"));
            }
            Ok(PlateQuery::Fuzzy {
                plate: plate_field("fuzzy", &f.plate, MAX_PLATE, false)?,
                max_edits: f.max_edits as u8,
            })
        }
    }
}

/// A grant covers a read when it is in the grant's window and in its scope.
fn granted(grants: &[SharingGrant], r: &Read) -> bool {
    grants.iter().any(|g| {
        (g.window_from_ms..=g.window_to_ms).contains(&r.captured_at_ms)
            && match g.scope.as_str() {
                "hits" => r.hit_flags & HIT != 0,
                "cameras" => g.cameras.contains(&r.camera),
                _ => false,
            }
    })
}

/// The store and agency a call reads from, and the filter its grants impose.
fn source(
    c: &Caller,
) -> (
    Arc<custos_store::AgencyStore>,
    String,
    Option<Vec<SharingGrant>>,
) {
    match &c.shared_from {
        Some(s) => (s.store.clone(), s.agency.clone(), Some(s.grants.clone())),
        None => (c.store.clone(), c.agency.clone(), None),
    }
}

#[tonic::async_trait]
impl pb::reads_server::Reads for ReadsSvc {
    async fn search(
        &self,
        req: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let query = query(r.query)?;
        let (size, offset) = paging(r.page_size, &r.page_token)?;
        let now = self.shared.sessions.now_ms();
        let t = convert::time_range(r.time)?;
        let to_ms = if t.to_ms == 0 { now } else { t.to_ms };
        let from_ms = if t.from_ms == 0 && t.to_ms == 0 {
            to_ms.saturating_sub(DAY_MS)
        } else {
            t.from_ms
        };
        if from_ms > to_ms {
            return Err(Status::invalid_argument("time: from_ms is after to_ms"));
        }
        let (store, agency, grants) = source(&c);
        let filtered = grants.is_some() || !r.cameras.is_empty();
        let limit = if filtered {
            MAX_SCAN
        } else {
            (offset + size + 1).min(MAX_SCAN)
        };
        let search = Search {
            query,
            from_ms,
            to_ms,
            limit,
        };
        let found = blocking(move || store.find(&search)).await?;
        let reads: Vec<Read> = found
            .reads
            .into_iter()
            .filter(|x| r.cameras.is_empty() || r.cameras.contains(&x.camera))
            .filter(|x| grants.as_deref().is_none_or(|g| granted(g, x)))
            .collect();
        // The store counts plates in its whole vocabulary; through a grant that count would
        // reveal plates outside the grant's scope and window, so it counts what may be seen.
        let matched_plates = if grants.is_some() {
            reads
                .iter()
                .map(|x| x.plate.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .len() as u32
        } else {
            found.matched_plates as u32
        };
        let (reads, next) = page(reads, size, offset);
        c.set_result_count(reads.len() as u64);
        Ok(Response::new(pb::SearchResponse {
            reads: reads
                .into_iter()
                .map(|x| convert::read(&agency, x, false))
                .collect(),
            next_page_token: next,
            matched_plates,
        }))
    }

    async fn get(&self, req: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let (store, agency, grants) = source(&c);
        let id = ReadId(r.id);
        let found = blocking(move || store.fetch_read(id))
            .await?
            .filter(|x| grants.as_deref().is_none_or(|g| granted(g, x)))
            .ok_or_else(|| Status::not_found(format!("no read {}", r.id)))?;
        c.set_result_count(1);
        Ok(Response::new(pb::GetResponse {
            read: Some(convert::read(&agency, found, r.include_crop)),
        }))
    }

    type StreamLiveStream = BoxStream<pb::StreamLiveResponse>;

    async fn stream_live(
        &self,
        req: Request<pb::StreamLiveRequest>,
    ) -> Result<Response<Self::StreamLiveStream>, Status> {
        let c = caller(&req)?;
        let cameras = req.into_inner().cameras;
        let rx = self.shared.hub.subscribe_reads();
        let stream = follow(
            self.shared.clone(),
            c.clone(),
            rx,
            move |live: &LiveRead, missed| {
                (live.agency == c.agency
                    && (cameras.is_empty() || cameras.contains(&live.read.camera)))
                .then(|| pb::StreamLiveResponse {
                    read: Some(convert::read(&live.agency, live.read.clone(), false)),
                    missed,
                })
            },
        );
        Ok(Response::new(stream))
    }
}
