/// An error a person can act on: a code tests compare, and a message that names the fix.
/// Messages never contain identifier values.
public struct SightlineError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable {
        case keyFile = "key-file"
        case policy = "policy"
        case participants = "participants"
        case config = "config"
        case certificate = "certificate"
        case mapping = "mapping"
        case input = "input"
        case store = "store"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code; self.message = message
    }

    public var description: String { message }
}
