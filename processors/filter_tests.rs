use super::*;
use crate::processors::test_data::*;

fn processor(yaml: &str) -> FilterProcessor {
    let config: FilterConfig = serde_saphyr::from_str(yaml).unwrap();
    assert!(config.validate().is_empty(), "{:?}", config.validate());
    FilterProcessor::new(&config, counters("filter"))
}

fn kept(filter: &FilterProcessor, batch: Batch) -> usize {
    let mut out = filter.process(batch, &mut Outcome::default()).unwrap();
    assert_eq!(
        out.items(),
        out.payload().item_count(),
        "the count follows the payload"
    );
    out.items()
}

#[test]
fn metric_names_match_exactly_by_glob_and_by_regex() {
    let filter =
        processor(r#"{ metric_names: ["system.cpu.*", "exact"], metric_name_regex: ["^tmp_"] }"#);
    let batch = metrics(vec![(
        database(),
        vec![
            gauge("system.cpu.time", vec![point(1.0, &[])]),
            gauge("exact", vec![point(1.0, &[])]),
            gauge("exactly", vec![point(1.0, &[])]),
            gauge("tmp_x", vec![point(1.0, &[])]),
            gauge("system.memory", vec![point(1.0, &[]), point(2.0, &[])]),
        ],
    )]);
    assert_eq!(kept(&filter, batch), 3);
}

#[test]
fn attribute_matches_drop_items_and_resources() {
    let filter = processor("{ resource_attributes: { deployment.environment: staging }, attributes: { http.route: /health } }");
    let staging = traces(
        resource(&[("deployment.environment", "staging")]),
        vec![span("a", 2), span("b", 2)],
    );
    assert_eq!(kept(&filter, staging), 0);
    let mut health = span("health", 2);
    health.attributes.push(kv("http.route", "/health"));
    assert_eq!(
        kept(
            &filter,
            traces(
                resource(&[("deployment.environment", "production")]),
                vec![health, span("c", 2)]
            )
        ),
        1
    );
}

#[test]
fn a_severity_floor_drops_quieter_logs() {
    let filter = processor("min_severity: warn");
    assert_eq!(
        kept(
            &filter,
            logs(
                database(),
                vec![
                    log("debug", 5),
                    log("info", 9),
                    log("warn", 13),
                    log("error", 17)
                ]
            )
        ),
        2
    );
}

#[test]
fn span_kinds_drop_spans() {
    let filter = processor("span_kinds: [internal, client]");
    assert_eq!(
        kept(
            &filter,
            traces(
                None,
                vec![span("internal", 1), span("server", 2), span("client", 3)]
            )
        ),
        1
    );
}

#[test]
fn conditions_for_several_signals_are_refused() {
    let config: FilterConfig =
        serde_saphyr::from_str("{ min_severity: warn, span_kinds: [internal] }").unwrap();
    assert!(config.validate()[0].message.contains("one signal"));
}

#[test]
fn globs() {
    assert!(glob_match("a*c", "abbbc"));
    assert!(glob_match("a?c", "abc"));
    assert!(!glob_match("a?c", "abbc"));
    assert!(glob_match("*", ""));
    assert!(glob_match("日*", "日本語"));
    assert!(!glob_match("abc", "abcd"));
}
