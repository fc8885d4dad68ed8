import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SightlineCore

/// An error the API returns: a status, a stable code a client can branch on, and a message that
/// says what to fix. Never a stack trace, never an identifier.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    /// Seconds after which a refused request may be tried again (503, 429): sent as Retry-After.
    public var retryAfter: Int? = nil

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status; self.code = code; self.message = message; self.retryAfter = retryAfter
    }

    public var headers: HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { fields[.retryAfter] = "\(retryAfter)" }
        // A request that timed out mid-body leaves the rest of it unread: the connection cannot be reused.
        if status == .requestTimeout { fields[.connection] = "close" }
        return fields
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: Self.body(code, message))))
    }

    static func body(_ code: String, _ message: String) -> Data {
        (try? JSONEncoder().encode(["error": code, "message": message])) ?? Data("{}".utf8)
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad-request", message) }
    static func forbidden(_ code: String, _ message: String) -> APIError { APIError(.forbidden, code, message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not-found", message) }
}

/// Turns every error into the JSON error shape. Errors that are not `APIError` are described
/// by their status only; anything unexpected is a 500 whose details stay in the log.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "too-large", "the body is larger than this gateway accepts; send smaller batches")
        } catch let error as HTTPResponseError {
            let status = error.status
            let code = status == .notFound ? "not-found" : status == .methodNotAllowed ? "method-not-allowed" : "http-\(status.code)"
            // The path is not echoed: it is text the client chose.
            let message = status == .notFound ? "no such endpoint (see ops/openapi.yaml for the API, /console/ for the pages)" : status.reasonPhrase
            throw APIError(status, code, message)
        } catch {
            // Only the type goes to the log: an error's text could carry input.
            context.logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            throw APIError(.internalServerError, "internal", "the gateway could not complete the request; it has been logged")
        }
    }
}

/// A request body that must be one JSON object of at most 16 KiB with only `allowed` keys: parsed
/// with the gateway's bounded parser; unknown keys are counted, never named back.
func boundedJSONObject(_ request: Request, allowed: Set<String>, expected: String) async throws -> [String: JSONValue] {
    let data = Data(buffer: try await request.body.collect(upTo: 16 * 1024))
    guard case .success(let value) = BoundedJSON().parse(data), case .object(let object) = value else { throw APIError.badRequest("expected \(expected)") }
    let unknown = object.keys.filter { !allowed.contains($0) }.count
    guard unknown == 0 else {
        throw APIError.badRequest("\(unknown) unknown key(s) (not named: keys are not echoed); expected \(expected)")
    }
    return object
}

extension Sealer {
    /// Sealed free text (a reference, a note, a question) as text; "" where none was kept.
    func openText(_ sealed: Data?) -> String {
        sealed.flatMap { try? open($0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

