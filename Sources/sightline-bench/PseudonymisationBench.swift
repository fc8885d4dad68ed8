import Crypto
import Foundation
import SightlineCore

/// Figure 1: what the gateway does to each record before the store, in process.
///
/// Sightline: RecordValidator.validate + the ingress policy decision and minimisation +
/// Pseudonymiser.pseudonymise, over records already decoded to JSON values. A second row adds
/// the NDJSON parse (SubmissionBody.parse), i.e. the whole CPU path of a submission body.
/// Baseline: as many bare HMAC-SHA256 computations (swift-crypto, key already absorbed) as the
/// pseudonymiser really made, counted from its output.
enum PseudonymisationBench {
    static let maxRecords = 500_000

    static func run(files: [PreparedFile], policy: Policy, repetitions: Int, table: ResultsTable) throws {
        section("1. validation + pseudonymisation in process")
        var inputs: [(value: JSONValue, source: ParticipantIdentity)] = []
        var bodies: [(body: Data, source: ParticipantIdentity)] = []
        let decoder = JSONDecoder()
        // Above `maxRecords`, every n-th record of every file, so the mix of kinds stays the data set's.
        let total = files.reduce(0) { $0 + $1.prepared.records.count }
        let step = max(1, (total + maxRecords - 1) / maxRecords)
        for f in files {
            let source = f.file.participant
            var body = Data()
            var inBody = 0
            for (i, r) in f.prepared.records.enumerated() where i % step == 0 {
                inputs.append(((try? decoder.decode(JSONValue.self, from: r.json)) ?? .null, source))
                body.append(r.json); body.append(UInt8(ascii: "\n")); inBody += 1
                if inBody == 2000 { bodies.append((body, source)); body = Data(); inBody = 0 }
            }
            if inBody > 0 { bodies.append((body, source)) }
        }
        if step > 1 { table.note("figure 1 uses every \(step)th record of each file (\(inputs.count) of \(total)), to bound the bench's memory") }

        let keys = KeyMaterial.generate()
        let pseudonymiser = Pseudonymiser(keys: keys)
        let validator = RecordValidator(now: Date())
        let kept = Dictionary(uniqueKeysWithValues: RecordKind.allCases.map { ($0, policy.ingressMinimisation(kind: $0).kept) })

        // One pass untimed: count the HMACs per accepted record (reference key, each linkage key,
        // the date-of-birth key) and warm the caches.
        var hmacs = 0, accepted = 0, rejected = 0
        for (value, source) in inputs {
            guard case .success(let record) = validator.validate(value, line: 1),
                  policy.ingressDecision(role: source.role, kind: record.kind).isAllowed else { rejected += 1; continue }
            let p = pseudonymiser.pseudonymise(record, source: source, keptFields: kept[record.kind] ?? [])
            hmacs += 1 + p.linkageKeys.count + (p.birthDateKey == nil ? 0 : 1)
            accepted += 1
        }
        let perRecord = Double(hmacs) / Double(max(accepted, 1))
        print("records: \(inputs.count) (\(accepted) valid, \(rejected) rejected); HMACs: \(hmacs), \(String(format: "%.2f", perRecord)) per accepted record")

        var sink = 0
        func validateAndPseudonymise() {
            for (value, source) in inputs {
                guard case .success(let record) = validator.validate(value, line: 1) else { continue }
                guard policy.ingressDecision(role: source.role, kind: record.kind).isAllowed else { continue }
                let p = pseudonymiser.pseudonymise(record, source: source, keptFields: kept[record.kind] ?? [])
                sink &+= p.linkageKeys.count
            }
        }
        func parseValidateAndPseudonymise() {
            for (body, source) in bodies {
                guard let lines = try? SubmissionBody.parse(body) else { continue }
                for (line, value) in lines {
                    guard case .success(let v) = value, case .success(let record) = validator.validate(v, line: line) else { continue }
                    guard policy.ingressDecision(role: source.role, kind: record.kind).isAllowed else { continue }
                    let p = pseudonymiser.pseudonymise(record, source: source, keptFields: kept[record.kind] ?? [])
                    sink &+= p.linkageKeys.count
                }
            }
        }
        // The baseline: the same number of keyed HMACs over a message as long as a typical one
        // ("name-dob" 0x00 "amara|okafor|2014-03-02"), with the key's pads prepared once as the
        // pseudonymiser does.
        let prepared = HMAC<SHA256>(key: keys.linkKey)
        let message = Array("name-dob\u{0}amara|okafor|2014-03-02".utf8)
        func bareHMACs() {
            for _ in 0..<hmacs {
                var h = prepared
                h.update(data: message)
                let mac = h.finalize()
                sink &+= mac.withUnsafeBytes { Int($0[0]) }
            }
        }

        var sightline: [Double] = [], full: [Double] = [], baseline: [Double] = []
        for i in 0..<repetitions {
            sightline.append(timed(validateAndPseudonymise))
            full.append(timed(parseValidateAndPseudonymise))
            baseline.append(timed(bareHMACs))
            print(String(format: "  run %d: validate+pseudonymise %.2f s, parse+validate+pseudonymise %.2f s, bare HMACs %.3f s", i + 1, sightline[i], full[i], baseline[i]))
        }
        let n = Double(inputs.count)
        let baseRate = Double(hmacs) / median(baseline)
        // Records/s the bare HMACs would allow at this many HMACs per record.
        let baseRecords = n / median(baseline)
        let hmacLabel = "bare HMAC-SHA256 ×\(String(format: "%.2f", perRecord))/record (\(formatNumber(baseRate)) HMAC/s)"
        table.add("1", "validate + pseudonymise (\(inputs.count) records, median of \(repetitions))", rate(n / median(sightline), "records/s"),
                  baseline: hmacLabel, rate(baseRecords, "records/s"), ratio: median(baseline) / median(sightline))
        table.add("1", "… plus NDJSON parse (SubmissionBody.parse, 2,000-record bodies)", rate(n / median(full), "records/s"),
                  baseline: hmacLabel, rate(baseRecords, "records/s"), ratio: median(baseline) / median(full))
        if sink == 42 { print("") }  // keeps the optimiser from dropping the work
    }
}
