//! The attack suite: each attack expects the exact gRPC status, an audit entry, and a server
//! that still answers afterwards (no panic).
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use custos_grpc::pb;
use custos_grpc::policy::Role;
use custos_store::appliance::read_appliance_log;
use tonic::{Code, Status};

const SEARCH: &str = "/custos.v1.Reads/Search";
const LOGIN: &str = "/custos.v1.Auth/Login";

/// The server still serves: a fresh login and search work.
async fn still_serving(f: &Fixture, user: &str) {
    let ch = f.channel(Some(f.user(user))).await;
    let tok = f.login(&ch, user).await.expect("server stopped serving");
    reads(&ch)
        .search(authed(search(exact("AB12CDE"), "stolen_vehicle", ""), &tok))
        .await
        .expect("server stopped serving");
}

fn appliance_actions(f: &Fixture) -> Vec<(String, String)> {
    read_appliance_log(&f.layout)
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.details))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_certificate() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let ch = f.channel(None).await;
    let r = pb::auth_client::AuthClient::new(ch)
        .login(pb::LoginRequest {
            username: "jane".into(),
            password: PASSWORD.into(),
            totp_code: f.code("jane"),
            agency: "north".into(),
        })
        .await;
    assert_code(r, Code::Unauthenticated);
    // No certificate, so no agency is proven: the appliance log records it.
    let log = appliance_actions(&f);
    assert!(
        log.iter().any(|(a, d)| a == "grpc.refused"
            && d.contains(LOGIN)
            && d.contains("Unauthenticated")),
        "{log:?}"
    );
    still_serving(&f, "jane").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_missing_forged_expired_revoked_and_foreign() {
    let f = Fixture::start(&[
        ("north", "jane", Role::Investigator),
        ("north", "joe", Role::Investigator),
    ])
    .await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let req = || search(exact("AB12CDE"), "stolen_vehicle", "");

    // No token.
    let s = assert_code(
        reads(&ch).search(tonic::Request::new(req())).await,
        Code::Unauthenticated,
    );
    assert!(s.message().contains("no session token"));
    let e = f.last_audit("north", SEARCH);
    assert!(e.outcome.starts_with("Unauthenticated"), "{}", e.outcome);
    assert_eq!(e.principal, "jane"); // from the certificate

    // Forged.
    let forged = format!("cst1.{}", "ab".repeat(32));
    assert_code(
        reads(&ch).search(authed(req(), &forged)).await,
        Code::Unauthenticated,
    );
    assert_code(
        reads(&ch).search(authed(req(), "not-a-token")).await,
        Code::Unauthenticated,
    );

    // Expired: idle 30 min.
    let tok = f.login(&ch, "jane").await.unwrap();
    reads(&ch).search(authed(req(), &tok)).await.unwrap();
    f.clock.advance_ms(31 * 60_000);
    let s = assert_code(
        reads(&ch).search(authed(req(), &tok)).await,
        Code::Unauthenticated,
    );
    assert!(s.message().contains("expired"));
    let e = f.last_audit("north", SEARCH);
    assert!(e.outcome.contains("expired"), "{}", e.outcome);

    // Revoked: Logout ends it at once.
    let tok = f.login(&ch, "jane").await.unwrap();
    pb::auth_client::AuthClient::new(ch.clone())
        .logout(authed(pb::Empty {}, &tok))
        .await
        .unwrap();
    assert_code(
        reads(&ch).search(authed(req(), &tok)).await,
        Code::Unauthenticated,
    );

    // Bound to the certificate: joe's token is useless over jane's connection.
    let joe_ch = f.channel(Some(f.user("joe"))).await;
    let joe_tok = f.login(&joe_ch, "joe").await.unwrap();
    let s = assert_code(
        reads(&ch).search(authed(req(), &joe_tok)).await,
        Code::Unauthenticated,
    );
    assert!(s.message().contains("another client certificate"));
    // Recorded as the certificate's holder, not as the token's owner.
    assert_eq!(f.last_audit("north", SEARCH).principal, "jane");

    // A person's certificate admits only that person.
    f.clock.advance_ms(30_000);
    let r = pb::auth_client::AuthClient::new(ch.clone())
        .login(pb::LoginRequest {
            username: "joe".into(),
            password: PASSWORD.into(),
            totp_code: f.code("joe"),
            agency: String::new(),
        })
        .await;
    assert_code(r, Code::PermissionDenied);
    assert!(
        f.last_audit("north", LOGIN)
            .outcome
            .starts_with("PermissionDenied")
    );
    still_serving(&f, "jane").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_totp_and_lockout() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let mut auth = pb::auth_client::AuthClient::new(ch.clone());
    let login = |code: String, password: &str| pb::LoginRequest {
        username: "jane".into(),
        password: password.into(),
        totp_code: code,
        agency: String::new(),
    };
    let code = f.code("jane");
    auth.login(login(code.clone(), PASSWORD)).await.unwrap();
    // The same code again, within its validity window: refused.
    let s = assert_code(
        auth.login(login(code, PASSWORD)).await,
        Code::Unauthenticated,
    );
    assert!(
        !s.message().contains("replay"),
        "the answer must not say which factor failed"
    );
    let e = f.last_audit("north", LOGIN);
    assert!(e.outcome.starts_with("Unauthenticated"));
    assert!(!e.parameters.contains(PASSWORD));

    // Wrong passwords: the third failure starts a lockout, which then refuses even good logins.
    f.clock.advance_ms(30_000);
    for _ in 0..2 {
        assert_code(
            auth.login(login(f.code("jane"), "wrong password!")).await,
            Code::Unauthenticated,
        );
    }
    assert_code(
        auth.login(login(f.code("jane"), PASSWORD)).await,
        Code::ResourceExhausted,
    );
    assert!(
        f.last_audit("north", LOGIN)
            .outcome
            .starts_with("ResourceExhausted")
    );
    // The delay passes (2 s after 3 failures); a fresh code works.
    f.clock.advance_ms(30_000);
    auth.login(login(f.code("jane"), PASSWORD)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_role_and_unknown_agency() {
    let f = Fixture::start(&[
        ("north", "olga", Role::Operator),
        ("north", "aud", Role::Auditor),
        ("north", "jane", Role::Investigator),
        ("south", "sam", Role::Investigator),
    ])
    .await;
    let req = || search(exact("AB12CDE"), "stolen_vehicle", "");
    for user in ["olga", "aud"] {
        let ch = f.channel(Some(f.user(user))).await;
        let tok = f.login(&ch, user).await.unwrap();
        let s = assert_code(
            reads(&ch).search(authed(req(), &tok)).await,
            Code::PermissionDenied,
        );
        assert!(s.message().contains("may not call"));
        let e = f.last_audit("north", SEARCH);
        assert_eq!(e.principal, user);
        assert!(e.outcome.starts_with("PermissionDenied"));
        assert_code(
            pb::admin_client::AdminClient::new(ch.clone())
                .list_principals(authed(pb::Empty {}, &tok))
                .await,
            Code::PermissionDenied,
        );
    }
    // The auditor reads the log, but never plate data: parameters are withheld.
    let ch = f.channel(Some(f.user("jane"))).await;
    let tok = f.login(&ch, "jane").await.unwrap();
    reads(&ch).search(authed(req(), &tok)).await.unwrap();
    let ch = f.channel(Some(f.user("aud"))).await;
    let tok = f.login(&ch, "aud").await.unwrap();
    let q = pb::audit_client::AuditClient::new(ch.clone())
        .query(authed(
            pb::AuditQueryRequest {
                action: SEARCH.into(),
                page_size: 1000,
                ..Default::default()
            },
            &tok,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!q.entries.is_empty());
    assert!(q.entries.iter().all(|e| !e.parameters.contains("AB12CDE")));
    assert!(
        q.entries
            .iter()
            .any(|e| e.principal == "jane" && e.reason == "stolen_vehicle")
    );

    // Another agency's data without a grant.
    let ch = f.channel(Some(f.user("sam"))).await;
    let tok = f.login(&ch, "sam").await.unwrap();
    let mut r = req();
    r.agency = "north".into();
    assert_code(
        reads(&ch).search(authed(r.clone(), &tok)).await,
        Code::PermissionDenied,
    );
    assert!(
        f.last_audit("south", SEARCH)
            .outcome
            .starts_with("PermissionDenied")
    );
    assert_eq!(f.last_audit("north", SEARCH).principal, "south/sam");
    // An agency that does not exist looks the same as one without a grant.
    r.agency = "nowhere".into();
    assert_code(
        reads(&ch).search(authed(r, &tok)).await,
        Code::PermissionDenied,
    );
    // Get of a read id of another agency through one's own agency finds nothing.
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
        .await;
    assert_code(g, Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasons_are_required_and_checked() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let tok = f.login(&ch, "jane").await.unwrap();
    for (reason, case, code, says) in [
        ("", "", Code::InvalidArgument, "reason"),
        (
            "immigration_enforcement",
            "C-1",
            Code::PermissionDenied,
            "prohibited",
        ),
        ("curiosity", "", Code::InvalidArgument, "not one of"),
        (
            "criminal_investigation",
            "",
            Code::InvalidArgument,
            "case number",
        ),
    ] {
        let s = assert_code(
            reads(&ch)
                .search(authed(search(exact("AB12CDE"), reason, case), &tok))
                .await,
            code,
        );
        assert!(s.message().contains(says), "{reason}: {}", s.message());
        let e = f.last_audit("north", SEARCH);
        assert_eq!(e.reason, reason);
        assert_eq!(e.result_count, 0);
        assert!(e.outcome.starts_with(&format!("{code:?}")));
    }
    let mut r = search(exact("AB12CDE"), "x", "");
    r.justification = None;
    assert_code(
        reads(&ch).search(authed(r, &tok)).await,
        Code::InvalidArgument,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input() {
    let f = Fixture::start(&[
        ("north", "jane", Role::Investigator),
        ("north", "boss", Role::Admin),
    ])
    .await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let tok = f.login(&ch, "jane").await.unwrap();
    let q = |kind| Some(pb::PlateQuery { kind: Some(kind) });
    use pb::plate_query::Kind;
    for kind in [
        Kind::Wildcard("*?".repeat(5000)),
        Kind::Wildcard("*".repeat(33)),
        Kind::Exact("A".repeat(1000)),
        Kind::Prefix("'; DROP TABLE reads; --".into()),
        Kind::Fuzzy(pb::Fuzzy {
            plate: "AB12CDE".into(),
            max_edits: 200,
        }),
        Kind::Exact(String::new()),
    ] {
        let t0 = std::time::Instant::now();
        let r = reads(&ch)
            .search(authed(search(q(kind.clone()), "stolen_vehicle", ""), &tok))
            .await;
        assert_code(r, Code::InvalidArgument);
        assert!(t0.elapsed() < Duration::from_secs(2));
        let e = f.last_audit("north", SEARCH);
        assert!(e.outcome.starts_with("InvalidArgument"));
        assert!(e.parameters.len() < 4096, "audit parameters not bounded");
    }
    // A wildcard at the limit is answered, fast.
    let ok = reads(&ch)
        .search(authed(
            search(q(Kind::Wildcard("*?".repeat(16))), "stolen_vehicle", ""),
            &tok,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(ok.reads.len() <= 4);
    // No query at all; a bad page token.
    assert_code(
        reads(&ch)
            .search(authed(search(None, "stolen_vehicle", ""), &tok))
            .await,
        Code::InvalidArgument,
    );

    // Oversized request: 2 MiB of CSV against the 1 MiB limit.
    let bch = f.channel(Some(f.user("boss"))).await;
    let btok = f.login(&bch, "boss").await.unwrap();
    let r = pb::hotlists_client::HotlistsClient::new(bch.clone())
        .import_csv(authed(
            pb::ImportCsvRequest {
                hotlist_id: 1,
                csv: "AB12CDE,x\n".repeat(210_000),
            },
            &btok,
        ))
        .await;
    assert_code(r, Code::ResourceExhausted);
    let e = f.last_audit("north", "/custos.v1.Hotlists/ImportCsv");
    assert_eq!(e.principal, "boss");
    assert!(e.outcome.starts_with("ResourceExhausted"));

    // A method nobody defined: refused by the gate (deny by default), audited.
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<pb::Empty, pb::Empty>::default();
    let r = grpc
        .unary(
            authed(pb::Empty {}, &tok),
            http::uri::PathAndQuery::from_static("/custos.v1.Reads/DeleteEverything"),
            codec,
        )
        .await;
    assert_code(r, Code::PermissionDenied);
    f.last_audit("north", "/custos.v1.Reads/DeleteEverything");
    still_serving(&f, "jane").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_to_the_tls_port() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    // A plaintext gRPC client: recognised by its HTTP/2 preface and answered UNAUTHENTICATED
    // (rather than a dropped connection, which clients report as UNKNOWN, INTERNAL or
    // UNAVAILABLE depending on timing).
    let ch = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{}", f.port))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let r = pb::auth_client::AuthClient::new(ch)
        .login(pb::LoginRequest::default())
        .await;
    let s = assert_code(r, Code::Unauthenticated);
    assert!(s.message().contains("TLS 1.3 only"), "{s:?}");
    assert!(
        appliance_actions(&f)
            .iter()
            .any(|(a, d)| a == "grpc.refused" && d.contains("plaintext"))
    );
    // Raw garbage on the socket.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", f.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    let _ = s.read(&mut buf); // closed or an alert, never a page
    for _ in 0..100 {
        let n = appliance_actions(&f)
            .iter()
            .filter(|(a, _)| a == "tls.handshake_failed")
            .count();
        if n >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = appliance_actions(&f);
    assert!(
        log.iter()
            .filter(|(a, d)| a == "tls.handshake_failed" && d.contains("127.0.0.1"))
            .count()
            >= 1,
        "{log:?}"
    );
    still_serving(&f, "jane").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_client_certificate() {
    let f = Fixture::start_with(
        &[
            ("north", "jane", Role::Investigator),
            ("north", "mallory", Role::Investigator),
        ],
        false,
        &["mallory"],
    )
    .await;
    let u = f.user("mallory");
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            std::fs::read(f.ca()).unwrap(),
        ))
        .identity(tonic::transport::Identity::from_pem(
            std::fs::read(&u.cert).unwrap(),
            std::fs::read(&u.key).unwrap(),
        ))
        .domain_name("localhost");
    let ch = tonic::transport::Channel::from_shared(format!("https://127.0.0.1:{}", f.port))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_lazy();
    let r = pb::auth_client::AuthClient::new(ch)
        .login(pb::LoginRequest {
            username: "mallory".into(),
            password: PASSWORD.into(),
            totp_code: f.code("mallory"),
            agency: String::new(),
        })
        .await;
    // The handshake fails (the client sees a transport error, whose code depends on timing);
    // what matters: no login, and the appliance log names the revoked certificate.
    assert!(r.is_err(), "a revoked certificate logged in");
    let mut seen = false;
    for _ in 0..100 {
        seen = appliance_actions(&f)
            .iter()
            .any(|(a, d)| a == "tls.handshake_failed" && d.contains("Revoked"));
        if seen {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen, "{:?}", appliance_actions(&f));
    assert!(
        f.store("north")
            .audit_log()
            .unwrap()
            .records
            .iter()
            .all(|r| r.body.principal != "mallory"),
        "a revoked certificate reached the agency"
    );
    still_serving(&f, "jane").await;
}

fn login_request(user: &str, password: &str, code: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        username: user.into(),
        password: password.into(),
        totp_code: code.into(),
        agency: String::new(),
    }
}

/// Sends `n` logins at once over `ch`; their answers, in no particular order.
async fn parallel_logins(
    ch: &tonic::transport::Channel,
    n: usize,
    request: impl Fn(usize) -> tonic::Request<pb::LoginRequest>,
) -> Vec<Result<String, tonic::Status>> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut auth = pb::auth_client::AuthClient::new(ch.clone());
        let req = request(i);
        set.spawn(async move { auth.login(req).await.map(|r| r.into_inner().session_token) });
    }
    set.join_all().await
}

fn codes<T>(results: &[Result<T, tonic::Status>]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for r in results {
        let key = match r {
            Ok(_) => "Ok".to_owned(),
            Err(s) => format!("{:?}", s.code()),
        };
        *out.entry(key).or_default() += 1;
    }
    out
}

fn login_audit_outcomes(f: &Fixture) -> Vec<String> {
    f.store("north")
        .audit_log()
        .unwrap()
        .records
        .into_iter()
        .filter(|r| r.body.action == LOGIN)
        .map(|r| r.body.outcome)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_totp_code_opens_one_session() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let code = f.code("jane");
    let results = parallel_logins(&ch, 8, |_| {
        tonic::Request::new(login_request("jane", PASSWORD, &code))
    })
    .await;
    let by_code = codes(&results);
    // The others are replays: refused, and counted as failures (so some meet the lockout).
    assert_eq!(by_code.get("Ok"), Some(&1), "{by_code:?}");
    assert_eq!(
        by_code.get("Unauthenticated").unwrap_or(&0)
            + by_code.get("ResourceExhausted").unwrap_or(&0),
        7,
        "{by_code:?}"
    );
    assert_eq!(login_audit_outcomes(&f).len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guessing_is_locked_out() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let code = f.code("jane");
    // Two waves of 12 wrong passwords at once (within the bound on parallel checks, so each
    // one is judged rather than refused as busy).
    let mut results = Vec::new();
    for _ in 0..2 {
        results.extend(
            parallel_logins(&ch, 12, |i| {
                tonic::Request::new(login_request("jane", &format!("guess number {i}"), &code))
            })
            .await,
        );
    }
    let by_code = codes(&results);
    // The default allows 3 failures, then locks: only 3 guesses were ever checked.
    assert_eq!(by_code.get("Unauthenticated"), Some(&3), "{by_code:?}");
    assert_eq!(by_code.get("ResourceExhausted"), Some(&21), "{by_code:?}");
    // The right password is refused too while locked.
    let mut auth = pb::auth_client::AuthClient::new(ch.clone());
    let s = assert_code(
        auth.login(login_request("jane", PASSWORD, &code)).await,
        Code::ResourceExhausted,
    );
    assert!(s.message().contains("failed logins"), "{s:?}");
    assert_eq!(login_audit_outcomes(&f).len(), 25);
    f.clock.advance_ms(60_000);
    still_serving(&f, "jane").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_password_checks_are_bounded() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let code = f.code("jane");
    // 40 at once against a bound of 8 (AuthConfig's default): the rest are refused at once,
    // without hashing (19 MiB each), and each refusal is audited.
    let results = parallel_logins(&ch, 40, |_| {
        tonic::Request::new(login_request("jane", PASSWORD, &code))
    })
    .await;
    let busy = results
        .iter()
        .filter(|r| {
            r.as_ref().is_err_and(|s| {
                s.code() == Code::ResourceExhausted && s.message().contains("too many")
            })
        })
        .count();
    assert!(busy >= 1, "{:?}", codes(&results));
    assert_eq!(codes(&results).get("Ok"), Some(&1), "{:?}", codes(&results));
    let outcomes = login_audit_outcomes(&f);
    assert_eq!(outcomes.len(), 40);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| o.starts_with("ResourceExhausted"))
            .count(),
        busy
    );
    still_serving(&f, "jane").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_calls_are_audited() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let code = f.code("jane");
    // Deadlines far shorter than a password check: the client gives up, the server's check
    // still runs and counts, so its call must be in the log.
    let results = parallel_logins(&ch, 4, |i| {
        let mut r = tonic::Request::new(login_request("jane", &format!("guess number {i}"), &code));
        r.set_timeout(Duration::from_millis(1));
        r
    })
    .await;
    assert!(results.iter().all(|r| r.is_err()), "{:?}", codes(&results));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while login_audit_outcomes(&f).len() < 4 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outcomes = login_audit_outcomes(&f);
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    // The checks did run: three failures locked the account.
    let mut auth = pb::auth_client::AuthClient::new(ch.clone());
    assert_code(
        auth.login(login_request("jane", PASSWORD, &code)).await,
        Code::ResourceExhausted,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_future_search_window() {
    let f = Fixture::start(&[("north", "jane", Role::Investigator)]).await;
    let ch = f.channel(Some(f.user("jane"))).await;
    let tok = f.login(&ch, "jane").await.unwrap();
    for (from_ms, to_ms) in [(0, u64::MAX), (1, u64::MAX / 2), (u64::MAX, 0)] {
        let mut req = search(exact("AB12CDE"), "stolen_vehicle", "");
        req.time = Some(pb::TimeRange { from_ms, to_ms });
        let s = assert_code(
            reads(&ch).search(authed(req, &tok)).await,
            Code::InvalidArgument,
        );
        assert!(s.message().contains("year 9999"), "{s:?}");
        assert!(
            f.last_audit("north", SEARCH)
                .outcome
                .starts_with("InvalidArgument")
        );
    }
    // Callers that are not the API (the CLI, internal sweeps) may leave the end open: the
    // store answers instead of panicking on the day arithmetic.
    let r = f.store("north").find(&custos_store::Search {
        query: custos_store::PlateQuery::Exact {
            plate: "AB12CDE".into(),
        },
        from_ms: 0,
        to_ms: u64::MAX,
        limit: 10,
    });
    assert_eq!(r.unwrap().reads.len(), 2);
    still_serving(&f, "jane").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_reveals_no_plate_outside_its_scope() {
    let f = Fixture::start(&[
        ("north", "boss", Role::Admin),
        ("north", "jane", Role::Investigator),
        ("south", "sam", Role::Investigator),
    ])
    .await;
    let north = f.channel(Some(f.user("boss"))).await;
    let south = f.channel(Some(f.user("sam"))).await;
    let admin_tok = f.login(&north, "boss").await.unwrap();
    let sam_tok = f.login(&south, "sam").await.unwrap();
    pb::admin_client::AdminClient::new(north.clone())
        .create_grant(authed(
            pb::CreateGrantRequest {
                to_agency: "south".into(),
                scope: "hits".into(),
                ..Default::default()
            },
            &admin_tok,
        ))
        .await
        .unwrap();
    // North saw XY99ZZZ once, with no hotlist hit: outside a hits-only grant. Probing by
    // prefix must not tell south that such a plate exists.
    let mut req = search(
        Some(pb::PlateQuery {
            kind: Some(pb::plate_query::Kind::Prefix("XY".into())),
        }),
        "stolen_vehicle",
        "",
    );
    req.agency = "north".into();
    let r = reads(&south)
        .search(authed(req.clone(), &sam_tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.reads.len(), r.matched_plates), (0, 0));
    // North's own search still counts it.
    req.agency = String::new();
    let jane = f.channel(Some(f.user("jane"))).await;
    let jane_tok = f.login(&jane, "jane").await.unwrap();
    let own = reads(&jane)
        .search(authed(req, &jane_tok))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((own.reads.len(), own.matched_plates), (1, 1));
}

/// `user`'s alert stream, open once the hub counts `subscribers` followers.
async fn open_alerts(
    f: &Fixture,
    user: &str,
    subscribers: usize,
) -> (String, tonic::Streaming<pb::Alert>) {
    let ch = f.channel(Some(f.user(user))).await;
    let tok = f.login(&ch, user).await.unwrap();
    let stream = pb::hotlists_client::HotlistsClient::new(ch)
        .stream_alerts(authed(pb::StreamAlertsRequest::default(), &tok))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..250 {
        if f.hub.alert_subscribers() >= subscribers {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(f.hub.alert_subscribers() >= subscribers);
    (tok, stream)
}

/// The status a stream ends with; fails if it is still open after two seconds.
async fn ends_with(stream: &mut tonic::Streaming<pb::Alert>, what: &str) -> Status {
    match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
        Err(_) => panic!("{what}: the stream is still open after 2 s"),
        Ok(Ok(m)) => panic!("{what}: the stream went on: {m:?}"),
        Ok(Err(s)) => s,
    }
}

const STREAM_ALERTS: &str = "/custos.v1.Hotlists/StreamAlerts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_end_with_their_session() {
    let f = Fixture::start(&[
        ("north", "jane", Role::Investigator),
        ("north", "joe", Role::Investigator),
        ("north", "ann", Role::Operator),
        ("north", "kim", Role::Investigator),
        ("north", "boss", Role::Admin),
    ])
    .await;
    let bch = f.channel(Some(f.user("boss"))).await;
    let btok = f.login(&bch, "boss").await.unwrap();
    let mut admin = pb::admin_client::AdminClient::new(bch.clone());
    let id_of = |name: &'static str| {
        let (mut admin, btok) = (admin.clone(), btok.clone());
        async move {
            admin
                .list_principals(authed(pb::Empty {}, &btok))
                .await
                .unwrap()
                .into_inner()
                .principals
                .into_iter()
                .find(|p| p.name == name)
                .unwrap()
                .id
        }
    };

    // Logout.
    let (tok, mut stream) = open_alerts(&f, "jane", 1).await;
    let jane = f.channel(Some(f.user("jane"))).await;
    pb::auth_client::AuthClient::new(jane)
        .logout(authed(pb::Empty {}, &tok))
        .await
        .unwrap();
    let s = ends_with(&mut stream, "after logout").await;
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");
    assert!(s.message().contains("session ended"), "{s:?}");

    // Disabled by an admin.
    let (_, mut stream) = open_alerts(&f, "joe", 1).await;
    let joe = id_of("joe").await;
    admin
        .update_principal(authed(
            pb::UpdatePrincipalRequest {
                id: joe,
                role: "investigator".into(),
                disabled: true,
            },
            &btok,
        ))
        .await
        .unwrap();
    let s = ends_with(&mut stream, "after disabling").await;
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");

    // The role loses the permission.
    let (_, mut stream) = open_alerts(&f, "ann", 1).await;
    admin
        .set_role_policy(authed(
            pb::RolePolicy {
                roles: vec![pb::RolePermissions {
                    role: "operator".into(),
                    permissions: vec!["own_session".into()],
                }],
            },
            &btok,
        ))
        .await
        .unwrap();
    let s = ends_with(&mut stream, "after the role lost alerts_stream").await;
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");

    // The session's absolute lifetime runs out (an open stream keeps it from idling out).
    let (_, mut stream) = open_alerts(&f, "kim", 1).await;
    f.clock.advance_ms(13 * 3_600_000);
    let s = ends_with(&mut stream, "after expiry").await;
    assert_eq!(s.code(), Code::Unauthenticated, "{s:?}");

    // Each ended stream's closing entry says why.
    let closed = f
        .wait_for_audit("north", STREAM_ALERTS, "stream ended: PermissionDenied")
        .await;
    assert_eq!(closed.principal, "ann");
    let closed = f
        .wait_for_audit("north", STREAM_ALERTS, "stream ended: Unauthenticated")
        .await;
    assert!(["jane", "joe", "kim"].contains(&closed.principal.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_audited_with_what_they_delivered() {
    let f = Fixture::start(&[
        ("north", "jane", Role::Investigator),
        ("north", "audrey", Role::Auditor),
    ])
    .await;
    let (_, mut stream) = open_alerts(&f, "jane", 1).await;
    let opened = f.last_audit("north", STREAM_ALERTS);
    assert_eq!(
        (opened.outcome.as_str(), opened.result_count),
        ("stream opened", 0)
    );
    let alert = |agency: &str, plate: &str| custos_live::AlertEvent {
        agency: agency.into(),
        read_id: 7,
        hotlist_id: 1,
        hotlist_name: "stolen".into(),
        entry_id: 2,
        plate: plate.into(),
        camera: "gate-1".into(),
        captured_at_ms: 1,
        covert: false,
        match_kind: "exact".into(),
        retroactive: false,
    };
    f.hub.publish_alert(alert("north", "AB12CDE"));
    f.hub.publish_alert(alert("south", "SOUTH1")); // not jane's: not delivered, not counted
    f.hub.publish_alert(alert("north", "AB12CDF"));
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    drop(stream);
    let closed = f
        .wait_for_audit("north", STREAM_ALERTS, "stream ended")
        .await;
    assert_eq!(
        (closed.outcome.as_str(), closed.result_count),
        ("stream ended: closed by the client", 2)
    );

    // An audit export is counted in entries delivered.
    let ch = f.channel(Some(f.user("audrey"))).await;
    let tok = f.login(&ch, "audrey").await.unwrap();
    let mut export = pb::audit_client::AuditClient::new(ch)
        .export(authed(pb::AuditExportRequest::default(), &tok))
        .await
        .unwrap()
        .into_inner();
    let mut lines = 0;
    while let Some(chunk) = export.message().await.unwrap() {
        lines += chunk.jsonl.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    assert!(lines > 5, "{lines}");
    let closed = f
        .wait_for_audit("north", "/custos.v1.Audit/Export", "stream ended")
        .await;
    assert_eq!(
        (closed.outcome.as_str(), closed.result_count),
        ("stream ended: completed", lines)
    );
}
