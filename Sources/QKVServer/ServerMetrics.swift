import Foundation
import Prometheus

/// The server's counters for `GET /metrics`, in Prometheus' text format (Specs/server.md lists them).
/// A registry of its own, not swift-metrics' process-wide one: a library does not bootstrap the process.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    /// Seconds, from 1 ms to about a minute: a tokenize call to a long completion.
    static let latencyBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                             .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5),
                                             .seconds(5), .seconds(10), .seconds(30), .seconds(60)]

    /// One request answered: its endpoint (a known path, else "other"), status and time.
    func request(endpoint: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: .qkv("requests", unit: "total", "HTTP requests answered, by endpoint and status"),
                             labels: [("endpoint", endpoint), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: .qkv("request_duration", unit: "seconds",
                                                        "Time from a request's arrival to its response's head (a stream's end comes later)"),
                                       labels: [("endpoint", endpoint)], buckets: Self.latencyBuckets).record(duration)
    }

    /// The series of one served model.
    func model(_ name: String) -> ModelMetrics { ModelMetrics(registry: registry, model: name) }

    struct ModelMetrics: Sendable {
        let promptTokens, generatedTokens, embeddedTokens: Counter
        let queueDepth, activeSequences: Gauge
        let batchSize: ValueHistogram
        let queueWait: DurationHistogram

        init(registry: PrometheusCollectorRegistry, model: String) {
            let label = [("model", model)]
            promptTokens = registry.makeCounter(descriptor: .qkv("prompt_tokens", unit: "total", "Prompt tokens run through the model"), labels: label)
            generatedTokens = registry.makeCounter(descriptor: .qkv("generated_tokens", unit: "total", "Tokens generated"), labels: label)
            embeddedTokens = registry.makeCounter(descriptor: .qkv("embedded_tokens", unit: "total", "Tokens of embedded inputs"), labels: label)
            queueDepth = registry.makeGauge(descriptor: .qkv("queue", unit: "depth", "Requests waiting for the model"), labels: label)
            activeSequences = registry.makeGauge(descriptor: .qkv("active", unit: "sequences", "Generations decoding together"), labels: label)
            batchSize = registry.makeValueHistogram(descriptor: .qkv("batch", unit: "size", "Sequences per decode step, or texts per embedding batch"),
                                                    labels: label, buckets: [1, 2, 4, 8, 16, 32, 64, 128])
            queueWait = registry.makeDurationHistogram(descriptor: .qkv("queue_wait", unit: "seconds", "Time a request waited for the model"),
                                                       labels: label, buckets: ServerMetrics.latencyBuckets)
        }
    }

    /// The text of every series.
    func text() -> String { registry.emitToString() }
}

extension Gauge {
    func record(_ count: Int) { set(Int64(count)) }
}

extension Histogram<Duration> {
    func recordInterval(since start: ContinuousClock.Instant) { record(ContinuousClock.now - start) }
}

extension Histogram<Double> {
    func record(_ count: Int) { record(Double(count)) }
}

extension MetricNameDescriptor {
    /// `qkv_<name>_<unit>`.
    static func qkv(_ name: String, unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "qkv", metricName: name, unitName: unit, helpText: help)
    }
}
