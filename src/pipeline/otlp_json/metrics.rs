use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, Exemplar, ExponentialHistogramDataPoint,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, SummaryDataPoint,
};

use super::common::{attributes, resource, scope};
use super::writer::{self, Object};

pub fn write(out: &mut Vec<u8>, request: &ExportMetricsServiceRequest) {
    let mut object = Object::begin(out);
    object.array(
        "resourceMetrics",
        &request.resource_metrics,
        resource_metrics,
    );
    object.end();
}

fn resource_metrics(out: &mut Vec<u8>, group: &ResourceMetrics) {
    let mut object = Object::begin(out);
    object.message("resource", group.resource.as_ref(), resource);
    object.array("scopeMetrics", &group.scope_metrics, scope_metrics);
    object.string("schemaUrl", &group.schema_url);
    object.end();
}

fn scope_metrics(out: &mut Vec<u8>, group: &ScopeMetrics) {
    let mut object = Object::begin(out);
    object.message("scope", group.scope.as_ref(), scope);
    object.array("metrics", &group.metrics, metric);
    object.string("schemaUrl", &group.schema_url);
    object.end();
}

fn metric(out: &mut Vec<u8>, metric: &Metric) {
    let mut object = Object::begin(out);
    object.string("name", &metric.name);
    object.string("description", &metric.description);
    object.string("unit", &metric.unit);
    // The data is a oneof of messages: the set member is written even when it is empty.
    match &metric.data {
        None => {}
        Some(Data::Gauge(gauge)) => {
            let mut data = Object::begin(object.field("gauge"));
            data.array("dataPoints", &gauge.data_points, number_point);
            data.end();
        }
        Some(Data::Sum(sum)) => {
            let mut data = Object::begin(object.field("sum"));
            data.array("dataPoints", &sum.data_points, number_point);
            data.int32("aggregationTemporality", sum.aggregation_temporality);
            data.bool("isMonotonic", sum.is_monotonic);
            data.end();
        }
        Some(Data::Histogram(histogram)) => {
            let mut data = Object::begin(object.field("histogram"));
            data.array("dataPoints", &histogram.data_points, histogram_point);
            data.int32("aggregationTemporality", histogram.aggregation_temporality);
            data.end();
        }
        Some(Data::ExponentialHistogram(histogram)) => {
            let mut data = Object::begin(object.field("exponentialHistogram"));
            data.array("dataPoints", &histogram.data_points, exponential_point);
            data.int32("aggregationTemporality", histogram.aggregation_temporality);
            data.end();
        }
        Some(Data::Summary(summary)) => {
            let mut data = Object::begin(object.field("summary"));
            data.array("dataPoints", &summary.data_points, summary_point);
            data.end();
        }
    }
    attributes(&mut object, "metadata", &metric.metadata);
    object.end();
}

fn number_point(out: &mut Vec<u8>, point: &NumberDataPoint) {
    let mut object = Object::begin(out);
    attributes(&mut object, "attributes", &point.attributes);
    object.uint64("startTimeUnixNano", point.start_time_unix_nano);
    object.uint64("timeUnixNano", point.time_unix_nano);
    match point.value {
        None => {}
        Some(number_data_point::Value::AsDouble(value)) => {
            writer::double(object.field("asDouble"), value)
        }
        Some(number_data_point::Value::AsInt(value)) => {
            writer::int64_string(object.field("asInt"), value)
        }
    }
    object.array("exemplars", &point.exemplars, exemplar);
    object.uint32("flags", point.flags);
    object.end();
}

fn histogram_point(out: &mut Vec<u8>, point: &HistogramDataPoint) {
    let mut object = Object::begin(out);
    attributes(&mut object, "attributes", &point.attributes);
    object.uint64("startTimeUnixNano", point.start_time_unix_nano);
    object.uint64("timeUnixNano", point.time_unix_nano);
    object.uint64("count", point.count);
    object.optional_double("sum", point.sum);
    object.uint64s("bucketCounts", &point.bucket_counts);
    object.doubles("explicitBounds", &point.explicit_bounds);
    object.array("exemplars", &point.exemplars, exemplar);
    object.uint32("flags", point.flags);
    object.optional_double("min", point.min);
    object.optional_double("max", point.max);
    object.end();
}

fn exponential_point(out: &mut Vec<u8>, point: &ExponentialHistogramDataPoint) {
    let mut object = Object::begin(out);
    attributes(&mut object, "attributes", &point.attributes);
    object.uint64("startTimeUnixNano", point.start_time_unix_nano);
    object.uint64("timeUnixNano", point.time_unix_nano);
    object.uint64("count", point.count);
    object.optional_double("sum", point.sum);
    object.int32("scale", point.scale);
    object.uint64("zeroCount", point.zero_count);
    object.message("positive", point.positive.as_ref(), buckets);
    object.message("negative", point.negative.as_ref(), buckets);
    object.uint32("flags", point.flags);
    object.array("exemplars", &point.exemplars, exemplar);
    object.optional_double("min", point.min);
    object.optional_double("max", point.max);
    object.double("zeroThreshold", point.zero_threshold);
    object.end();
}

fn buckets(out: &mut Vec<u8>, buckets: &Buckets) {
    let mut object = Object::begin(out);
    object.int32("offset", buckets.offset);
    object.uint64s("bucketCounts", &buckets.bucket_counts);
    object.end();
}

fn summary_point(out: &mut Vec<u8>, point: &SummaryDataPoint) {
    let mut object = Object::begin(out);
    attributes(&mut object, "attributes", &point.attributes);
    object.uint64("startTimeUnixNano", point.start_time_unix_nano);
    object.uint64("timeUnixNano", point.time_unix_nano);
    object.uint64("count", point.count);
    object.double("sum", point.sum);
    object.array("quantileValues", &point.quantile_values, quantile);
    object.uint32("flags", point.flags);
    object.end();
}

fn quantile(out: &mut Vec<u8>, quantile: &ValueAtQuantile) {
    let mut object = Object::begin(out);
    object.double("quantile", quantile.quantile);
    object.double("value", quantile.value);
    object.end();
}

fn exemplar(out: &mut Vec<u8>, exemplar: &Exemplar) {
    let mut object = Object::begin(out);
    attributes(
        &mut object,
        "filteredAttributes",
        &exemplar.filtered_attributes,
    );
    object.uint64("timeUnixNano", exemplar.time_unix_nano);
    match exemplar.value {
        None => {}
        Some(exemplar::Value::AsDouble(value)) => writer::double(object.field("asDouble"), value),
        Some(exemplar::Value::AsInt(value)) => writer::int64_string(object.field("asInt"), value),
    }
    object.hex_id("spanId", &exemplar.span_id);
    object.hex_id("traceId", &exemplar.trace_id);
    object.end();
}
