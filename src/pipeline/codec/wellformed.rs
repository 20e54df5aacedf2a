//! Checks what decoding lets through but the data model forbids: a data point without a value
//! (the JSON decoder turns `"asInt": "x"` into no value at all), a metric without data, span and
//! trace ids of the wrong length. Paths use the OTLP/JSON field names.

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::NumberDataPoint;

use crate::pipeline::batch::Payload;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct Malformed {
    pub path: String,
    pub problem: String,
}

pub fn check(payload: &Payload) -> Result<(), Malformed> {
    match payload {
        Payload::Traces(request) => {
            for (r, resource) in request.resource_spans.iter().enumerate() {
                for (s, scope) in resource.scope_spans.iter().enumerate() {
                    for (i, span) in scope.spans.iter().enumerate() {
                        let path = || format!("resourceSpans[{r}].scopeSpans[{s}].spans[{i}]");
                        id_length(&span.trace_id, 16, "traceId", path)?;
                        id_length(&span.span_id, 8, "spanId", path)?;
                        if !span.parent_span_id.is_empty() {
                            id_length(&span.parent_span_id, 8, "parentSpanId", path)?;
                        }
                    }
                }
            }
        }
        Payload::Metrics(request) => {
            for (r, resource) in request.resource_metrics.iter().enumerate() {
                for (s, scope) in resource.scope_metrics.iter().enumerate() {
                    for (m, metric) in scope.metrics.iter().enumerate() {
                        let path = format!("resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}]");
                        check_metric_data(metric.data.as_ref(), &metric.name, &path)?;
                    }
                }
            }
        }
        Payload::DeadLetters(_) => {}
        Payload::Logs(request) => {
            for (r, resource) in request.resource_logs.iter().enumerate() {
                for (s, scope) in resource.scope_logs.iter().enumerate() {
                    for (i, record) in scope.log_records.iter().enumerate() {
                        let path = || format!("resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]");
                        if !record.trace_id.is_empty() {
                            id_length(&record.trace_id, 16, "traceId", path)?;
                        }
                        if !record.span_id.is_empty() {
                            id_length(&record.span_id, 8, "spanId", path)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn id_length(
    id: &[u8],
    expected: usize,
    field: &str,
    path: impl Fn() -> String,
) -> Result<(), Malformed> {
    if id.len() == expected {
        return Ok(());
    }
    Err(Malformed {
        path: format!("{}.{field}", path()),
        problem: format!(
            "expected {expected} bytes ({} hex digits), found {}",
            expected * 2,
            id.len()
        ),
    })
}

fn check_metric_data(data: Option<&Data>, name: &str, path: &str) -> Result<(), Malformed> {
    let points = match data {
        None => {
            return Err(Malformed {
                path: path.to_string(),
                problem: format!(
                    "metric {name:?} has no data: expected one of gauge, sum, histogram, exponentialHistogram, summary"
                ),
            })
        }
        Some(Data::Gauge(gauge)) => ("gauge", &gauge.data_points),
        Some(Data::Sum(sum)) => ("sum", &sum.data_points),
        Some(_) => return Ok(()),
    };
    number_points_have_values(points.1, &format!("{path}.{}", points.0))
}

fn number_points_have_values(points: &[NumberDataPoint], path: &str) -> Result<(), Malformed> {
    match points.iter().position(|p| p.value.is_none()) {
        None => Ok(()),
        Some(index) => Err(Malformed {
            path: format!("{path}.dataPoints[{index}]"),
            problem: "expected a value (asDouble or asInt), found none or one that did not decode"
                .into(),
        }),
    }
}

#[cfg(test)]
#[path = "wellformed_tests.rs"]
mod tests;
