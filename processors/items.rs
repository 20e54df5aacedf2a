//! Walking the items of a payload in place: reading each with its resource and scope, removing
//! some (and handing each removed one over as its own single-item payload), and editing
//! attributes. Kept items keep their grouping, so the common case costs no reshaping.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use crate::pipeline::batch::{data_point_count, Payload};

pub enum Item<'a> {
    Span(&'a Span),
    Point(&'a Metric, Point<'a>),
    Log(&'a LogRecord),
}

pub enum Point<'a> {
    Number(&'a NumberDataPoint),
    Histogram(&'a HistogramDataPoint),
    ExponentialHistogram(&'a ExponentialHistogramDataPoint),
    Summary(&'a SummaryDataPoint),
}

pub struct ItemRef<'a> {
    pub resource: Option<&'a Resource>,
    pub scope: Option<&'a InstrumentationScope>,
    pub item: Item<'a>,
}

impl ItemRef<'_> {
    pub fn resource_attributes(&self) -> &[KeyValue] {
        self.resource.map_or(&[], |r| &r.attributes)
    }

    pub fn attributes(&self) -> &[KeyValue] {
        match &self.item {
            Item::Span(span) => &span.attributes,
            Item::Log(log) => &log.attributes,
            Item::Point(_, Point::Number(p)) => &p.attributes,
            Item::Point(_, Point::Histogram(p)) => &p.attributes,
            Item::Point(_, Point::ExponentialHistogram(p)) => &p.attributes,
            Item::Point(_, Point::Summary(p)) => &p.attributes,
        }
    }
}

pub use crate::pipeline::attributes::{as_text, find, string_value};

/// Keeps the items `decide` accepts; each refused one goes to `removed` as a single-item
/// payload (resource and scope included) with the reason. Empty scopes and resources go too.
pub fn retain<R>(
    payload: &mut Payload,
    mut decide: impl FnMut(&ItemRef<'_>) -> Result<(), R>,
    mut removed: impl FnMut(Payload, R),
) {
    match payload {
        Payload::Traces(request) => {
            for ResourceSpans {
                resource,
                scope_spans,
                schema_url,
            } in &mut request.resource_spans
            {
                for ScopeSpans {
                    scope,
                    spans,
                    schema_url: scope_url,
                } in scope_spans.iter_mut()
                {
                    spans.retain(|span| {
                        let item = ItemRef {
                            resource: resource.as_ref(),
                            scope: scope.as_ref(),
                            item: Item::Span(span),
                        };
                        decide(&item)
                            .map_err(|reason| {
                                let single = ExportTraceServiceRequest {
                                    resource_spans: vec![ResourceSpans {
                                        resource: resource.clone(),
                                        scope_spans: vec![ScopeSpans {
                                            scope: scope.clone(),
                                            spans: vec![span.clone()],
                                            schema_url: scope_url.clone(),
                                        }],
                                        schema_url: schema_url.clone(),
                                    }],
                                };
                                removed(Payload::Traces(single), reason)
                            })
                            .is_ok()
                    });
                }
                scope_spans.retain(|s| !s.spans.is_empty());
            }
            request.resource_spans.retain(|r| !r.scope_spans.is_empty());
        }
        Payload::Logs(request) => {
            for ResourceLogs {
                resource,
                scope_logs,
                schema_url,
            } in &mut request.resource_logs
            {
                for ScopeLogs {
                    scope,
                    log_records,
                    schema_url: scope_url,
                } in scope_logs.iter_mut()
                {
                    log_records.retain(|log| {
                        let item = ItemRef {
                            resource: resource.as_ref(),
                            scope: scope.as_ref(),
                            item: Item::Log(log),
                        };
                        decide(&item)
                            .map_err(|reason| {
                                let single = ExportLogsServiceRequest {
                                    resource_logs: vec![ResourceLogs {
                                        resource: resource.clone(),
                                        scope_logs: vec![ScopeLogs {
                                            scope: scope.clone(),
                                            log_records: vec![log.clone()],
                                            schema_url: scope_url.clone(),
                                        }],
                                        schema_url: schema_url.clone(),
                                    }],
                                };
                                removed(Payload::Logs(single), reason)
                            })
                            .is_ok()
                    });
                }
                scope_logs.retain(|s| !s.log_records.is_empty());
            }
            request.resource_logs.retain(|r| !r.scope_logs.is_empty());
        }
        Payload::Metrics(request) => {
            for ResourceMetrics {
                resource,
                scope_metrics,
                schema_url,
            } in &mut request.resource_metrics
            {
                for ScopeMetrics {
                    scope,
                    metrics,
                    schema_url: scope_url,
                } in scope_metrics.iter_mut()
                {
                    for metric in metrics.iter_mut() {
                        let mut remove = |single_metric: Metric, reason: R| {
                            let single = ExportMetricsServiceRequest {
                                resource_metrics: vec![ResourceMetrics {
                                    resource: resource.clone(),
                                    scope_metrics: vec![ScopeMetrics {
                                        scope: scope.clone(),
                                        metrics: vec![single_metric],
                                        schema_url: scope_url.clone(),
                                    }],
                                    schema_url: schema_url.clone(),
                                }],
                            };
                            removed(Payload::Metrics(single), reason);
                        };
                        retain_points(
                            metric,
                            resource.as_ref(),
                            scope.as_ref(),
                            &mut decide,
                            &mut remove,
                        );
                    }
                    // A metric that lost its last data point goes; one that never had data stays
                    // for the stages that judge it.
                    metrics.retain(|m| m.data.is_none() || data_point_count(m.data.as_ref()) > 0);
                }
                scope_metrics.retain(|s| !s.metrics.is_empty());
            }
            request
                .resource_metrics
                .retain(|r| !r.scope_metrics.is_empty());
        }
        Payload::DeadLetters(_) => {}
    }
}

fn retain_points<R>(
    metric: &mut Metric,
    resource: Option<&Resource>,
    scope: Option<&InstrumentationScope>,
    decide: &mut impl FnMut(&ItemRef<'_>) -> Result<(), R>,
    remove: &mut impl FnMut(Metric, R),
) {
    let Some(mut data) = metric.data.take() else {
        return;
    };
    let shell = Metric {
        data: None,
        ..metric.clone()
    };
    macro_rules! retain_kind {
        ($points:expr, $point:ident, $rebuild:expr) => {
            $points.retain(|p| {
                let item = ItemRef {
                    resource,
                    scope,
                    item: Item::Point(&shell, Point::$point(p)),
                };
                decide(&item)
                    .map_err(|reason| {
                        remove(
                            Metric {
                                data: Some($rebuild(p.clone())),
                                ..shell.clone()
                            },
                            reason,
                        )
                    })
                    .is_ok()
            })
        };
    }
    match &mut data {
        Data::Gauge(g) => retain_kind!(g.data_points, Number, |p| Data::Gauge(
            opentelemetry_proto::tonic::metrics::v1::Gauge {
                data_points: vec![p]
            }
        )),
        Data::Sum(s) => {
            let (temporality, monotonic) = (s.aggregation_temporality, s.is_monotonic);
            retain_kind!(s.data_points, Number, |p| Data::Sum(
                opentelemetry_proto::tonic::metrics::v1::Sum {
                    data_points: vec![p],
                    aggregation_temporality: temporality,
                    is_monotonic: monotonic
                }
            ))
        }
        Data::Histogram(h) => {
            let temporality = h.aggregation_temporality;
            retain_kind!(h.data_points, Histogram, |p| Data::Histogram(
                opentelemetry_proto::tonic::metrics::v1::Histogram {
                    data_points: vec![p],
                    aggregation_temporality: temporality
                }
            ))
        }
        Data::ExponentialHistogram(h) => {
            let temporality = h.aggregation_temporality;
            retain_kind!(h.data_points, ExponentialHistogram, |p| {
                Data::ExponentialHistogram(
                    opentelemetry_proto::tonic::metrics::v1::ExponentialHistogram {
                        data_points: vec![p],
                        aggregation_temporality: temporality,
                    },
                )
            })
        }
        Data::Summary(s) => retain_kind!(s.data_points, Summary, |p| Data::Summary(
            opentelemetry_proto::tonic::metrics::v1::Summary {
                data_points: vec![p]
            }
        )),
    }
    metric.data = Some(data);
}

/// Every resource's attributes, for editing.
pub fn resource_attributes_mut(payload: &mut Payload, mut edit: impl FnMut(&mut Vec<KeyValue>)) {
    let mut each = |resource: &mut Option<Resource>| {
        edit(&mut resource.get_or_insert_with(Default::default).attributes)
    };
    match payload {
        Payload::Traces(r) => r
            .resource_spans
            .iter_mut()
            .for_each(|g| each(&mut g.resource)),
        Payload::Metrics(r) => r
            .resource_metrics
            .iter_mut()
            .for_each(|g| each(&mut g.resource)),
        Payload::Logs(r) => r
            .resource_logs
            .iter_mut()
            .for_each(|g| each(&mut g.resource)),
        Payload::DeadLetters(_) => {}
    }
}

/// Every span's, data point's or log record's attributes, for editing.
pub fn item_attributes_mut(payload: &mut Payload, mut edit: impl FnMut(&mut Vec<KeyValue>)) {
    match payload {
        Payload::Traces(r) => r
            .resource_spans
            .iter_mut()
            .flat_map(|g| &mut g.scope_spans)
            .flat_map(|s| &mut s.spans)
            .for_each(|span| edit(&mut span.attributes)),
        Payload::Logs(r) => r
            .resource_logs
            .iter_mut()
            .flat_map(|g| &mut g.scope_logs)
            .flat_map(|s| &mut s.log_records)
            .for_each(|log| edit(&mut log.attributes)),
        Payload::Metrics(r) => {
            for metric in r
                .resource_metrics
                .iter_mut()
                .flat_map(|g| &mut g.scope_metrics)
                .flat_map(|s| &mut s.metrics)
            {
                match &mut metric.data {
                    Some(Data::Gauge(g)) => g
                        .data_points
                        .iter_mut()
                        .for_each(|p| edit(&mut p.attributes)),
                    Some(Data::Sum(s)) => s
                        .data_points
                        .iter_mut()
                        .for_each(|p| edit(&mut p.attributes)),
                    Some(Data::Histogram(h)) => h
                        .data_points
                        .iter_mut()
                        .for_each(|p| edit(&mut p.attributes)),
                    Some(Data::ExponentialHistogram(h)) => h
                        .data_points
                        .iter_mut()
                        .for_each(|p| edit(&mut p.attributes)),
                    Some(Data::Summary(s)) => s
                        .data_points
                        .iter_mut()
                        .for_each(|p| edit(&mut p.attributes)),
                    None => {}
                }
            }
        }
        Payload::DeadLetters(_) => {}
    }
}
