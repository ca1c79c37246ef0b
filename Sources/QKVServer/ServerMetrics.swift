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
        registry.makeCounter(name: "qkv_requests_total", labels: [("endpoint", endpoint), ("status", String(status))],
                             help: "HTTP requests answered, by endpoint and status").increment()
        registry.makeDurationHistogram(name: "qkv_request_duration_seconds", labels: [("endpoint", endpoint)], buckets: Self.latencyBuckets,
                                       help: "Time from a request's arrival to its response's head (a stream's end comes later)").record(duration)
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
            promptTokens = registry.makeCounter(name: "qkv_prompt_tokens_total", labels: label, help: "Prompt tokens run through the model")
            generatedTokens = registry.makeCounter(name: "qkv_generated_tokens_total", labels: label, help: "Tokens generated")
            embeddedTokens = registry.makeCounter(name: "qkv_embedded_tokens_total", labels: label, help: "Tokens of embedded inputs")
            queueDepth = registry.makeGauge(name: "qkv_queue_depth", labels: label, help: "Requests waiting for the model")
            activeSequences = registry.makeGauge(name: "qkv_active_sequences", labels: label, help: "Generations decoding together")
            batchSize = registry.makeValueHistogram(name: "qkv_batch_size", labels: label, buckets: [1, 2, 4, 8, 16, 32, 64, 128],
                                                    help: "Sequences per decode step, or texts per embedding batch")
            queueWait = registry.makeDurationHistogram(name: "qkv_queue_wait_seconds", labels: label, buckets: ServerMetrics.latencyBuckets,
                                                       help: "Time a request waited for the model")
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
