import Testing
import TestSupport

/// Under CI=true the kernel and conformance tests must all run; this one says plainly why they
/// cannot when a prerequisite is missing (the tests themselves then fail on their first step).
@Suite struct PrerequisiteTests {
    @Test(.enabled(if: Prerequisites.isCI, "only under CI=true"))
    func ciHasEverythingTheKernelTestsNeed() {
        #expect(Prerequisites.isRoot, "CI=true but not root: the kernel tests need root to create network namespaces")
        #expect(Prerequisites.hasCorpus, "CI=true but \(Prerequisites.corpus.path) is missing: the conformance tests need it")
    }
}
