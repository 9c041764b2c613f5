import Foundation
import Testing
@testable import MeshCapture

/// Files meshcap must not hang on or misread (each of these hung, grew without bound, or was
/// read as something else before).
@Suite struct InputFileTests {
    let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("meshcap-input-\(UUID())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func message(_ path: String) -> String {
        do {
            _ = try InputFile.read(path, role: "config file", standardInput: true)
            return "(read)"
        } catch {
            return error.errors.map(\.description).joined(separator: "\n")
        }
    }

    @Test func aFIFOWithNoWriterIsRefusedAtOnce() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let started = ContinuousClock.now
        #expect(message(fifo) == "the config file \(fifo) is a FIFO, not a regular file; to read a pipe, give --config - and redirect it to standard input")
        #expect(ContinuousClock.now - started < .seconds(1))
    }

    @Test func devicesAndDirectoriesAreRefusedButDevNullIsEmpty() throws {
        #expect(message("/dev/zero") == "the config file /dev/zero is a character device, not a regular file")
        #expect(message("/tmp") == "the config file /tmp is a directory, not a regular file")
        #expect(try InputFile.read("/dev/null", role: "passwd file").lines.isEmpty)
    }

    @Test func aMissingOrUnreadableFileNamesTheErrno() throws {
        #expect(message("/nonexistent/cluster.env") == "cannot open the config file /nonexistent/cluster.env: No such file or directory (ENOENT)")
    }

    @Test func aFileAboveTheLimitIsRefusedWithoutReadingIt() throws {
        defer { try? FileManager.default.removeItem(at: directory) }
        let big = directory.appendingPathComponent("big.env").path
        #expect(FileManager.default.createFile(atPath: big, contents: nil))
        #expect(truncate(big, off_t(InputFile.sizeLimit + 1)) == 0)
        #expect(message(big) == "the config file \(big) is \(InputFile.sizeLimit + 1) bytes; meshcap reads at most 16 MiB")
    }

    @Test func lineEndsOfEveryKindSplitLines() throws {
        let text = try InputFile.split(Array("a=1\r\nb=2\rc=3\nd=4".utf8), name: "f", strictText: true)
        #expect(text.lines == ["a=1", "b=2", "c=3", "d=4"])
        #expect(text.lineEndings == [.crlf, .cr, .lf])
        #expect(text.lineEnds == [.crlf, .cr, .lf, nil] && !text.endsWithLineEnd)
        // "\r\n" is one Swift Character; split as bytes, a CRLF file is still one line per line.
        #expect(try InputFile.split(Array("# comment\r\nPROXY_PORT=1\r\n".utf8), name: "f", strictText: true).lines == ["# comment", "PROXY_PORT=1"])
    }

    @Test func aLeadingByteOrderMarkIsSkipped() throws {
        let text = try InputFile.split([0xef, 0xbb, 0xbf] + Array("PROXY_PORT=1\n".utf8), name: "f", strictText: true)
        #expect(text.lines == ["PROXY_PORT=1"])
        #expect(text.hadByteOrderMark)
    }

    @Test func binaryBytesAreNamedByLineAndPosition() {
        #expect(throws: ConfigErrors.self) { try InputFile.split(Array("ok\nA=1\u{0}\n".utf8), name: "f", strictText: true) }
        do {
            _ = try InputFile.split(Array("ok\nA=1\u{0}\n".utf8) + [0x42, 0xe9, 0x0a], name: "f", strictText: true)
        } catch {
            #expect(error.errors.map(\.description) == [
                "f:2: a NUL byte at byte 4 of the line; the file is binary or corrupt",
                "f:3: not UTF-8: byte 0xE9 at byte 2 of the line; save the file as UTF-8",
            ])
        }
        // Account files are read for two fields only; an old Latin-1 comment is no reason to refuse them.
        #expect((try? InputFile.split([0x72, 0x3a, 0xe9], name: "passwd", strictText: false))?.lines.count == 1)
    }

    @Test func controlAndInvisibleCharactersAreWrittenOut() {
        #expect("a\u{1b}[31mb\u{0}\u{7f}\t".escapedForTerminal == "a\\x1b[31mb\\x00\\x7f\\t")
        #expect("\u{FEFF}PROXY_PORT\u{202E}".escapedForTerminal == "\\u{FEFF}PROXY_PORT\\u{202E}")
        #expect("fd00::1 – é".escapedForTerminal == "fd00::1 – é")
    }
}
