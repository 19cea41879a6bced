//! Faults are 503 with `Retry-After`, never 500 (issue 9 §6), and one directory's flood is
//! bounded (§7): the gateway against the real Postgres when its connections are cut, when it
//! refuses connections, and when a statement waits past `gateway.statement_timeout_ms`; and a
//! directory past `gateway.max_in_flight_writes_per_directory`.

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl, sql_query};
use roster_integration_tests::{TestApp, entra_user, eventually};
use roster_store::database::maintenance_url;
use serde_json::Value;

/// A connection to the server's `postgres` database, for what a test does to its own database
/// from outside it.
fn maintenance_conn(app: &TestApp) -> PgConnection {
    let (url, _) = maintenance_url(&app.db.url).expect("database URL has a name");
    PgConnection::establish(&url).expect("maintenance connection")
}

fn database_name(app: &TestApp) -> String {
    maintenance_url(&app.db.url).expect("database URL has a name").1
}

/// Cut every connection to the test's database: the gateway's pool, its outcome hub, the
/// projector's (what a Postgres restart does to them).
fn terminate_connections(app: &TestApp) -> usize {
    #[derive(diesel::QueryableByName)]
    struct Terminated {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let rows: Vec<Terminated> = sql_query(format!(
        "SELECT count(pg_terminate_backend(pid)) AS count FROM pg_stat_activity \
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        database_name(app)
    ))
    .load(&mut maintenance_conn(app))
    .unwrap();
    rows[0].count as usize
}

fn allow_connections(app: &TestApp, allow: bool) {
    sql_query(format!("ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {allow}", database_name(app)))
        .execute(&mut maintenance_conn(app))
        .unwrap();
}

/// A 503 carries a SCIM error and `Retry-After`.
async fn assert_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), 503);
    let retry_after =
        response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    assert!(
        retry_after.as_ref().is_some_and(|v| v.parse::<u32>().is_ok()),
        "Retry-After: {retry_after:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "503", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("retry later"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_answer_503_and_are_replaced() {
    let app = TestApp::spawn().await;
    let created = app.post_user(&entra_user("cut@contoso.com")).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    // Fill the pool with open connections.
    let path = format!("/Users/{id}");
    let reads = (0..16).map(|_| app.get(&path));
    for response in futures::future::join_all(reads).await {
        assert_eq!(response.status(), 200);
    }

    assert!(terminate_connections(&app) > 0, "nothing was connected to cut");

    // Each dead pooled connection may fail one request (503), and is then replaced: the pool
    // never hands it out again, so the gateway recovers without a restart.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let response = app.get(&format!("/Users/{id}")).await;
        let status = response.status().as_u16();
        if status == 503 {
            assert_unavailable(response).await;
        } else {
            assert_eq!(status, 200, "a read after the connections were cut");
        }
        statuses.push(status);
    }
    assert!(
        statuses[statuses.len() - 20..].iter().all(|s| *s == 200),
        "the gateway kept failing on dead connections: {statuses:?}"
    );
    // Writes too: the projector and the hub reconnect.
    eventually(Duration::from_secs(20), "a create after the cut", || async {
        let response = app.post_user(&entra_user("after-cut@contoso.com")).await;
        match response.status().as_u16() {
            201 => Some(()),
            503 => None,
            other => panic!("a create after the cut answered {other}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_refuses_connections_is_503_then_recovers() {
    // The token cache must not hide the outage: the grant is looked up again.
    let app = TestApp::spawn_with(|s| s.auth.token_cache_ttl_ms = 0).await;
    assert_eq!(app.get("/Users?count=1").await.status(), 200);

    allow_connections(&app, false);
    terminate_connections(&app);
    let started = Instant::now();
    let response = app.get("/Users?count=1").await;
    let elapsed = started.elapsed();
    allow_connections(&app, true);
    assert_unavailable(response).await;
    // The pool's checkout timeout (5 s) bounds the wait.
    assert!(elapsed < Duration::from_secs(8), "the 503 took {elapsed:?}");

    eventually(Duration::from_secs(20), "reads after the database came back", || async {
        (app.get("/Users?count=1").await.status() == 200).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_timeout_is_503() {
    let app = TestApp::spawn_with(|s| s.gateway.statement_timeout_ms = 300).await;
    assert_eq!(app.get("/Users?filter=userName%20eq%20%22x%22").await.status(), 200);

    // Hold the users table, so the lookup waits on its lock past the statement timeout.
    let mut holder = app.db.conn();
    sql_query("BEGIN").execute(&mut holder).unwrap();
    sql_query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE").execute(&mut holder).unwrap();
    let started = Instant::now();
    let response = app.get("/Users?filter=userName%20eq%20%22x%22").await;
    let elapsed = started.elapsed();
    sql_query("ROLLBACK").execute(&mut holder).unwrap();
    assert_unavailable(response).await;
    assert!(elapsed < Duration::from_secs(3), "the timeout took {elapsed:?}");

    let response = app.get("/Users?filter=userName%20eq%20%22x%22").await;
    assert_eq!(response.status(), 200, "the same read once the lock is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_past_a_directorys_bound_are_429_and_other_directories_go_on() {
    let mut app = TestApp::spawn_with(|s| {
        s.gateway.max_in_flight_writes_per_directory = 2;
        s.gateway.outcome_timeout_ms = 30_000;
    })
    .await;
    let bystander = app.add_bystander();
    // No projector: writes wait for their outcome, so they stay in flight.
    app.stop_projector().await.unwrap();

    let pending: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let request = app
                .client
                .post(format!("{}/Users", app.scim_url()))
                .bearer_auth(&app.token)
                .header("Content-Type", "application/scim+json")
                .json(&entra_user(&format!("{name}@contoso.com")));
            tokio::spawn(request.send())
        })
        .collect();
    eventually(Duration::from_secs(10), "two writes in the log", || async {
        (app.published_count().await >= 2).then_some(())
    })
    .await;

    let started = Instant::now();
    let refused = app.post_user(&entra_user("c@contoso.com")).await;
    assert!(started.elapsed() < Duration::from_secs(1), "the 429 took {:?}", started.elapsed());
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers().get("retry-after").unwrap(), "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["status"], "429", "{body}");
    assert_eq!(app.published_count().await, 2, "the refused write was not published");

    // Another directory is not bounded by this one's writes.
    let other = app
        .client
        .post(format!("{}/scim/v2/{}/Users", app.base_url, bystander.directory_id))
        .bearer_auth(&bystander.token)
        .header("Content-Type", "application/scim+json")
        .json(&entra_user("bystander@contoso.com"));
    let other = tokio::spawn(other.send());

    app.start_projector().await;
    for response in pending {
        assert_eq!(response.await.unwrap().unwrap().status(), 201);
    }
    assert_eq!(other.await.unwrap().unwrap().status(), 201);
    // The bound is free again.
    assert_eq!(app.post_user(&entra_user("c@contoso.com")).await.status(), 201);
}

/// Slow queries of one tenant hold every connection of the general pool (here: group searches
/// waiting on a lock until the statement timeout); another tenant's matching lookups run on the
/// lookup pool and still answer at once, and the slow ones end in 503, never a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_queries_filling_the_pool_never_delay_another_tenants_lookups() {
    let app = TestApp::spawn_with(|s| {
        s.database.pool_size = 2;
        s.gateway.statement_timeout_ms = 3_000;
    })
    .await;
    let bystander = app.add_bystander();
    let lookup = || {
        app.client
            .get(format!(
                "{}/scim/v2/{}/Users?filter=userName%20eq%20%22nobody%40contoso.com%22",
                app.base_url, bystander.directory_id
            ))
            .bearer_auth(&bystander.token)
            .send()
    };
    // Its token is verified (and cached) before the pool is held.
    assert_eq!(lookup().await.unwrap().status(), 200);

    let mut holder = app.db.conn();
    sql_query("BEGIN").execute(&mut holder).unwrap();
    sql_query("LOCK TABLE groups IN ACCESS EXCLUSIVE MODE").execute(&mut holder).unwrap();
    // Not point lookups (`sw`): they take the general pool and wait on the lock.
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let app = &app;
            async move { app.get("/Groups?filter=displayName%20sw%20%22S%22").await }
        })
        .collect();
    let slow = futures::future::join_all(slow);
    let bystander_side = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let response = lookup().await.unwrap();
        (response.status(), started.elapsed())
    };
    let (slow, (status, elapsed)) = tokio::join!(slow, bystander_side);
    sql_query("ROLLBACK").execute(&mut holder).unwrap();

    assert_eq!(status, 200, "the other tenant's lookup while the pool was held");
    assert!(elapsed < Duration::from_secs(1), "the other tenant's lookup took {elapsed:?}");
    for response in slow {
        assert_unavailable(response).await;
    }
    app.assert_bystander_provisions(&bystander).await;
}
