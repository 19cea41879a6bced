//! `/metrics` of every service under load: Prometheus text exposition that parses, with the
//! histograms, counters and lag the operators' dashboards and alerts read, and no ids in labels.

use std::collections::HashMap;
use std::time::Duration;

use roster_integration_tests::{TestApp, entra_user, eventually};

/// One sample of the exposition: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Parse the text format (0.0.4) strictly: every line is a comment or a sample, every family has
/// a TYPE, label values are quoted with escapes, values are numbers.
fn parse(text: &str) -> Vec<Sample> {
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), HashMap::new()),
            Some((name, rest)) => (name.to_string(), labels_of(rest.strip_suffix('}').expect("}"))),
        };
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "{name}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s).filter(|f| typed.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(&name);
        assert!(typed.contains_key(family), "{name} has no TYPE");
        samples.push(Sample { name, labels, value });
    }
    samples
}

fn labels_of(text: &str) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (i, '"') => break i,
                (_, '\\') => value.push(chars.next().expect("escape").1),
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

fn sum(samples: &[Sample], name: &str, filter: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && filter.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(app: &TestApp, url: &str) -> Vec<Sample> {
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    parse(&response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_exposes_its_metrics_under_load() {
    let mut app = TestApp::spawn().await;
    app.start_role_mapper().await;
    let app = std::sync::Arc::new(app);
    let mut clients = Vec::new();
    for client in 0..32 {
        let app = app.clone();
        clients.push(tokio::spawn(async move {
            for n in 0..5 {
                let response =
                    app.post_user(&entra_user(&format!("load-{client}-{n}@contoso.com"))).await;
                assert_eq!(response.status(), 201);
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let projector =
        format!("http://127.0.0.1:{}/metrics", app.projector.as_ref().unwrap().health_port);
    let role_mapper =
        format!("http://127.0.0.1:{}/metrics", app.role_mapper.as_ref().unwrap().health_port);

    let gateway = scrape(&app, &app.metrics_url).await;
    let route = [("route", "/scim/v2/{directory}/Users"), ("method", "POST"), ("status", "201")];
    assert!(sum(&gateway, "roster_http_request_duration_seconds_count", &route) >= 160.0);
    assert!(
        sum(&gateway, "roster_http_request_duration_seconds_bucket", &[("le", "+Inf")]) >= 160.0
    );
    assert!(sum(&gateway, "roster_outcome_wait_seconds_count", &[("result", "applied")]) >= 160.0);
    assert!(sum(&gateway, "roster_produce_duration_seconds_count", &[]) >= 160.0);
    assert!(
        sum(&gateway, "roster_token_cache_lookups_total", &[("kind", "scim"), ("result", "hit")])
            > 0.0
    );
    assert!(gateway.iter().any(|s| s.name == "roster_db_pool_connections"));

    let group = app.settings.kafka.projector_group.clone();
    let batches = scrape(&app, &projector).await;
    assert!(sum(&batches, "roster_batch_size_events_sum", &[("group", &group)]) >= 160.0);
    assert!(
        sum(&batches, "roster_consumer_events_total", &[("group", &group), ("result", "applied")])
            >= 160.0
    );
    assert!(sum(&batches, "roster_batch_duration_seconds_count", &[("group", &group)]) > 0.0);

    // The lag gauges come with librdkafka's statistics (every 5 s); caught up, they read 0.
    let lag = eventually(Duration::from_secs(15), "the lag gauges", || async {
        let samples = scrape(&app, &role_mapper).await;
        let lags: Vec<Sample> = samples
            .into_iter()
            .filter(|s| {
                s.name == "roster_consumer_lag_events" && s.labels.get("group") == Some(&group)
            })
            .collect();
        (lags.len() as i32 == app.settings.kafka.partitions).then_some(lags)
    })
    .await;
    assert!(lag.iter().all(|s| s.value >= 0.0));
    let samples = eventually(Duration::from_secs(10), "every user notified", || async {
        let samples = scrape(&app, &role_mapper).await;
        (sum(&samples, "roster_notifications_total", &[("type", "user.provisioned")]) >= 160.0)
            .then_some(samples)
    })
    .await;
    assert!(sum(&samples, "roster_relay_latency_seconds_count", &[]) >= 160.0);

    // No label holds an id: a UUID anywhere in a label value would be a tenant's data. (The
    // consumer groups are named by settings; the tests name theirs with a UUID.)
    for sample in gateway.iter().chain(&samples) {
        for (key, value) in &sample.labels {
            if key == "group" {
                continue;
            }
            assert!(
                !value
                    .split(|c: char| !c.is_ascii_hexdigit() && c != '-')
                    .any(|w| uuid::Uuid::parse_str(w).is_ok()),
                "{} has an id in its labels: {value}",
                sample.name
            );
        }
    }
}

#[test]
fn the_parser_refuses_what_is_not_the_exposition_format() {
    assert_eq!(parse("# TYPE a counter\na 1\n")[0].value, 1.0);
    let labelled = parse("# TYPE b gauge\nb{x=\"q\\\"uote\",y=\"2\"} 3.5\n");
    assert_eq!(labelled[0].labels["x"], "q\"uote");
    for bad in ["a 1\n", "# TYPE a counter\na one\n", "# TYPE a weird\na 1\n"] {
        assert!(std::panic::catch_unwind(|| parse(bad)).is_err(), "{bad:?}");
    }
}
