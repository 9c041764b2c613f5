import Foundation
import TestSupport

enum Kernel {
    static let corpus = sharedDirectory.appendingPathComponent("conformance")
    static let isRoot = getuid() == 0
    static let hasCorpus = FileManager.default.fileExists(atPath: corpus.appendingPathComponent("canon.sh").path)
}
