//! Admin: principals and roles, retention and purpose policies, sharing grants, legal holds,
//! the legal-request register, the transparency report.

use std::collections::BTreeMap;
use std::sync::Arc;

use custos_store::clock::{MS_PER_DAY, day_of};
use custos_store::records::{LegalRequest, Principal, RecordKind, SharingGrant};
use custos_store::{LegalHold, ReadId, StoreError};
use tonic::{Request, Response, Status};

use super::{access, blocking, caller, ident, on_store, record, text};
use crate::auth::provision_principal;
use crate::convert;
use crate::error::GrpcError;
use crate::pb;
use crate::policy::{Role, RoleTable};
use crate::state::Shared;
use crate::totp;

pub struct AdminSvc {
    shared: Arc<Shared>,
}

impl AdminSvc {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

fn principal(id: u64, p: Principal) -> pb::Principal {
    pb::Principal {
        id,
        name: p.name,
        role: p.role,
        disabled: p.disabled,
    }
}

fn as_policy(t: &RoleTable) -> custos_store::RolePolicy {
    t.describe()
        .into_iter()
        .map(|(r, ps)| {
            (
                r.as_str().to_owned(),
                ps.into_iter().map(str::to_owned).collect(),
            )
        })
        .collect()
}

fn role_policy(t: &RoleTable) -> pb::RolePolicy {
    pb::RolePolicy {
        roles: t
            .describe()
            .into_iter()
            .map(|(r, ps)| pb::RolePermissions {
                role: r.as_str().into(),
                permissions: ps.into_iter().map(str::to_owned).collect(),
            })
            .collect(),
    }
}

fn role(s: &str) -> Result<Role, Status> {
    Role::parse(s).ok_or_else(|| {
        Status::invalid_argument(format!(
            "role {s:?}: admin, supervisor, investigator, operator or auditor"
        ))
    })
}

/// Start of the period (UTC day or calendar month) holding `ms`.
fn period_start(ms: u64, monthly: bool) -> u64 {
    let day_start = ms - ms % MS_PER_DAY;
    if !monthly {
        return day_start;
    }
    // Civil-from-days (Howard Hinnant), then back to the first of the month.
    let z = (ms / MS_PER_DAY) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    day_start - (d as u64 - 1) * MS_PER_DAY
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminSvc {
    async fn list_principals(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::ListPrincipalsResponse>, Status> {
        let c = caller(&req)?;
        let principals: Vec<pb::Principal> = on_store(&c, move |store| {
            store.list_records::<Principal>(RecordKind::Principal)
        })
        .await?
        .into_iter()
        .map(|(id, p)| principal(id, p))
        .collect();
        c.set_result_count(principals.len() as u64);
        Ok(Response::new(pb::ListPrincipalsResponse { principals }))
    }

    async fn create_principal(
        &self,
        req: Request<pb::CreatePrincipalRequest>,
    ) -> Result<Response<pb::CreatePrincipalResponse>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let name = ident("name", &r.name)?;
        let role = role(&r.role)?;
        let (who, n) = (access(&c, "principal administration"), name.clone());
        let (id, secret) = on_store(&c, move |store| {
            let to_store = |e| match e {
                GrpcError::Store(e) => e,
                e => StoreError::BadInput(e.to_string()),
            };
            let (id, secret) =
                provision_principal(store, &who, &n, role, &r.password).map_err(to_store)?;
            // The admin chose this password: it opens only a password change.
            crate::auth::require_password_change(store, &who, id).map_err(to_store)?;
            Ok((id, secret))
        })
        .await?;
        c.set_result_count(1);
        Ok(Response::new(pb::CreatePrincipalResponse {
            principal: Some(pb::Principal {
                id,
                name: name.clone(),
                role: role.as_str().into(),
                disabled: false,
            }),
            totp_secret_base32: totp::base32(&secret),
            otpauth_uri: totp::otpauth_uri(&c.agency, &name, &secret),
        }))
    }

    async fn update_principal(
        &self,
        req: Request<pb::UpdatePrincipalRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let role = role(&r.role)?;
        let who = access(&c, "principal administration");
        let p = on_store(&c, move |store| {
            let Some(mut p) = store.get_record::<Principal>(RecordKind::Principal, r.id)? else {
                return Ok(None);
            };
            p.role = role.as_str().into();
            p.disabled = r.disabled;
            store.put_record(&who, RecordKind::Principal, Some(r.id), &p)?;
            Ok(Some(p))
        })
        .await?
        .ok_or_else(|| Status::not_found(format!("no principal {}", r.id)))?;
        // A changed role or a disabled principal takes effect now, not at the next login.
        self.shared.sessions.revoke_principal(&c.agency, r.id);
        c.set_result_count(1);
        Ok(Response::new(principal(r.id, p)))
    }

    async fn get_retention_policy(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::RetentionPolicy>, Status> {
        let c = caller(&req)?;
        let p = on_store(&c, move |store| store.policy()).await?;
        Ok(Response::new(convert::retention(p)))
    }

    async fn set_retention_policy(
        &self,
        req: Request<pb::RetentionPolicy>,
    ) -> Result<Response<pb::RetentionPolicy>, Status> {
        let c = caller(&req)?;
        let p = convert::retention_from(req.get_ref());
        let (who, q) = (access(&c, "retention policy"), p.clone());
        on_store(&c, move |store| store.set_policy(&who, &q)).await?;
        Ok(Response::new(convert::retention(p)))
    }

    async fn get_purpose_policy(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::PurposePolicy>, Status> {
        let c = caller(&req)?;
        let p = on_store(&c, move |store| store.purpose_policy()).await?;
        Ok(Response::new(convert::purposes(p)))
    }

    async fn set_purpose_policy(
        &self,
        req: Request<pb::PurposePolicy>,
    ) -> Result<Response<pb::PurposePolicy>, Status> {
        let c = caller(&req)?;
        let p = convert::purposes_from(req.get_ref());
        let (who, q) = (access(&c, "purpose policy"), p.clone());
        on_store(&c, move |store| store.set_purpose_policy(&who, &q)).await?;
        Ok(Response::new(convert::purposes(p)))
    }

    async fn get_role_policy(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::RolePolicy>, Status> {
        let c = caller(&req)?;
        let (shared, store) = (self.shared.clone(), c.store.clone());
        let table = blocking(move || shared.role_table(&store)).await?;
        Ok(Response::new(role_policy(&table)))
    }

    async fn set_role_policy(
        &self,
        req: Request<pb::RolePolicy>,
    ) -> Result<Response<pb::RolePolicy>, Status> {
        let c = caller(&req)?;
        // Roles not named keep what they have now.
        let (shared, store) = (self.shared.clone(), c.store.clone());
        let current = blocking(move || shared.role_table(&store)).await?;
        let mut overrides: custos_store::RolePolicy = as_policy(&current);
        overrides.extend(
            req.into_inner()
                .roles
                .into_iter()
                .map(|r| (r.role, r.permissions)),
        );
        let table = RoleTable::with_overrides(&overrides)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Stored as the complete table in force, so later changes of the built-in defaults do
        // not silently change this agency's roles.
        let full: custos_store::RolePolicy = table
            .describe()
            .into_iter()
            .map(|(r, ps)| {
                (
                    r.as_str().to_owned(),
                    ps.into_iter().map(str::to_owned).collect(),
                )
            })
            .collect();
        let who = access(&c, "role policy");
        on_store(&c, move |store| store.set_role_policy(&who, &full)).await?;
        let reply = role_policy(&table);
        self.shared.set_role_table(&c.agency, table);
        c.set_result_count(1);
        Ok(Response::new(reply))
    }

    async fn list_grants(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::ListGrantsResponse>, Status> {
        let c = caller(&req)?;
        let grants: Vec<pb::SharingGrant> = on_store(&c, move |store| {
            store.list_records::<SharingGrant>(RecordKind::SharingGrant)
        })
        .await?
        .into_iter()
        .map(|(id, g)| convert::grant(id, g))
        .collect();
        c.set_result_count(grants.len() as u64);
        Ok(Response::new(pb::ListGrantsResponse { grants }))
    }

    async fn create_grant(
        &self,
        req: Request<pb::CreateGrantRequest>,
    ) -> Result<Response<pb::SharingGrant>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let to = ident("to_agency", &r.to_agency)?;
        if to == c.agency {
            return Err(Status::invalid_argument("an agency cannot grant itself"));
        }
        match r.scope.as_str() {
            "hits" => {}
            "cameras" if !r.cameras.is_empty() => {}
            "cameras" => return Err(Status::invalid_argument("scope cameras needs cameras")),
            s => {
                return Err(Status::invalid_argument(format!(
                    "scope {s:?}: hits or cameras"
                )));
            }
        }
        let w = r.window.unwrap_or_default();
        let g = SharingGrant {
            to_agency: to,
            scope: r.scope,
            cameras: r.cameras,
            window_from_ms: w.from_ms,
            window_to_ms: if w.to_ms == 0 { u64::MAX } else { w.to_ms },
            granted_by: c.principal.clone(),
            granted_at_ms: self.shared.sessions.now_ms(),
            expires_at_ms: Some(r.expires_at_ms).filter(|e| *e > 0),
            revoked_at_ms: None,
        };
        let (who, g2) = (access(&c, "data sharing"), g.clone());
        let id = on_store(&c, move |store| store.grant_sharing(&who, &g2)).await?;
        c.set_result_count(1);
        Ok(Response::new(convert::grant(id, g)))
    }

    async fn revoke_grant(
        &self,
        req: Request<pb::IdRequest>,
    ) -> Result<Response<pb::SharingGrant>, Status> {
        let c = caller(&req)?;
        let id = req.into_inner().id;
        let mut g = record::<SharingGrant>(&c, RecordKind::SharingGrant, id).await?;
        if g.revoked_at_ms.is_none() {
            g.revoked_at_ms = Some(self.shared.sessions.now_ms());
            let (who, g2) = (access(&c, "data sharing"), g.clone());
            on_store(&c, move |store| {
                store.put_record(&who, RecordKind::SharingGrant, Some(id), &g2)
            })
            .await?;
        }
        c.set_result_count(1);
        Ok(Response::new(convert::grant(id, g)))
    }

    async fn list_holds(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::ListHoldsResponse>, Status> {
        let c = caller(&req)?;
        let holds: Vec<pb::LegalHold> = on_store(&c, move |store| store.holds())
            .await?
            .into_iter()
            .map(convert::hold)
            .collect();
        c.set_result_count(holds.len() as u64);
        Ok(Response::new(pb::ListHoldsResponse { holds }))
    }

    async fn place_hold(
        &self,
        req: Request<pb::PlaceHoldRequest>,
    ) -> Result<Response<pb::LegalHold>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let case = text("case_number", &r.case_number, 100)?;
        let reason = text("reason", &r.reason, 200)?;
        if r.read_ids.is_empty() || r.read_ids.len() > 10_000 {
            return Err(Status::invalid_argument("read_ids: 1-10000 reads"));
        }
        let reads: Vec<ReadId> = r.read_ids.into_iter().map(ReadId).collect();
        let who = custos_store::Access::new(&c.principal, &reason);
        let id = on_store(&c, move |store| store.place_hold(&who, &case, &reads)).await?;
        c.set_result_count(1);
        Ok(Response::new(convert::hold(
            record::<LegalHold>(&c, RecordKind::Hold, id).await?,
        )))
    }

    async fn release_hold(
        &self,
        req: Request<pb::IdRequest>,
    ) -> Result<Response<pb::LegalHold>, Status> {
        let c = caller(&req)?;
        let id = req.into_inner().id;
        let who = access(&c, "legal hold release");
        on_store(&c, move |store| store.release_hold(&who, id)).await?;
        c.set_result_count(1);
        Ok(Response::new(convert::hold(
            record::<LegalHold>(&c, RecordKind::Hold, id).await?,
        )))
    }

    async fn list_legal_requests(
        &self,
        req: Request<pb::Empty>,
    ) -> Result<Response<pb::ListLegalRequestsResponse>, Status> {
        let c = caller(&req)?;
        let requests: Vec<pb::LegalRequest> = on_store(&c, move |store| {
            store.list_records::<LegalRequest>(RecordKind::LegalRequest)
        })
        .await?
        .into_iter()
        .map(|(id, r)| convert::legal_request(id, r))
        .collect();
        c.set_result_count(requests.len() as u64);
        Ok(Response::new(pb::ListLegalRequestsResponse { requests }))
    }

    async fn register_legal_request(
        &self,
        req: Request<pb::LegalRequest>,
    ) -> Result<Response<pb::LegalRequest>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let lr = LegalRequest {
            kind: convert::legal_kind(&r.kind)?,
            reference: text("reference", &r.reference, 200)?,
            issuing_authority: text("issuing_authority", &r.issuing_authority, 200)?,
            case_number: Some(r.case_number.trim().to_owned()).filter(|s| !s.is_empty()),
            received_at_ms: if r.received_at_ms == 0 {
                self.shared.sessions.now_ms()
            } else {
                r.received_at_ms
            },
            scope: r.scope.chars().take(2000).collect(),
            notification: convert::notification(&r.notification, r.notification_at_ms)?,
        };
        let (who, l2) = (access(&c, "legal request register"), lr.clone());
        let id = on_store(&c, move |store| store.register_legal_request(&who, &l2)).await?;
        c.set_result_count(1);
        Ok(Response::new(convert::legal_request(id, lr)))
    }

    async fn set_notification(
        &self,
        req: Request<pb::SetNotificationRequest>,
    ) -> Result<Response<pb::LegalRequest>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let status = convert::notification(&r.notification, r.notification_at_ms)?;
        record::<LegalRequest>(&c, RecordKind::LegalRequest, r.id).await?;
        let who = access(&c, "legal request register");
        on_store(&c, move |store| store.set_notification(&who, r.id, status)).await?;
        c.set_result_count(1);
        Ok(Response::new(convert::legal_request(
            r.id,
            record::<LegalRequest>(&c, RecordKind::LegalRequest, r.id).await?,
        )))
    }

    async fn transparency_report(
        &self,
        req: Request<pb::TransparencyRequest>,
    ) -> Result<Response<pb::TransparencyResponse>, Status> {
        let c = caller(&req)?;
        let r = req.into_inner();
        let monthly = r.period != pb::Period::Day as i32;
        let t = convert::time_range(r.time)?;
        let to = if t.to_ms == 0 {
            self.shared.sessions.now_ms()
        } else {
            t.to_ms
        };
        let from = t.from_ms;
        let (counts, log) = on_store(&c, move |store| {
            Ok((
                store.counts_per_day(day_of(from), day_of(to))?,
                store.audit_log()?.records,
            ))
        })
        .await?;
        let mut rows: BTreeMap<u64, pb::TransparencyRow> = BTreeMap::new();
        let mut by_purpose: BTreeMap<u64, BTreeMap<String, u64>> = BTreeMap::new();
        let row = |rows: &mut BTreeMap<u64, pb::TransparencyRow>, ms: u64| {
            let start = period_start(ms, monthly);
            rows.entry(start)
                .or_insert_with(|| pb::TransparencyRow {
                    period_start_ms: start,
                    ..Default::default()
                })
                .period_start_ms
        };
        for (day, reads, hits) in counts {
            let start = row(&mut rows, u64::from(day) * MS_PER_DAY);
            if let Some(x) = rows.get_mut(&start) {
                x.reads += reads;
                x.hits += hits;
            }
        }
        for e in log.iter().filter(|e| (from..=to).contains(&e.body.time_ms)) {
            let start = row(&mut rows, e.body.time_ms);
            let Some(x) = rows.get_mut(&start) else {
                continue;
            };
            let ok = e.body.outcome == "ok";
            if e.body.action.starts_with("/custos.v1.") && !ok {
                x.refused += 1;
            }
            if e.body.action == "/custos.v1.Reads/Search" && ok {
                if e.body.principal.contains('/') {
                    // Written into this log for another agency's search of our data.
                    x.shared_searches_by_other_agencies += 1;
                } else {
                    x.searches += 1;
                    *by_purpose
                        .entry(start)
                        .or_default()
                        .entry(e.body.reason.clone())
                        .or_default() += 1;
                }
            }
        }
        for (start, purposes) in by_purpose {
            if let Some(x) = rows.get_mut(&start) {
                x.searches_by_purpose = purposes
                    .into_iter()
                    .map(|(purpose, searches)| pb::PurposeCount { purpose, searches })
                    .collect();
            }
        }
        let rows: Vec<pb::TransparencyRow> = rows.into_values().collect();
        c.set_result_count(rows.len() as u64);
        Ok(Response::new(pb::TransparencyResponse { rows }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        // 2024-06-17T13:00:00Z → 2024-06-17 and 2024-06-01.
        let t = 1_718_629_200_000;
        assert_eq!(period_start(t, false), 1_718_582_400_000);
        assert_eq!(period_start(t, true), 1_717_200_000_000);
        // 2024-03-01T00:00:00Z is its own month start (leap year February before it).
        assert_eq!(period_start(1_709_251_200_000, true), 1_709_251_200_000);
    }
}
