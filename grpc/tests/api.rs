//! The API end to end over real TLS 1.3 with client certificates: login with password + TOTP,
//! searches of every kind, a read with its crop, a live alert, sharing between agencies, and the
//! audit entries all of it leaves.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use custos_grpc::pb;
use custos_grpc::policy::Role;
use custos_live::AlertEvent;
use custos_store::Clock;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn investigator_searches_and_follows_alerts() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let tok = f.login(&ch, "jane").await.unwrap();

    let kinds = [
        (pb::plate_query::Kind::Exact("ab12cde".into()), 2),
        (pb::plate_query::Kind::Prefix("AB12".into()), 3),
        (pb::plate_query::Kind::Wildcard("A?12*F".into()), 1),
        (
            pb::plate_query::Kind::Fuzzy(pb::Fuzzy {
                plate: "AB12CDX".into(),
                max_edits: 1,
            }),
            3,
        ),
    ];
    for (kind, want) in kinds {
        let req = search(
            Some(pb::PlateQuery {
                kind: Some(kind.clone()),
            }),
            "criminal_investigation",
            "2026-0042",
        );
        let r = reads(&ch)
            .search(authed(req, &tok))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.reads.len(), want, "{kind:?}");
        let e = f.last_audit("north", "/custos.v1.Reads/Search");
        assert_eq!(
            (e.principal.as_str(), e.reason.as_str(), e.outcome.as_str()),
            ("jane", "criminal_investigation", "ok")
        );
        assert_eq!(e.case_number.as_deref(), Some("2026-0042"));
        assert_eq!(e.result_count, want as u64);
    }
    // The pattern is in the audit entry's parameters.
    let e = f.last_audit("north", "/custos.v1.Reads/Search");
    assert!(e.parameters.contains("AB12CDX"), "{}", e.parameters);

    // Camera filter and paging.
    let mut req = search(exact("AB12CDE"), "stolen_vehicle", "");
    req.cameras = vec!["gate-2".into()];
    let r = reads(&ch)
        .search(authed(req, &tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.reads.len(), 1);
    assert!(r.reads[0].hit && r.reads[0].crop_jpeg.is_empty());
    let mut req = search(
        Some(pb::PlateQuery {
            kind: Some(pb::plate_query::Kind::Prefix("AB".into())),
        }),
        "stolen_vehicle",
        "",
    );
    req.page_size = 2;
    let p1 = reads(&ch)
        .search(authed(req.clone(), &tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p1.reads.len(), p1.next_page_token.as_str()), (2, "2"));
    req.page_token = p1.next_page_token;
    let p2 = reads(&ch)
        .search(authed(req, &tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p2.reads.len(), p2.next_page_token.as_str()), (1, ""));

    // Get with the crop.
    let g = reads(&ch)
        .get(authed(
            pb::GetRequest {
                id: f.read_ids[0],
                include_crop: true,
                justification: justified("stolen_vehicle", ""),
                agency: String::new(),
            },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner()
        .read
        .unwrap();
    assert_eq!(g.crop_jpeg, b"JPEG-AB12CDE");

    // A live alert.
    let mut alerts = pb::hotlists_client::HotlistsClient::new(ch.clone())
        .stream_alerts(authed(pb::StreamAlertsRequest::default(), &tok))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..100 {
        if f.hub.alert_subscribers() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let alert = |agency: &str, plate: &str, covert: bool| AlertEvent {
        agency: agency.into(),
        read_id: 7,
        hotlist_id: 1,
        hotlist_name: "stolen".into(),
        entry_id: 2,
        plate: plate.into(),
        camera: "gate-1".into(),
        captured_at_ms: 1,
        covert,
        match_kind: "exact".into(),
        retroactive: false,
    };
    // Another agency's alert and a covert one are not for an investigator of north.
    f.hub.publish_alert(alert("south", "SOUTH1", false));
    f.hub.publish_alert(alert("north", "COVERT1", true));
    f.hub.publish_alert(alert("north", "AB12CDE", false));
    let got = tokio::time::timeout(Duration::from_secs(10), alerts.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((got.plate.as_str(), got.missed), ("AB12CDE", 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_is_scoped_audited_twice_and_revocable() {
    let f = Fixture::start(&[
        ("north", "boss", Role::Admin),
        ("south", "sam", Role::Investigator),
    ])
    .await;
    let north = f.channel(Some(f.user("boss"))).await;
    let south = f.channel(Some(f.user("sam"))).await;
    let admin_tok = f.login(&north, "boss").await.unwrap();
    let sam_tok = f.login(&south, "sam").await.unwrap();
    let mut req = search(exact("AB12CDE"), "stolen_vehicle", "");
    req.agency = "north".into();

    assert_code(
        reads(&south).search(authed(req.clone(), &sam_tok)).await,
        Code::PermissionDenied,
    );
    let refused = f.last_audit("north", "/custos.v1.Reads/Search");
    assert_eq!(refused.principal, "south/sam");
    assert!(refused.outcome.starts_with("PermissionDenied"));

    let mut admin = pb::admin_client::AdminClient::new(north.clone());
    let grant = admin
        .create_grant(authed(
            pb::CreateGrantRequest {
                to_agency: "south".into(),
                scope: "hits".into(),
                ..Default::default()
            },
            &admin_tok,
        ))
        .await
        .unwrap()
        .into_inner();
    // Hits only: of AB12CDE's two reads, the one that hit.
    let r = reads(&south)
        .search(authed(req.clone(), &sam_tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.reads.len(), 1);
    assert!(r.reads[0].hit);
    assert_eq!(r.reads[0].agency, "north");
    let mine = f.last_audit("south", "/custos.v1.Reads/Search");
    let theirs = f.last_audit("north", "/custos.v1.Reads/Search");
    assert_eq!(
        (mine.principal.as_str(), mine.outcome.as_str()),
        ("sam", "ok")
    );
    assert_eq!(
        (theirs.principal.as_str(), theirs.outcome.as_str()),
        ("south/sam", "ok")
    );
    assert_eq!((mine.result_count, theirs.result_count), (1, 1));

    admin
        .revoke_grant(authed(pb::IdRequest { id: grant.id }, &admin_tok))
        .await
        .unwrap();
    assert_code(
        reads(&south).search(authed(req, &sam_tok)).await,
        Code::PermissionDenied,
    );

    // The transparency report counts the shared search, and no plate text.
    let rep = admin
        .transparency_report(authed(pb::TransparencyRequest::default(), &admin_tok))
        .await
        .unwrap()
        .into_inner();
    let shared: u64 = rep
        .rows
        .iter()
        .map(|r| r.shared_searches_by_other_agencies)
        .sum();
    let reads_n: u64 = rep.rows.iter().map(|r| r.reads).sum();
    assert_eq!((shared, reads_n), (1, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_manages_principals_hotlists_cameras_and_health_answers() {
    let f = Fixture::start(&[("north", "boss", Role::Admin)]).await;
    let ch = f.channel(Some(f.user("boss"))).await;
    let tok = f.login(&ch, "boss").await.unwrap();
    let mut admin = pb::admin_client::AdminClient::new(ch.clone());
    let created = admin
        .create_principal(authed(
            pb::CreatePrincipalRequest {
                name: "newbie".into(),
                role: "operator".into(),
                password: "long enough password".into(),
            },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.totp_secret_base32.len(), 32);
    // The admin knows the password they chose: it must be replaced at the first login.
    let secrets = f
        .store("north")
        .login_secrets(created.principal.as_ref().unwrap().id)
        .unwrap()
        .unwrap();
    assert!(secrets.must_change_password);
    let e = f.last_audit("north", "/custos.v1.Admin/CreatePrincipal");
    assert!(
        !e.parameters.contains("long enough"),
        "password in the audit log"
    );

    let mut hl = pb::hotlists_client::HotlistsClient::new(ch.clone());
    let list = hl
        .create_hotlist(authed(
            pb::CreateHotlistRequest {
                name: "stolen".into(),
                description: String::new(),
                covert: false,
            },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner();
    let imp = hl
        .import_csv(authed(
            pb::ImportCsvRequest {
                hotlist_id: list.id,
                csv: "plate,note\nab-12 cde,stolen 2026-11-01\n!!!,bad\nXY99ZZZ,,notanumber\n"
                    .into(),
            },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imp.imported, 1);
    assert_eq!(imp.errors.len(), 2, "{:?}", imp.errors);
    let lists = hl
        .list_hotlists(authed(
            pb::ListHotlistsRequest {
                include_entries: true,
            },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lists.hotlists[0].entries[0].plate, "AB12CDE");

    let mut cams = pb::cameras_client::CamerasClient::new(ch.clone());
    let cam = pb::Camera {
        id: "gate-1".into(),
        name: String::new(),
        url: "rtsp://10.0.0.5/s".into(),
        enabled: true,
        ..Default::default()
    };
    cams.add_camera(authed(cam.clone(), &tok)).await.unwrap();
    assert_code(
        cams.add_camera(authed(cam, &tok)).await,
        Code::AlreadyExists,
    );
    let st = cams
        .camera_status(authed(
            pb::CameraId {
                id: "gate-1".into(),
            },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(st.state, "unknown");

    let v = pb::audit_client::AuditClient::new(ch.clone())
        .verify(authed(pb::Empty {}, &tok))
        .await
        .unwrap()
        .into_inner();
    assert!(v.ok, "{:?}", v.problems);

    let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "custos.v1.Reads".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_dev_mode_on_loopback() {
    let f = Fixture::start_with(&[("north", "jane", Role::Investigator)], true, &[]).await;
    let ch = f.plaintext_channel().await;
    let mut auth = pb::auth_client::AuthClient::new(ch.clone());
    f.clock.advance_ms(30_000);
    let login = |agency: &str| pb::LoginRequest {
        username: "jane".into(),
        password: PASSWORD.into(),
        totp_code: f.code("jane"),
        agency: agency.into(),
    };
    // Without a certificate the agency must be named.
    assert_code(auth.login(login("")).await, Code::PermissionDenied);
    let tok = auth
        .login(login("north"))
        .await
        .unwrap()
        .into_inner()
        .session_token;
    let r = reads(&ch)
        .search(authed(search(exact("AB12CDE"), "stolen_vehicle", ""), &tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.reads.len(), 2);
    let e = f.last_audit("north", "/custos.v1.Reads/Search");
    assert_eq!((e.principal.as_str(), e.outcome.as_str()), ("jane", "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_re_enrolment_revokes_sessions_and_role_changes_apply_at_once() {
    let f = Fixture::start(&[
        ("north", "jane", Role::Investigator),
        ("north", "boss", Role::Admin),
    ])
    .await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let tok = f.login(&ch, "jane").await.unwrap();
    let mut auth = pb::auth_client::AuthClient::new(ch.clone());
    assert_code(
        auth.enroll_totp(authed(
            pb::EnrollTotpRequest {
                password: "wrong password".into(),
            },
            &tok,
        ))
        .await,
        Code::Unauthenticated,
    );
    let fresh = auth
        .enroll_totp(authed(
            pb::EnrollTotpRequest {
                password: PASSWORD.into(),
            },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(fresh.otpauth_uri.starts_with("otpauth://totp/"));
    let e = f.last_audit("north", "/custos.v1.Auth/EnrollTotp");
    assert!(!e.parameters.contains(PASSWORD));
    // The old session is gone; the old secret no longer works; the new one does.
    assert_code(
        reads(&ch)
            .search(authed(search(exact("AB12CDE"), "stolen_vehicle", ""), &tok))
            .await,
        Code::Unauthenticated,
    );
    assert_code(f.login(&ch, "jane").await, Code::Unauthenticated);
    f.clock.advance_ms(30_000);
    let secret = base32_decode(&fresh.secret_base32);
    let tok = auth
        .login(pb::LoginRequest {
            username: "jane".into(),
            password: PASSWORD.into(),
            totp_code: custos_grpc::totp::code_at(&secret, f.clock.now_ms()),
            agency: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .session_token;

    // Demoted to operator by the admin: the session ends at once.
    let bch = f.channel(Some(f.user("boss"))).await;
    let btok = f.login(&bch, "boss").await.unwrap();
    let mut admin = pb::admin_client::AdminClient::new(bch.clone());
    let jane_id = admin
        .list_principals(authed(pb::Empty {}, &btok))
        .await
        .unwrap()
        .into_inner()
        .principals
        .into_iter()
        .find(|p| p.name == "jane")
        .unwrap()
        .id;
    admin
        .update_principal(authed(
            pb::UpdatePrincipalRequest {
                id: jane_id,
                role: "operator".into(),
                disabled: false,
            },
            &btok,
        ))
        .await
        .unwrap();
    assert_code(
        reads(&ch)
            .search(authed(search(exact("AB12CDE"), "stolen_vehicle", ""), &tok))
            .await,
        Code::Unauthenticated,
    );
}

fn base32_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes() {
        let v = A.iter().position(|&a| a == c).unwrap() as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agency_role_policy_applies_at_once() {
    let f = Fixture::start(&[
        ("north", "jane", Role::Investigator),
        ("north", "boss", Role::Admin),
    ])
    .await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let tok = f.login(&ch, "jane").await.unwrap();
    let req = || search(exact("AB12CDE"), "stolen_vehicle", "");
    reads(&ch).search(authed(req(), &tok)).await.unwrap();

    let bch = f.channel(Some(f.user("boss"))).await;
    let btok = f.login(&bch, "boss").await.unwrap();
    let mut admin = pb::admin_client::AdminClient::new(bch.clone());
    let set = |role: &str, perms: &[&str]| pb::RolePolicy {
        roles: vec![pb::RolePermissions {
            role: role.into(),
            permissions: perms.iter().map(|p| p.to_string()).collect(),
        }],
    };
    assert_code(
        admin
            .set_role_policy(authed(
                set("auditor", &["audit_read", "reads_search"]),
                &btok,
            ))
            .await,
        Code::InvalidArgument,
    );
    let table = admin
        .set_role_policy(authed(
            set("investigator", &["own_session", "alerts_stream"]),
            &btok,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(table.roles.len(), 5);
    // The next call of the logged-in investigator is refused.
    assert_code(
        reads(&ch).search(authed(req(), &tok)).await,
        Code::PermissionDenied,
    );
    // Another role changed later keeps the investigator's change.
    admin
        .set_role_policy(authed(set("operator", &["own_session"]), &btok))
        .await
        .unwrap();
    let got = admin
        .get_role_policy(authed(pb::Empty {}, &btok))
        .await
        .unwrap()
        .into_inner();
    let perms = |r: &str| {
        got.roles
            .iter()
            .find(|x| x.role == r)
            .unwrap()
            .permissions
            .clone()
    };
    assert_eq!(perms("investigator"), ["own_session", "alerts_stream"]);
    assert_eq!(perms("operator"), ["own_session"]);
    assert!(
        f.last_audit("north", "/custos.v1.Admin/SetRolePolicy")
            .outcome
            == "ok"
    );
}

/// A principal created with a one-time enrolment code (the appliance's first admin) can do
/// nothing but replace it; afterwards the new password works, the code does not, and other
/// sessions of the principal are gone.
#[tokio::test]
async fn one_time_enrolment_code_must_be_changed_first() {
    let f = Fixture::start(&[("north", "root", Role::Admin)]).await;
    let store = f.store("north").clone();
    let (id, _) = store.find_principal("root").unwrap().unwrap();
    custos_grpc::auth::require_password_change(
        &store,
        &custos_store::Access::new("cli", "test"),
        id,
    )
    .unwrap();
    let ch = f.channel(Some(f.user("root"))).await;
    let other = f.login(&ch, "root").await.unwrap();
    let tok = f.login(&ch, "root").await.unwrap();
    let mut admin = pb::admin_client::AdminClient::new(ch.clone());
    let refused = assert_code(
        admin.list_principals(authed(pb::Empty {}, &tok)).await,
        Code::FailedPrecondition,
    );
    assert!(refused.message().contains("ChangePassword"), "{refused:?}");
    let mut auth = pb::auth_client::AuthClient::new(ch.clone());
    let change = |current: &str, new: &str| pb::ChangePasswordRequest {
        current_password: current.into(),
        new_password: new.into(),
    };
    let new_password = "a different long passphrase";
    assert_code(
        auth.change_password(authed(change("wrong password!", new_password), &tok))
            .await,
        Code::Unauthenticated,
    );
    assert_code(
        auth.change_password(authed(change(PASSWORD, "short"), &tok))
            .await,
        Code::InvalidArgument,
    );
    assert_code(
        auth.change_password(authed(change(PASSWORD, PASSWORD), &tok))
            .await,
        Code::InvalidArgument,
    );
    auth.change_password(authed(change(PASSWORD, new_password), &tok))
        .await
        .unwrap();
    let e = f.last_audit("north", "/custos.v1.Auth/ChangePassword");
    assert!(!e.parameters.contains(new_password) && !e.parameters.contains(PASSWORD));
    // This session may now work; the other one ended; the code no longer logs in.
    admin
        .list_principals(authed(pb::Empty {}, &tok))
        .await
        .unwrap();
    assert_code(
        admin.list_principals(authed(pb::Empty {}, &other)).await,
        Code::Unauthenticated,
    );
    assert_code(f.login(&ch, "root").await, Code::Unauthenticated);
    f.clock.advance_ms(custos_grpc::totp::STEP_MS);
    let r = auth
        .login(pb::LoginRequest {
            username: "root".into(),
            password: new_password.into(),
            totp_code: f.code("root"),
            agency: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.must_change_password);
}
