import ArgumentParser
import Foundation
import SightlineClient
import SightlineCore

/// From the report to the child: `enquiry ask | list | answer | approve`. A partner asks the
/// agencies that hold a child's records (each is told its own reference for the record); each
/// answers from a fixed list of statuses. The policy says who may ask whom and by when.
struct EnquiryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enquiry", abstract: "Ask the agencies that hold a child's records, and answer such enquiries.",
        subcommands: [Ask.self, List.self, Answer.self, Approve.self])

    struct Ask: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask every agency holding a record of the child that the purpose may use (partner).",
            discussion: "Each agency is sent its own reference for the record, your team, the purpose and its legal gateways, and the question; nothing else. The question is sealed at rest and never logged.")
        @OptionGroup var options: GatewayOptions
        @Argument(help: "Your pseudonym for the child (from a report or a match).") var pseudonym: String
        @Option(help: "Purpose, e.g. cme or s47.") var purpose: String
        @Option(help: "The question (at most 2,000 bytes).") var question: String

        func run() async throws {
            let body = try JSONEncoder().encode(["pseudonym": pseudonym, "purpose": purpose, "question": question])
            let data = try await callGateway(options, "POST", "/v1/enquiries", body: body, notFoundMessage: "no child \(pseudonym) for your team")
            if options.json { print(String(decoding: data, as: UTF8.self)); return }
            guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data) else { fail("unreadable answer") }
            let id = plain(o["id"] ?? .null)
            if plain(o["state"] ?? .null) == "awaiting-approval" {
                print("enquiry \(id): waiting for approval by \(plain(o["approvers"] ?? .null)) until \(plain(o["approvalDue"] ?? .null)); nothing has left yet")
            } else {
                print("enquiry \(id): sent to \(plain(o["holders"] ?? .null)) agenc(ies); answers due by \(plain(o["deadline"] ?? .null))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A partner's enquiries with their answers; an agency's enquiries addressed to it, with its own reference.")
        @OptionGroup var options: GatewayOptions

        func run() async throws {
            let data = try await callGateway(options, "GET", "/v1/enquiries")
            if options.json { print(String(decoding: data, as: UTF8.self)); return }
            guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data), case .array(let items)? = o["enquiries"] else {
                fail("unreadable enquiries")
            }
            if case .array(let waiting)? = o["awaitingYourApproval"] {
                print("\(waiting.count) waiting for your approval (sightline enquiry approve ID [--refuse]):")
                for case .object(let e) in waiting {
                    print("  \(plain(e["id"] ?? .null)) [\(plain(e["purpose"] ?? .null))] from \(plain(e["askedBy"] ?? .null)), to \(plain(e["holders"] ?? .null)) agenc(ies), approve by \(plain(e["approvalDue"] ?? .null))")
                    print("      question: \(plain(e["question"] ?? .null))")
                }
            }
            print("\(items.count) enquir\(items.count == 1 ? "y" : "ies")")
            for case .object(let e) in items {
                let about = e["pseudonym"].map { " about \(plain($0))" } ?? ""
                print("  \(plain(e["id"] ?? .null)) [\(plain(e["purpose"] ?? .null))] \(plain(e["state"] ?? .null))\(about), due \(plain(e["deadline"] ?? .null))")
                if let asked = e["askedBy"] { print("      asked by \(plain(asked))") }
                if case .object(let a)? = e["about"] {
                    let current = a["current"].map { $0 == .bool(false) ? " (no longer current)" : "" } ?? ""
                    print("      your record: \(plain(a["kind"] ?? .null)) \(plain(a["yourReference"] ?? .null))\(current)")
                }
                print("      question: \(plain(e["question"] ?? .null))")
                if let answered = e["answered"] { print("      you answered: \(plain(answered))") }
                if case .array(let holders)? = e["holders"] {
                    for case .object(let h) in holders {
                        let status = h["status"].map { "answered \(plain($0))" + (h["text"].map { plain($0).isEmpty ? "" : ": \(plain($0))" } ?? "") }
                            ?? (h["overdue"] == .bool(true) ? "OVERDUE, no answer" : "no answer yet (\(plain(h["delivery"] ?? .null)))")
                        print("      \(plain(h["holder"] ?? .null)): \(status)")
                    }
                }
            }
        }
    }

    struct Answer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Answer an enquiry addressed to your agency.")
        @OptionGroup var options: GatewayOptions
        @Argument(help: "The enquiry's id (enq-...).") var id: String
        @Option(help: "\(EnquiryAnswerStatus.allCases.map(\.rawValue).joined(separator: ", ")).") var status: String
        @Option(help: "Free text (at most 2,000 bytes; required for other and safeguarding-concern).") var text: String?

        func validate() throws {
            guard EnquiryAnswerStatus(rawValue: status) != nil else {
                throw ValidationError("status is one of \(EnquiryAnswerStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            var body = ["status": status]
            if let text { body["text"] = text }
            let data = try await callGateway(options, "POST", "/v1/enquiries/\(percentEncoded(id))/answers", body: try JSONEncoder().encode(body),
                                             notFoundMessage: "no enquiry \(id) addressed to you")
            print(options.json ? String(decoding: data, as: UTF8.self) : "enquiry \(id): answered \(status)")
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve (or --refuse) an enquiry waiting for a second approval (the policy names who may).")
        @OptionGroup var options: GatewayOptions
        @Argument(help: "The enquiry's id (enq-...).") var id: String
        @Flag(help: "Refuse instead: the enquiry never leaves.") var refuse = false

        func run() async throws {
            let body = try JSONEncoder().encode(["decision": refuse ? "refuse" : "approve"])
            let data = try await callGateway(options, "POST", "/v1/enquiries/\(percentEncoded(id))/approval", body: body,
                                             notFoundMessage: "no enquiry \(id) for you to approve")
            print(options.json ? String(decoding: data, as: UTF8.self) : "enquiry \(id): \(refuse ? "refused" : "approved and sent")")
        }
    }
}
