//! Hotlists: lists and entries (covert ones hidden from roles without the covert permission),
//! CSV import, live alerts.

use std::sync::Arc;

use custos_store::records::{Hotlist, HotlistEntry, RecordKind};
use tonic::{Request, Response, Status};

use super::{BoxStream, access, caller, follow, on_store, record, text};
use crate::convert;
use crate::gate::Caller;
use crate::pb;
use crate::policy::Permission;
use crate::state::Shared;
use custos_live::AlertEvent;

/// Most lines one CSV import may carry.
const MAX_IMPORT_LINES: usize = 10_000;

pub struct HotlistsSvc {
    shared: Arc<Shared>,
}

impl HotlistsSvc {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// The list `id` if the caller may see it; covert lists do not exist for the others.
async fn visible_list(c: &Caller, id: u64) -> Result<Hotlist, Status> {
    let list: Hotlist = record(c, RecordKind::Hotlist, id).await?;
    if list.covert && !c.can(Permission::HotlistsCovert) {
        // The same answer as for a list that does not exist.
        return Err(Status::not_found(format!("no hotlist {id}")));
    }
    Ok(list)
}

fn plate(p: &str) -> Result<String, Status> {
    let n = custos_core::normalize_plate(p);
    if n.is_empty() || n.len() > super::reads::MAX_PLATE {
        return Err(Status::invalid_argument(format!(
            "plate {p:?}: 1-{} characters of A-Z 0-9",
            super::reads::MAX_PLATE
        )));
    }
    Ok(n)
}

async fn add_entry(c: &Caller, entry: HotlistEntry) -> Result<u64, Status> {
    let who = access(c, "hotlist maintenance");
    on_store(c, move |store| store.add_hotlist_entry(&who, &entry)).await
}

#[tonic::async_trait]
impl pb::hotlists_server::Hotlists for HotlistsSvc {
    async fn create_hotlist(
        &self,
        req: Request<pb::CreateHotlistRequest>,
    ) -> Result<Response<pb::Hotlist>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let list = Hotlist {
            name: text("name", &r.name, 100)?,
            description: r.description.chars().take(1000).collect(),
            covert: r.covert,
        };
        let (who, l) = (access(&c, "hotlist maintenance"), list.clone());
        let id = on_store(&c, move |store| store.create_hotlist(&who, &l)).await?;
        c.set_result_count(1);
        Ok(Response::new(convert::hotlist(id, list, Vec::new())))
    }

    async fn list_hotlists(
        &self,
        req: Request<pb::ListHotlistsRequest>,
    ) -> Result<Response<pb::ListHotlistsResponse>, Status> {
        let c = caller(&req)?;
        let with_entries = req.into_inner().include_entries;
        let covert_ok = c.can(Permission::HotlistsCovert);
        let lists = on_store(&c, move |store| store.hotlists()).await?;
        let hotlists: Vec<pb::Hotlist> = lists
            .into_iter()
            .filter(|(_, l, _)| covert_ok || !l.covert)
            .map(|(id, l, entries)| {
                let entries = if with_entries {
                    entries
                        .into_iter()
                        .filter(|(_, e)| covert_ok || !e.covert)
                        .map(|(eid, e)| convert::entry(eid, e))
                        .collect()
                } else {
                    Vec::new()
                };
                convert::hotlist(id, l, entries)
            })
            .collect();
        c.set_result_count(hotlists.len() as u64);
        Ok(Response::new(pb::ListHotlistsResponse { hotlists }))
    }

    async fn delete_hotlist(
        &self,
        req: Request<pb::HotlistId>,
    ) -> Result<Response<pb::Empty>, Status> {
        let c = caller(&req)?;
        let id = req.into_inner().id;
        visible_list(&c, id).await?;
        let who = access(&c, "hotlist maintenance");
        let n = on_store(&c, move |store| {
            let entries = store.list_records::<HotlistEntry>(RecordKind::HotlistEntry)?;
            let mut n = 0;
            for (eid, _) in entries.into_iter().filter(|(_, e)| e.hotlist_id == id) {
                n += u64::from(store.delete_record(&who, RecordKind::HotlistEntry, eid)?);
            }
            store.delete_record(&who, RecordKind::Hotlist, id)?;
            Ok(n)
        })
        .await?;
        self.shared.hub.hotlists_changed();
        c.set_result_count(n + 1);
        Ok(Response::new(pb::Empty {}))
    }

