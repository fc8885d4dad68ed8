import Foundation
import SightlineCore
import SightlineStore

/// The repository's own linkage weights (Policies/linkage.yaml), for store tests; material in
/// these tests is stored unsealed, so opening it is decoding it.
let testLinkage: LinkageContext = {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Policies/linkage.yaml").path
    let model = try! LinkageModel.load(YAMLFile(path: path, code: .policy))
    return LinkageContext(matcher: SubjectMatcher(model: model), openMaterial: { ComparisonMaterial(encoded: $0) })
}()
