import Foundation
#if canImport(Testing)
import Testing
#endif

/// What kernel and conformance tests need, and the rule that keeps them honest: where the
/// prerequisites are missing they are skipped with a message, but under `CI=true` they run anyway,
/// so a CI machine without root or without `../shared/conformance` fails instead of passing with
/// half its tests skipped.
public enum Prerequisites {
    public static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    public static let isRoot = getuid() == 0
    /// `../shared/conformance`, Istio's cases (absent on some machines).
    public static let corpus = sharedDirectory.appendingPathComponent("conformance")
    public static let hasCorpus = FileManager.default.fileExists(atPath: corpus.appendingPathComponent("canon.sh").path)
    /// `../shared/research`: measured facts, and an example cluster dump.
    public static let research = sharedDirectory.appendingPathComponent("research")
    public static let hasResearch = FileManager.default.fileExists(atPath: research.appendingPathComponent("example-kubeadm.dump").path)
    /// `../shared/realworld`: inputs other people posted, and the answers read by eye (INDEX.md).
    public static let realworld = sharedDirectory.appendingPathComponent("realworld")
    public static let hasRealworld = FileManager.default.fileExists(atPath: realworld.appendingPathComponent("INDEX.md").path)
}

// TestSupport is an ordinary target, so `swift build -c release` builds it too, where the
// Testing module is not on the search path.
#if canImport(Testing)
extension Trait where Self == ConditionTrait {
    /// Root, to create network namespaces.
    public static var needsRoot: Self {
        .enabled(if: Prerequisites.isRoot || Prerequisites.isCI, "needs root (network namespaces, chown, device files)")
    }

    /// `../shared/conformance` (Istio's cases and files).
    public static var needsCorpus: Self {
        .enabled(if: Prerequisites.hasCorpus || Prerequisites.isCI, "needs ../shared/conformance (see its README)")
    }

    /// `../shared/realworld` (real dumps, cluster dumps and cluster.env files).
    public static var needsRealworld: Self {
        .enabled(if: Prerequisites.hasRealworld || Prerequisites.isCI, "needs ../shared/realworld (see its INDEX.md)")
    }

    /// `../shared/research/example-kubeadm.dump`.
    public static var needsResearch: Self {
        .enabled(if: Prerequisites.hasResearch || Prerequisites.isCI, "needs ../shared/research/example-kubeadm.dump")
    }
}
#endif
