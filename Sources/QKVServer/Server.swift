import Foundation
import Hummingbird
import Logging
import NIOCore
import QKVInference
import QKVTokenizers

/// How `qkv serve` runs.
public struct ServerConfiguration: Sendable {
    /// (name, path) of each model, answered by the requests' `model` field.
    public var models: [(name: String, path: String)]
    public var host: String
    /// 0: any free port (the startup line says which).
    public var port: Int
    /// Requests must carry `Authorization: Bearer <key>`; nil: no key needed.
    public var apiKey: String?
    /// Larger bodies are refused with 413.
    public var maxBodyBytes: Int
    /// Generations of one model decoding together (continuous batching).
    public var parallel: Int
    /// Prompt tokens one generation step takes beside the decoding sequences' next tokens.
    public var chunkTokens: Int
    /// Inputs of one embedding batch (requests are not split: a larger one runs alone).
    public var maxBatch: Int
    /// Requests that may wait for a model; one more is refused with 503 and `Retry-After`.
    public var maxQueue: Int
    /// What decoders' products of reduced-precision weights multiply (`ActivationPrecision`).
    public var activations: ActivationPrecision
    /// The threads and kernels every model computes with: one context for all of them, whose pool lends
    /// each running generation step or embedding batch a team of threads.
    public var context: ComputeContext

    public init(models: [(name: String, path: String)], host: String = "127.0.0.1", port: Int = 8080, apiKey: String? = nil,
                maxBodyBytes: Int = 8 << 20, parallel: Int = 8, chunkTokens: Int = DecoderSession.defaultChunkTokens, maxBatch: Int = 64, maxQueue: Int = 64,
                activations: ActivationPrecision = .f32, context: ComputeContext = .default) {
        self.models = models
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.maxBodyBytes = maxBodyBytes
        self.parallel = parallel
        self.chunkTokens = chunkTokens
        self.maxBatch = maxBatch
        self.maxQueue = maxQueue
        self.activations = activations
        self.context = context
    }
}

/// An OpenAI-compatible HTTP server for the models qkv runs (Specs/server.md): `/v1/embeddings`,
/// `/v1/completions`, `/v1/chat/completions`, `/v1/models`, `/tokenize`, `/detokenize`, `/health`, `/metrics`.
public enum QKVServer {
    /// Serves until SIGINT or SIGTERM (then in-flight requests finish). Models load after the socket is
    /// bound, so `/health` answers 503 until they are ready. `onListening` gets the bound address.
    /// - Parameters:
    ///   - configuration: the models, the address and the limits.
    ///   - logger: one line per request, and the models' loading.
    ///   - onListening: the address as `http://host:port`, once the socket is bound (with port 0, the port
    ///     the system chose).
    /// - Throws: when the socket cannot be bound. A model that fails to load does not end the server:
    ///   `/health` reports it.
    public static func run(_ configuration: ServerConfiguration, logger: Logger, onListening: @escaping @Sendable (String) -> Void) async throws {
        let metrics = ServerMetrics()
        let registry = ModelRegistry(configuration: configuration, metrics: metrics)
        let router = Router()
        router.add(middleware: APIMiddleware(apiKey: configuration.apiKey, logger: logger, metrics: metrics))
        let routes = Routes(registry: registry, metrics: metrics, maxBodyBytes: configuration.maxBodyBytes)
        routes.register(on: router)

        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "qkv"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                onListening("http://\(configuration.host):\(port)")
                Task.detached { await registry.load(logger: logger) }
            },
            logger: logger
        )
        try await app.runService()
    }
}

