import Foundation

/// Models in the Hugging Face hub cache, named as people name them: `org/name` (or `org/name@revision`)
/// looked up in the cache folders, or a `models--org--name` folder of the cache itself. Read-only and
/// offline: only what is already on disk is found.
///
/// The cache's layout (huggingface_hub's): `models--org--name/refs/<branch>` holds a commit hash,
/// `snapshots/<hash>/` the files of that commit as symlinks into `blobs/`.
public enum HubCache {
    /// Where the cache is, in the order huggingface_hub looks: `$HF_HUB_CACHE`, `$HF_HOME/hub`,
    /// `$XDG_CACHE_HOME/huggingface/hub`, `~/.cache/huggingface/hub`.
    public static func roots(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var roots: [String] = []
        if let cache = environment["HF_HUB_CACHE"], !cache.isEmpty { roots.append(cache) }
        if let home = environment["HF_HOME"], !home.isEmpty { roots.append(home + "/hub") }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { roots.append(xdg + "/huggingface/hub") }
        if let home = environment["HOME"], !home.isEmpty { roots.append(home + "/.cache/huggingface/hub") }
        var seen = Set<String>()
        return roots.filter { seen.insert($0).inserted }
    }

    /// The path to open for what the user typed: `path` when it is a file or an ordinary folder; the
    /// snapshot folder for a `models--org--name` folder or an `org/name[@revision]` not found as a path.
    public static func resolve(_ path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        try resolve(path, revision: nil, environment: environment)
    }

    /// The same, with `revision` (a branch, tag or commit of the cache's `refs/` and `snapshots/`) chosen
    /// instead of `main`; nil behaves as `resolve(_:environment:)`. A revision names a snapshot of a cache
    /// entry only: for a path of its own, or an `org/name@revision` that names one already, it is an error.
    public static func resolve(_ path: String, revision: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let revision {
            guard !revision.isEmpty, !revision.contains("/"), !revision.contains("..") else {
                throw ImportError.notInHubCache(reference: path, reason: "'\(revision)' is not a revision: a branch, tag or commit, without '/' or '..'")
            }
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            let base = AtomicOutput.split(path.hasSuffix("/") ? String(path.dropLast()) : path).base
            guard isDirectory.boolValue, base.hasPrefix("models--"), FileManager.default.fileExists(atPath: path + "/snapshots") else {
                guard revision == nil else {
                    throw ImportError.notInHubCache(reference: path, reason: "a revision selects a snapshot of the Hugging Face cache (org/name or a models--org--name folder); \(path) is a file or folder of its own")
                }
                return path
            }
            return try snapshot(repository: path, revision: revision ?? "main", reference: path)
        }
        guard let (repository, named) = reference(path) else {
            guard revision == nil else {
                throw ImportError.notInHubCache(reference: path, reason: "a revision selects a snapshot of the Hugging Face cache: give org/name or a models--org--name folder")
            }
            return path
        }
        if named != nil, revision != nil {
            throw ImportError.notInHubCache(reference: path, reason: "give the revision once: as org/name@revision or as the revision option, not both")
        }
        var looked: [String] = []
        for root in roots(environment) {
            let folder = root + "/models--" + repository.replacingOccurrences(of: "/", with: "--")
            looked.append(folder)
            if FileManager.default.fileExists(atPath: folder) {
                return try snapshot(repository: folder, revision: named ?? revision ?? "main", reference: path)
            }
        }
        throw ImportError.notInHubCache(reference: path, reason: "not a file or folder here, and not in the Hugging Face cache (looked for \(looked.joined(separator: ", "))); qkv never downloads: fetch it with huggingface-cli first, or give a path")
    }

    /// `org/name` and an optional `@revision`, when `text` has that shape (names of letters, digits, `-`,
    /// `_`, `.`; not `.` or `..`).
    static func reference(_ text: String) -> (String, String?)? {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0]), revision = parts.count == 2 ? String(parts[1]) : nil
        let pieces = name.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard pieces.count == 2, pieces.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && $0.unicodeScalars.allSatisfy(allowed.contains) }) else { return nil }
        if let revision, revision.isEmpty || revision.contains("..") || revision.hasPrefix("/") { return nil }
        return (name, revision)
    }

    /// `snapshots/<commit>` of a repository folder, the commit being `refs/<revision>`'s content or
    /// `revision` itself.
    static func snapshot(repository: String, revision: String, reference: String) throws -> String {
        var commit = revision
        if let ref = FileManager.default.contents(atPath: repository + "/refs/" + revision) {
            commit = String(decoding: ref, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let folder = repository + "/snapshots/" + commit
        guard !commit.isEmpty, !commit.contains("/"), FileManager.default.fileExists(atPath: folder) else {
            let available = (try? FileManager.default.contentsOfDirectory(atPath: repository + "/snapshots"))?.sorted() ?? []
            throw ImportError.notInHubCache(reference: reference, reason: "\(repository) has no snapshot for revision '\(revision)' (refs/\(revision) → '\(commit)'; snapshots: \(available.isEmpty ? "none" : available.joined(separator: ", ")))")
        }
        return folder
    }
}
