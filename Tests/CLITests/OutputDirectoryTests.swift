import Foundation
import Testing
import TestSupport

/// `compile --output-dir` writes the set of files one config makes, and only that set.
@Suite struct OutputDirectoryTests {
    let dualStack = packageRoot.appendingPathComponent("Rules/dual-stack.env").path
    let ipv4Only = packageRoot.appendingPathComponent("Rules/tproxy.env").path

    /// Each regular file's text (through a link to one); anything else by what it is, unread (a
    /// FIFO would block).
    func contents(_ directory: URL) throws -> [String: String] {
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            let path = directory.appendingPathComponent(name).path
            var status = stat()
            files[name] = stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
                ? try String(contentsOfFile: path, encoding: .utf8) : SpecialFiles.identity(path)
        }
        return files
    }

    @Test func aFileTheConfigNoLongerMakesIsRemovedAndOthersAreLeftAlone() throws {
        let work = try temporaryDirectory("set")
        defer { try? FileManager.default.removeItem(at: work) }
        try "keep me".write(to: work.appendingPathComponent("README"), atomically: true, encoding: .utf8)
        #expect(try run(meshcap, ["compile", "--config", dualStack, "--output-dir", work.path]).status == 0)
        #expect(Set(try contents(work).keys) == ["README", "rules.v4", "rules.v6", "rules.nft"])
        #expect(try run(meshcap, ["compile", "--config", ipv4Only, "--output-dir", work.path]).status == 0)
        let after = try contents(work)
        #expect(Set(after.keys) == ["README", "rules.v4", "rules.nft"], "a stale rules.v6 is left beside the new rules.v4")
        #expect(after["rules.v4"] == (try run(meshcap, ["compile", "--config", ipv4Only]).stdout))
        #expect(after["README"] == "keep me")
    }

    /// A name meshcap cannot replace: nothing is replaced, nothing half-written stays behind.
    @Test func whenOneFileCannotBeReplacedNoneIs() throws {
        let work = try temporaryDirectory("none")
        defer { try? FileManager.default.removeItem(at: work) }
        #expect(try run(meshcap, ["compile", "--config", ipv4Only, "--output-dir", work.path]).status == 0)
        let before = try contents(work)
        let directory = work.appendingPathComponent("rules.v6").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        let result = try run(meshcap, ["compile", "--config", dualStack, "--output-dir", work.path])
        #expect(result.status == 2)
        #expect(result.stderr.contains("rules.v6 is a directory; meshcap writes only regular files"), "\(result.stderr)")
        var expected = before
        expected["rules.v6"] = SpecialFiles.identity(directory)
        #expect(try contents(work) == expected, "a file was replaced, or a temporary file was left behind")
    }

    /// A device, FIFO, socket or directory under one of the names, or a link to one, is refused
    /// with exit 2 whether the config makes that name or would remove it, and nothing changes.
    @Test(.needsRoot) func onlyRegularFilesAreWrittenOrRemoved() throws {
        let work = try temporaryDirectory("special")
        defer { try? FileManager.default.removeItem(at: work) }
        let special = try SpecialFiles(in: work)
        let out = work.appendingPathComponent("out")
        for (path, kind) in special.entries {
            for name in ["rules.v4", "rules.v6"] {
                try? FileManager.default.removeItem(at: out)
                #expect(try run(meshcap, ["compile", "--config", dualStack, "--output-dir", out.path]).status == 0)
                let target = out.appendingPathComponent(name).path
                try FileManager.default.removeItem(atPath: target)
                // Moved in place of the rules file (a link keeps pointing where it did).
                #expect(rename(path, target) == 0)
                let before = try contents(out)
                // ipv4Only makes rules.v4 and removes rules.v6.
                let result = try run(meshcap, ["compile", "--config", ipv4Only, "--output-dir", out.path])
                #expect(result.status == 2, "\(kind) as \(name): \(result.stderr)")
                #expect(result.stderr.contains("meshcap: \(target) is \(kind)"), "\(result.stderr)")
                #expect(try contents(out) == before, "\(kind) as \(name): something changed")
                #expect(rename(target, path) == 0)
            }
        }
    }

    /// A rules file linked from elsewhere is written through the link, which stays; a linked
    /// file the config no longer makes loses its link, not the file it names.
    @Test func aLinkIsWrittenThroughAndAStaleLinkIsRemovedItself() throws {
        let work = try temporaryDirectory("links")
        defer { try? FileManager.default.removeItem(at: work) }
        let out = work.appendingPathComponent("out"), elsewhere = work.appendingPathComponent("etc")
        for directory in [out, elsewhere] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false) }
        for name in ["rules.v4", "rules.v6"] {
            try "old\n".write(to: elsewhere.appendingPathComponent(name), atomically: true, encoding: .utf8)
            #expect(symlink(elsewhere.appendingPathComponent(name).path, out.appendingPathComponent(name).path) == 0)
        }
        let result = try run(meshcap, ["compile", "--config", ipv4Only, "--output-dir", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out.appendingPathComponent("rules.v4").path) == elsewhere.appendingPathComponent("rules.v4").path)
        #expect(try String(contentsOf: elsewhere.appendingPathComponent("rules.v4"), encoding: .utf8) == (try run(meshcap, ["compile", "--config", ipv4Only]).stdout))
        #expect(Set(try contents(out).keys) == ["rules.v4", "rules.nft"])
        #expect(try contents(elsewhere) == ["rules.v4": try run(meshcap, ["compile", "--config", ipv4Only]).stdout, "rules.v6": "old\n"])
    }

    /// What a killed run left beside the rules files (a temporary file, a backup) is removed by
    /// the next run that writes them.
    @Test func whatAKilledRunLeftIsRemovedByTheNext() throws {
        let work = try temporaryDirectory("stale")
        defer { try? FileManager.default.removeItem(at: work) }
        let gone = try exitedProcessID()
        for name in [".rules.v4.meshcap-\(gone)-1x2y3z", ".rules.nft.meshcap-\(gone)-old"] {
            try "half\n".write(to: work.appendingPathComponent(name), atomically: false, encoding: .utf8)
        }
        #expect(try run(meshcap, ["compile", "--config", ipv4Only, "--output-dir", work.path]).status == 0)
        #expect(Set(try contents(work).keys) == ["rules.v4", "rules.nft"])
    }

    /// The switch itself failing half-way: a sticky directory lets an unprivileged user link to,
    /// but not rename over, root's world-writable rules.nft. rules.v4 and rules.v6 are already in
    /// place when that rename fails; they must be put back.
    @Test(.needsRoot) func aRenameThatFailsHalfWayIsUndone() throws {
        let work = try temporaryDirectory("sticky")
        defer { try? FileManager.default.removeItem(at: work) }
        try FileManager.default.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: work.path)
        let binary = work.appendingPathComponent("meshcap").path
        try FileManager.default.copyItem(atPath: meshcap, toPath: binary)
        let config = work.appendingPathComponent("dual.env").path
        try FileManager.default.copyItem(atPath: dualStack, toPath: config)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: config)
        let out = work.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
        try FileManager.default.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: out.path)
        let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        #expect(try run(nobody[0], Array(nobody.dropFirst()) + [binary, "compile", "--config", config, "--output-dir", out.path, "-i", "10.0.0.0/8"]).status == 0)
        let nft = out.appendingPathComponent("rules.nft").path
        #expect(chown(nft, 0, 0) == 0 && chmod(nft, 0o666) == 0)
        let before = try contents(out)

        let result = try run(nobody[0], Array(nobody.dropFirst()) + [binary, "compile", "--config", config, "--output-dir", out.path])
        #expect(result.status == 3)
        #expect(result.stderr.contains("cannot rename") && result.stderr.contains("rules.nft: Operation not permitted (EPERM); the files in \(out.path) are as they were"), "\(result.stderr)")
        // The backup link to root's file cannot be removed by nobody either: said, not hidden.
        #expect(result.stderr.contains("(left behind, remove by hand: \(out.path)/.rules.nft.meshcap-"), "\(result.stderr)")
        #expect(try contents(out).filter { !$0.key.hasPrefix(".rules.nft.meshcap-") } == before, "the files already renamed were not put back")
    }
}