/// The served models, filled once the server listens, each with the queue that runs it.
actor ModelRegistry {
    enum State { case loading, ready, failed(String) }
    let configuration: ServerConfiguration
    let metrics: ServerMetrics
    private(set) var state: State = .loading
    private(set) var models: [ServedModel] = []
    private var schedulers: [String: GenerationScheduler] = [:]
    private var batchers: [String: EmbeddingBatcher] = [:]
    private var rerankers: [String: RerankBatcher] = [:]

    init(configuration: ServerConfiguration, metrics: ServerMetrics) {
        self.configuration = configuration
        self.metrics = metrics
    }

    /// Opens every model, then publishes them. The opening runs outside the actor, so `/health` and the
    /// other endpoints answer 503 meanwhile instead of waiting for it.
    nonisolated func load(logger: Logger) async {
        let (configuration, metrics) = (self.configuration, self.metrics)
        do {
            var loaded: [ServedModel] = []
            var schedulers: [String: GenerationScheduler] = [:], batchers: [String: EmbeddingBatcher] = [:], rerankers: [String: RerankBatcher] = [:]
            for (name, path) in configuration.models {
                let model = try ServedModel(name: name, path: path, activations: configuration.activations, context: configuration.context)
                loaded.append(model)
                switch model.kind {
                case .generation(let language):
                    schedulers[name] = GenerationScheduler(model: language, name: name, parallel: configuration.parallel,
                                                           chunkTokens: configuration.chunkTokens, maxQueue: configuration.maxQueue, metrics: metrics)
                case .embedding(let embedder):
                    batchers[name] = EmbeddingBatcher(embedder: embedder, name: name, maxBatch: configuration.maxBatch,
                                                      maxQueue: configuration.maxQueue, metrics: metrics)
                case .reranking(let reranker):
                    rerankers[name] = RerankBatcher(reranker: reranker, name: name, maxBatch: configuration.maxBatch,
                                                    maxQueue: configuration.maxQueue, metrics: metrics)
                }
                logger.info("loaded \(name) from \(path)")
            }
            await publish(loaded, schedulers: schedulers, batchers: batchers, rerankers: rerankers)
        } catch {
            await fail("\(error)")
            logger.error("cannot load the models: \(error)")
        }
    }

    private func publish(_ loaded: [ServedModel], schedulers: [String: GenerationScheduler], batchers: [String: EmbeddingBatcher],
                         rerankers: [String: RerankBatcher]) {
        models = loaded
        self.schedulers = schedulers
        self.batchers = batchers
        self.rerankers = rerankers
        state = .ready
    }

    private func fail(_ reason: String) { state = .failed(reason) }

    /// 503 while loading, 500 when loading failed.
    func requireReady() throws(APIError) {
        switch state {
        case .loading: throw APIError(status: .serviceUnavailable, message: "The models are still loading", type: "server_error", param: nil, code: nil)
        case .failed(let reason): throw APIError.server("The models could not be loaded: \(reason)")
        case .ready: break
        }
    }

    /// The model `name` names, or the only one when `name` is nil and there is one.
    func model(_ name: String?) throws(APIError) -> ServedModel {
        try requireReady()
        if let name {
            guard let model = models.first(where: { $0.name == name }) else { throw APIError.unknownModel(name, served: models.map(\.name)) }
            return model
        }
        guard models.count == 1 else { throw APIError.invalid("'model' is required: this server has \(models.map(\.name).joined(separator: ", "))", param: "model") }
        return models[0]
    }

    func scheduler(for name: String) -> GenerationScheduler { schedulers[name]! }
    func batcher(for name: String) -> EmbeddingBatcher { batchers[name]! }
    func reranker(for name: String) -> RerankBatcher { rerankers[name]! }
}

/// Every request: the API key checked in constant time, errors in OpenAI's shape, one log line with
/// the status and duration.
struct APIMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let apiKey: String?
    let logger: Logger
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        if let apiKey, request.uri.path != "/health", !Self.authorized(request.headers[.authorization], key: apiKey) {
            response = Routes.errorResponse(.unauthorized)
        } else {
            do {
                response = try await next(request, context)
            } catch let error as APIError {
                response = Routes.errorResponse(error)
            } catch let error as HTTPError where error.status == .notFound {
                if let allowed = Routes.methods[request.uri.path] {
                    response = Routes.errorResponse(.methodNotAllowed(request.method.rawValue, path: request.uri.path, allowed: allowed))
                } else {
                    response = Routes.errorResponse(.notFound(request.uri.path))
                }
            } catch let error as HTTPError {
                response = Routes.errorResponse(APIError(status: error.status, message: error.body ?? "\(error.status)", type: "invalid_request_error", param: nil, code: nil))
            } catch {
                response = Routes.errorResponse(.server("\(error)"))
            }
        }
        let elapsed = ContinuousClock.now - start
        logger.info("\(request.method) \(request.uri.path) \(response.status.code) \(elapsed)")
        let path = request.uri.path
        metrics.request(endpoint: Routes.methods[path] != nil ? path : "other", status: Int(response.status.code), duration: elapsed)
        return response
    }

    /// `Bearer <key>` compared byte by byte without stopping at the first difference.
    static func authorized(_ header: String?, key: String) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst("Bearer ".count).utf8), wanted = Array(key.utf8)
        var difference = UInt8(given.count == wanted.count ? 0 : 1)
        for i in 0..<max(given.count, wanted.count) {
            difference |= (i < given.count ? given[i] : 0) ^ (i < wanted.count ? wanted[i] : 0)
        }
        return difference == 0
    }
}
