import Testing
import Verify

/// How doctor's checks are written out.
@Suite struct PreflightReportTests {
    @Test func theReportNamesEachCheckAndItsFix() {
        let report = PreflightReport([
            PreflightCheck("privileges", .pass, "root"),
            PreflightCheck("control plane", .warn, "istiod.istio-system.svc resolves only as istiod.istio-system.svc.cluster.local", fix: "add it to /etc/hosts"),
            PreflightCheck("ssh", .fail, "port \"22\"", fix: "exclude it"),
        ])
        #expect(report.failed)
        #expect(report.text == """
            PASS  privileges     root
            WARN  control plane  istiod.istio-system.svc resolves only as istiod.istio-system.svc.cluster.local
                                 fix: add it to /etc/hosts
            FAIL  ssh            port "22"
                                 fix: exclude it
            doctor: 1 passed, 1 warning, 1 failed

            """)
        #expect(report.json.hasPrefix("{\n  \"schema\": \"meshcap.doctor/v1\",\n  \"ok\": false,\n  \"passed\": 1,\n  \"warnings\": 1,\n  \"failed\": 1,"))
        #expect(report.json.contains("\"status\": \"pass\",\n      \"detail\": \"root\",\n      \"fix\": null"))
        #expect(report.json.contains("\"detail\": \"port \\\"22\\\"\""))
        #expect(!PreflightReport([PreflightCheck("ssh", .warn, "x", fix: "y")]).failed)
    }
}
