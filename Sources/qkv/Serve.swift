import ArgumentParser
import Dispatch
import Foundation
import Logging
import QKVServer
import Synchronization

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve models over an OpenAI-compatible HTTP API.",
        discussion: """
            One process serves every MODEL named (any format qkv reads), each under its file's name without the \
            extension, or NAME=MODEL: encoders answer POST /v1/embeddings (requests that arrive together are \
            embedded together, up to --max-batch inputs), rerankers (cross-encoders) POST /v1/rerank (likewise, up to \
            --max-batch pairs), decoders \
            POST /v1/completions and /v1/chat/completions \
            (up to --parallel generations decode together); GET /v1/models, POST /tokenize, POST /detokenize, \
            GET /health (503 until the models are loaded) and GET /metrics (Prometheus) answer for all. At most \
            --max-queue requests wait for a model; more are refused with 503. Binds to loopback unless --host says otherwise; SIGINT or SIGTERM stop it after the \
            requests in flight. Specs/server.md describes the API.
            """
    )

    @Argument(help: "The models: paths (any format qkv reads), org/name from the Hugging Face cache, or NAME=MODEL.")
    var models: [String]

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port (0: any free port; the startup line says which).")
    var port = 8080

    @Option(help: "Require 'Authorization: Bearer KEY' on every request but /health.")
    var apiKey: String?

    @Option(help: "Read the API key from this file (its first line).")
    var apiKeyFile: String?

    @Option(help: "Largest request body, in bytes.")
    var maxBody = 8 << 20

    @Option(help: "Generations of one model that decode together (continuous batching).")
    var parallel = 8

    @Option(help: "Prompt tokens one generation step reads beside the decoding sequences' next tokens (a bound on how long a prompt holds them up).")
    var chunkTokens = 512

    @Option(help: "Inputs of one embedding batch, or pairs of one rerank batch (a larger request runs alone).")
    var maxBatch = 64

    @Option(help: "Requests that may wait for a model; more are refused with 503 and Retry-After.")
    var maxQueue = 64

    @OptionGroup var threading: ThreadOptions
    @OptionGroup var precision: ActivationOptions

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("name at least one model") }
        guard apiKey == nil || apiKeyFile == nil else { throw ValidationError("give --api-key or --api-key-file, not both") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
        guard chunkTokens >= 1 else { throw ValidationError("--chunk-tokens must be at least 1") }
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be 0 or more") }
        let names = served.map(\.name)
        guard Set(names).count == names.count else { throw ValidationError("two models have the name '\(names.first { n in names.filter { $0 == n }.count > 1 }!)'; name them with NAME=MODEL") }
    }

    var served: [(name: String, path: String)] {
        models.map { argument in
            if let equals = argument.firstIndex(of: "="), !FileManager.default.fileExists(atPath: argument) {
                return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
            }
            return (ServedModel.defaultName(for: argument), argument)
        }
    }

    func run() throws {
        let context = threading.context()
        var key = apiKey
        if let apiKeyFile {
            guard let text = try? String(contentsOfFile: apiKeyFile, encoding: .utf8), let line = text.split(separator: "\n").first, !line.isEmpty else {
                throw ValidationError("--api-key-file \(apiKeyFile): cannot read a key from it")
            }
            key = String(line)
        }
        let configuration = ServerConfiguration(models: served, host: host, port: port, apiKey: key, maxBodyBytes: maxBody,
                                                parallel: parallel, chunkTokens: chunkTokens, maxBatch: maxBatch, maxQueue: maxQueue,
                                                activations: precision.activations, context: context)
        let logger = Logger(label: "qkv.serve")
        let names = served.map(\.name).joined(separator: ", ")
        // The server is async; the command's entry point is not. Run it to completion on the cooperative pool.
        let done = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Task.detached {
            do {
                try await QKVServer.run(configuration, logger: logger) { address in
                    print("qkv serve: \(names) on \(address)")
                    fflush(nil)   // every output stream; C's `stdout` is a mutable global Swift 6 will not read
                }
            } catch {
                failure.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = failure.error { throw error }
    }
}

/// The server's error, handed from its task back to the command.
final class FailureBox: Sendable {
    private let stored = Mutex<(any Error)?>(nil)
    var error: (any Error)? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}
