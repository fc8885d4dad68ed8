import Foundation
import Yams

/// A YAML file read for configuration, with every problem reported as `file:line: path: problem`.
///
/// Reading is strict: unknown keys are errors (a misspelt key in a policy must not silently
/// mean "deny" or "allow"), and each accessor names what was expected.
public struct YAMLFile: Sendable {
    public let path: String
    public let text: String
    let errorCode: SightlineError.Code

    public init(path: String, code: SightlineError.Code) throws(SightlineError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SightlineError(code, "\(path): cannot read file")
        }
        self.init(path: path, text: String(decoding: data, as: UTF8.self), code: code)
    }

    public init(path: String, text: String, code: SightlineError.Code) {
        self.path = path; self.text = text; self.errorCode = code
    }

    public func root() throws(SightlineError) -> YAMLNode {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw SightlineError(errorCode, "\(path):1: the file is empty")
            }
            return YAMLNode(node: node, path: "", file: self)
        } catch let error as SightlineError {
            throw error
        } catch let error as YamlError {
            let (line, problem) = Self.describe(error)
            throw SightlineError(errorCode, "\(path)\(line.map { ":\($0)" } ?? ""): not valid YAML: \(problem)")
        } catch {
            throw SightlineError(errorCode, "\(path): not valid YAML")
        }
    }

    static func describe(_ error: YamlError) -> (line: Int?, problem: String) {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return (mark.line, problem)
        default:
            return (nil, "\(error)")
        }
    }

    func error(_ line: Int?, _ keyPath: String, _ problem: String) -> SightlineError {
        let location = line.map { "\(path):\($0)" } ?? path
        return SightlineError(errorCode, keyPath.isEmpty ? "\(location): \(problem)" : "\(location): \(keyPath): \(problem)")
    }
}

/// A node of a `YAMLFile` that knows where it came from.
public struct YAMLNode: @unchecked Sendable {
    let node: Node
    public let path: String
    public let file: YAMLFile
    /// For a mapping value: the line of its key (a block value starts on the next line).
    let keyLine: Int?

    init(node: Node, path: String, file: YAMLFile, keyLine: Int? = nil) {
        self.node = node; self.path = path; self.file = file; self.keyLine = keyLine
    }

    public var line: Int? { node.mark?.line }

    public func error(_ problem: String) -> SightlineError { file.error(line, path, problem) }
    /// An error about the key that holds this value, reported on the key's line.
    public func keyError(_ problem: String) -> SightlineError { file.error(keyLine ?? line, path, problem) }

    func child(_ node: Node, _ component: String, keyLine: Int? = nil) -> YAMLNode {
        YAMLNode(node: node, path: path.isEmpty ? component : "\(path).\(component)", file: file, keyLine: keyLine)
    }

    /// Key-value pairs of a mapping, in file order.
    public func mapping(allowedKeys: Set<String>? = nil) throws(SightlineError) -> [(key: String, value: YAMLNode)] {
        guard case .mapping(let m) = node else { throw error("expected a mapping (key: value lines)") }
        var out: [(key: String, value: YAMLNode)] = []
        var seen = Set<String>()
        for (k, v) in m {
            guard let key = k.string else { throw error("keys must be plain text") }
            let child = child(v, key, keyLine: k.mark?.line)
            if let allowedKeys, !allowedKeys.contains(key) {
                throw file.error(k.mark?.line, child.path, "unknown key; expected one of \(allowedKeys.sorted().joined(separator: ", "))")
            }
            guard seen.insert(key).inserted else { throw file.error(k.mark?.line, child.path, "key given twice") }
            out.append((key, child))
        }
        return out
    }

    public func dictionary(allowedKeys: Set<String>? = nil) throws(SightlineError) -> [String: YAMLNode] {
        var out: [String: YAMLNode] = [:]
        for (k, v) in try mapping(allowedKeys: allowedKeys) { out[k] = v }
        return out
    }

    public func sequence() throws(SightlineError) -> [YAMLNode] {
        guard case .sequence(let s) = node else { throw error("expected a list") }
        return s.enumerated().map { child($0.element, "[\($0.offset)]") }
    }

    public func string() throws(SightlineError) -> String {
        guard case .scalar(let s) = node, !s.string.isEmpty else { throw error("expected a value") }
        return s.string
    }

    public func strings() throws(SightlineError) -> [String] {
        var out: [String] = []
        for item in try sequence() { out.append(try item.string()) }
        return out
    }

    public func int() throws(SightlineError) -> Int {
        guard case .scalar(let s) = node, let i = Int(s.string) else { throw error("expected a whole number") }
        return i
    }

    public func bool() throws(SightlineError) -> Bool {
        guard case .scalar(let s) = node else { throw error("expected true or false") }
        switch s.string.lowercased() {
        case "true", "yes": return true
        case "false", "no": return false
        default: throw error("expected true or false")
        }
    }

    public var isScalar: Bool { if case .scalar = node { true } else { false } }
}

extension Dictionary where Key == String, Value == YAMLNode {
    /// The value at `key`, or an error naming the missing key on the parent's line.
    public func required(_ key: String, in parent: YAMLNode) throws(SightlineError) -> YAMLNode {
        guard let v = self[key] else { throw parent.error("missing required key '\(key)'") }
        return v
    }
}
