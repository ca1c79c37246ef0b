/// A path's folder and last component: `("a/b", "c.json")` for `a/b/c.json`, `(".", "c.json")` for a bare
/// name, `("/", "c")` for `/c`.
package func splitPath(_ path: String) -> (directory: String, base: String) {
    guard let slash = path.lastIndex(of: "/") else { return (".", path) }
    let directory = String(path[..<slash])
    return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
}
