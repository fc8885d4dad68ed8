import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

struct Inbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Forwards waiting for you (for recipients without a push endpoint).",
        discussion: "Lists forwards after your acknowledged cursor (or --after N). --ack acknowledges what was listed, which records them as delivered.")
    @OptionGroup var options: GatewayOptions
    @Option(help: "List forwards after this id instead of after your acknowledged cursor.") var after: Int64?
    @Option(help: "At most this many.") var limit = 100
    @Flag(help: "Acknowledge the forwards listed.") var ack = false

    func run() async throws {
        var path = "/v1/inbox?limit=\(limit)"
        if let after { path += "&after=\(after)" }
        let data = try await callGateway(options, "GET", path)
        guard case .object(let page)? = try? JSONDecoder().decode(JSONValue.self, from: data),
              case .array(let items)? = page["forwards"], case .number(let next)? = page["next"] else { fail("unreadable inbox") }
        if options.json { print(String(decoding: data, as: UTF8.self)) }
        else {
            print("\(items.count) forward(s); acknowledged up to \(plain(page["acknowledged"] ?? .null))")
            for item in items {
                guard case .object(let o) = item, case .object(let f)? = o["forward"] else { continue }
                if f["type"] == .string("enquiry"), case .object(let about)? = f["about"] {
                    let current = about["current"] == .bool(false) ? " (no longer current)" : ""
                    print("  #\(plain(o["id"] ?? .null)) ENQUIRY \(plain(f["enquiryId"] ?? .null)) from \(plain(f["askedBy"] ?? .null)) (\(plain(f["purpose"] ?? .null))) "
                          + "about your \(plain(about["kind"] ?? .null)) \(plain(about["yourReference"] ?? .null))\(current), answer by \(plain(f["deadline"] ?? .null)):")
                    print("      \(plain(f["question"] ?? .null))")
                    print("      answer: sightline enquiry answer \(plain(f["enquiryId"] ?? .null)) --status <\(EnquiryAnswerStatus.allCases.map(\.rawValue).joined(separator: "|"))> [--text T]")
                    continue
                }
                let who = f["pupilReference"].map { "pupil \(plain($0))" } ?? f["pseudonym"].map { "child \(plain($0))" } ?? ""
                print("  #\(plain(o["id"] ?? .null)) \(plain(f["rule"] ?? .null)) (\(plain(f["purpose"] ?? .null))) \(plain(f["kind"] ?? .null)) \(who): \(plain(f["fields"] ?? .null))"
                      + (f["deadline"].map { " [deadline \(plain($0))]" } ?? ""))
            }
        }
        if ack && !items.isEmpty {
            let body = try JSONEncoder().encode(["upTo": Int64(next)])
            let answer = try await callGateway(options, "POST", "/v1/inbox/ack", body: body)
            if !options.json { print("acknowledged up to \(Int64(next)): \(String(decoding: answer, as: UTF8.self))") }
        }
    }
}