    async fn add_entry(
        &self,
        req: Request<pb::AddEntryRequest>,
    ) -> Result<Response<pb::HotlistEntry>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let list = visible_list(&c, r.hotlist_id).await?;
        let entry = HotlistEntry {
            hotlist_id: r.hotlist_id,
            plate: plate(&r.plate)?,
            note: r.note.chars().take(1000).collect(),
            covert: r.covert || list.covert,
            expires_at_ms: Some(r.expires_at_ms).filter(|e| *e > 0),
        };
        let id = add_entry(&c, entry.clone()).await?;
        self.shared.hub.hotlists_changed();
        c.set_result_count(1);
        Ok(Response::new(convert::entry(id, entry)))
    }

    async fn remove_entry(&self, req: Request<pb::EntryId>) -> Result<Response<pb::Empty>, Status> {
        let c = caller(&req)?;
        let id = req.into_inner().id;
        let entry: HotlistEntry = record(&c, RecordKind::HotlistEntry, id).await?;
        visible_list(&c, entry.hotlist_id).await?;
        let who = access(&c, "hotlist maintenance");
        on_store(&c, move |store| {
            store.delete_record(&who, RecordKind::HotlistEntry, id)
        })
        .await?;
        self.shared.hub.hotlists_changed();
        c.set_result_count(1);
        Ok(Response::new(pb::Empty {}))
    }

    async fn import_csv(
        &self,
        req: Request<pb::ImportCsvRequest>,
    ) -> Result<Response<pb::ImportCsvResponse>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let list = visible_list(&c, r.hotlist_id).await?;
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        for (i, line) in r.csv.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || (i == 0 && line.to_ascii_lowercase().starts_with("plate")) {
                continue;
            }
            if entries.len() + errors.len() >= MAX_IMPORT_LINES {
                errors.push(format!(
                    "line {}: more than {MAX_IMPORT_LINES} lines; rest ignored",
                    i + 1
                ));
                break;
            }
            let cols: Vec<&str> = line.splitn(3, ',').map(str::trim).collect();
            let expires = match cols.get(2) {
                None | Some(&"") => None,
                Some(v) => match v.parse::<u64>() {
                    Ok(t) => Some(t),
                    Err(_) => {
                        errors.push(format!(
                            "line {}: expires_at_ms {v:?} is not a number",
                            i + 1
                        ));
                        continue;
                    }
                },
            };
            match plate(cols[0]) {
                Ok(p) => entries.push(HotlistEntry {
                    hotlist_id: r.hotlist_id,
                    plate: p,
                    note: cols.get(1).unwrap_or(&"").chars().take(1000).collect(),
                    covert: list.covert,
                    expires_at_ms: expires,
                }),
                Err(e) => errors.push(format!("line {}: {}", i + 1, e.message())),
            }
        }
        let imported = entries.len() as u32;
        for e in entries {
            add_entry(&c, e).await?;
        }
        self.shared.hub.hotlists_changed();
        c.set_result_count(u64::from(imported));
        Ok(Response::new(pb::ImportCsvResponse { imported, errors }))
    }

    type StreamAlertsStream = BoxStream<pb::Alert>;

    async fn stream_alerts(
        &self,
        req: Request<pb::StreamAlertsRequest>,
    ) -> Result<Response<Self::StreamAlertsStream>, Status> {
        let c = caller(&req)?;
        let lists = req.into_inner().hotlist_ids;
        let covert_ok = c.can(Permission::HotlistsCovert);
        let rx = self.shared.hub.subscribe_alerts();
        let stream = follow(
            self.shared.clone(),
            c.clone(),
            rx,
            move |a: &AlertEvent, missed| {
                (a.agency == c.agency
                    && (covert_ok || !a.covert)
                    && (lists.is_empty() || lists.contains(&a.hotlist_id)))
                .then(|| pb::Alert {
                    read_id: a.read_id,
                    hotlist_id: a.hotlist_id,
                    hotlist_name: a.hotlist_name.clone(),
                    entry_id: a.entry_id,
                    plate: a.plate.clone(),
                    camera: a.camera.clone(),
                    captured_at_ms: a.captured_at_ms,
                    covert: a.covert,
                    missed,
                    match_kind: a.match_kind.clone(),
                    retroactive: a.retroactive,
                })
            },
        );
        Ok(Response::new(stream))
    }
}
